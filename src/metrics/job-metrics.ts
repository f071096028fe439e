import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { TurnReport } from '../call/turn-recorder.js';
import type { MemoryQueue } from '../memory/memory-queue.js';

/** Latencies a caller can feel: 50 ms up to 10 s. */
const LATENCY_BUCKETS_S = [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10];
/** Letta writes run behind the conversation and may take much longer. */
const WRITE_BUCKETS_S = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60];

type WatchedQueue = Pick<MemoryQueue, 'stats' | 'onAcknowledged' | 'onDeadLetter'>;

/**
 * One process's metrics: the memory queue it runs and the turns of its calls. Lives in a job process (one per call)
 * or in a test; the main worker process combines every job process's registry (see SnapshotStore).
 */
export class JobMetrics {
  readonly registry = new Registry();
  private queue: WatchedQueue | undefined;
  private retriesSeen = 0;
  private readonly turns: Counter<'mode' | 'source'>;
  private readonly voiceToVoice: Histogram<'mode'>;
  private readonly llmTtft: Histogram<'mode' | 'source'>;
  private readonly writeLatency: Histogram;
  private readonly deadLettered: Counter;

  constructor() {
    const registers = [this.registry];
    const self = this;
    new Gauge({
      name: 'letta_memory_queue_depth',
      help: 'Turns not yet acknowledged by Letta (including those in flight), summed over processes.',
      registers,
      collect() {
        this.set(self.queue?.stats().depth ?? 0);
      },
    });
    new Gauge({
      name: 'letta_memory_queue_oldest_pending_age_seconds',
      help: 'Age of the oldest unacknowledged turn in any process; 0 when all queues are empty.',
      aggregator: 'max',
      registers,
      collect() {
        this.set((self.queue?.stats().oldestPendingAgeMs ?? 0) / 1000);
      },
    });
    new Gauge({
      name: 'letta_memory_dead_letters',
      help: 'Dead letters stored (the largest count any process sees: with PostgreSQL they share one table).',
      aggregator: 'max',
      registers,
      collect() {
        this.set(self.queue?.stats().deadLetters ?? 0);
      },
    });
    new Counter({
      name: 'letta_memory_write_retries_total',
      help: 'Failed Letta writes that were scheduled for another attempt.',
      registers,
      collect() {
        // The queue counts retries itself; the counter follows it (a new queue in this process starts again at 0).
        const retries = self.queue?.stats().retries ?? 0;
        if (retries > self.retriesSeen) this.inc(retries - self.retriesSeen);
        self.retriesSeen = retries;
      },
    });
    this.deadLettered = new Counter({
      name: 'letta_memory_dead_lettered_total',
      help: 'Turns given up on (non-retryable answer or attempts exhausted) and stored as dead letters.',
      registers,
    });
    this.writeLatency = new Histogram({
      name: 'letta_memory_write_latency_seconds',
      help: 'Duration of each successful Letta write request (one batch of turns).',
      buckets: WRITE_BUCKETS_S,
      registers,
    });
    this.turns = new Counter({ name: 'letta_turns_total', help: 'Finished turns.', labelNames: ['mode', 'source'], registers });
    this.voiceToVoice = new Histogram({
      name: 'letta_turn_voice_to_voice_seconds',
      help: "End of the caller's speech to the agent's first audio (the framework's e2e latency); voice turns only.",
      labelNames: ['mode'],
      buckets: LATENCY_BUCKETS_S,
      registers,
    });
    this.llmTtft = new Histogram({
      name: 'letta_turn_llm_ttft_seconds',
      help: 'Reply request sent to first LLM token, by what answered (openai or letta).',
      labelNames: ['mode', 'source'],
      buckets: LATENCY_BUCKETS_S,
      registers,
    });
  }

  /** Follows a memory queue until the returned function is called. */
  watchQueue(queue: WatchedQueue): () => void {
    this.queue = queue;
    this.retriesSeen = 0;
    const offAcknowledged = queue.onAcknowledged(() => {
      const latencyMs = queue.stats().lastWriteLatencyMs;
      if (latencyMs !== null) this.writeLatency.observe(latencyMs / 1000);
    });
    const offDeadLetter = queue.onDeadLetter(() => this.deadLettered.inc());
    return () => {
      offAcknowledged();
      offDeadLetter();
      if (this.queue === queue) this.queue = undefined;
    };
  }

  readonly observeTurn = (report: TurnReport): void => {
    this.turns.inc({ mode: report.mode, source: report.source });
    if (report.e2eLatencyMs !== null) this.voiceToVoice.observe({ mode: report.mode }, report.e2eLatencyMs / 1000);
    if (report.llmTtftMs !== null) this.llmTtft.observe({ mode: report.mode, source: report.source }, report.llmTtftMs / 1000);
  };
}
