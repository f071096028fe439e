/**
 * The memory benchmarks' workload, shared so their numbers compare: `turns` enqueued across `agents` while every
 * agent is held (the store's durable append alone), first one caller at a time, then one caller per agent at once;
 * then the holds are released and the drain into Letta is timed.
 */
import { performance } from 'node:perf_hooks';
import type { MemoryQueue } from '../src/memory/memory-queue.js';

export type Percentiles = { p50: number; p99: number; perSecond: number };

/** The workload's command-line options (node:util parseArgs), the same in every memory benchmark. */
export const WORKLOAD_OPTIONS = {
  turns: { type: 'string', default: '1000' },
  agents: { type: 'string', default: '20' },
  'batch-max': { type: 'string', default: '8' },
  concurrency: { type: 'string', default: '4' },
  'letta-ms': { type: 'string', default: '5' },
} as const;

export interface WorkloadSettings {
  turns: number;
  agents: number;
  batchMax: number;
  concurrency: number;
  /** How long the Letta stand-in takes to answer a write. */
  lettaMs: number;
}

export function workloadSettings(values: { turns: string; agents: string; 'batch-max': string; concurrency: string; 'letta-ms': string }): WorkloadSettings {
  return {
    turns: Number(values.turns),
    agents: Number(values.agents),
    batchMax: Number(values['batch-max']),
    concurrency: Number(values.concurrency),
    lettaMs: Number(values['letta-ms']),
  };
}

export interface QueueWorkloadResult {
  /** One caller at a time, each waiting for its append (a single voice session). */
  sequential: Percentiles;
  /** One caller per agent at once (many sessions ending turns together): group commit. */
  concurrent: Percentiles;
  drainMs: number;
}

export function percentiles(samples: number[], totalMs: number): Percentiles {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { p50: at(0.5), p99: at(0.99), perSecond: (samples.length / totalMs) * 1000 };
}

export const benchTurn = (agentId: string, n: number) => ({
  agentId,
  sessionId: 'bench',
  userText: `Benchmark user utterance number ${n}, about as long as a spoken sentence.`,
  assistantText: `Benchmark assistant reply number ${n}, which was played to the user in full.`,
  interrupted: false,
  userAt: Date.now(),
  assistantAt: Date.now(),
});

export async function runQueueWorkload(queue: MemoryQueue, agents: readonly string[], turns: number): Promise<QueueWorkloadResult> {
  const releases: Array<() => void> = [];
  const held = agents.map(
    (agentId) => new Promise<void>((acquired) => void queue.runExclusive(agentId, () => new Promise<void>((release) => (releases.push(release), acquired())))),
  );
  await Promise.all(held);

  const half = Math.floor(turns / 2);
  const sequential: number[] = [];
  let started = performance.now();
  for (let n = 0; n < half; n++) {
    const t0 = performance.now();
    await queue.enqueue(benchTurn(agents[n % agents.length], n));
    sequential.push(performance.now() - t0);
  }
  const sequentialMs = performance.now() - started;
  const concurrent: number[] = [];
  started = performance.now();
  for (let n = half; n < turns; n += agents.length) {
    await Promise.all(
      agents.slice(0, Math.min(agents.length, turns - n)).map(async (agentId, i) => {
        const t0 = performance.now();
        await queue.enqueue(benchTurn(agentId, n + i));
        concurrent.push(performance.now() - t0);
      }),
    );
  }
  const concurrentMs = performance.now() - started;

  started = performance.now();
  for (const release of releases) release();
  await queue.whenIdle();
  return { sequential: percentiles(sequential, sequentialMs), concurrent: percentiles(concurrent, concurrentMs), drainMs: performance.now() - started };
}
