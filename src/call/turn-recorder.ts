import { voice, type llm } from '@livekit/agents';
import type { MemoryQueue } from '../memory/memory-queue.js';
import type { QueueStats } from '../memory/queue-stats.js';
import { isBlankUtterance } from '../replies/blank-turn.js';
import type { ReplyEnd, ReplyMode, ReplySource, ReplyTiming } from '../replies/reply-generator.js';
import type { TurnMetrics } from '../telemetry/turn-publisher.js';

export interface TurnLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** One finished turn as logged and published: what answered, how fast, and how far memory lags behind. */
export interface TurnReport extends TurnMetrics {
  mode: ReplyMode;
  source: ReplySource;
  /** The framework's own measurements (end of speech → end of turn, TTS first byte, speech end → agent audio). */
  eouDelayMs: number | null;
  ttsTtfbMs: number | null;
  e2eLatencyMs: number | null;
  interrupted: boolean;
  /** complete, interrupted (by the caller), stalled (the source went silent) or cut (by the source). */
  replyEnd: ReplyEnd;
  /** Why a stalled or cut reply ended, e.g. "finish_reason length". */
  replyEndReason: string | null;
  fallbacks: string[];
  memoryWritten: 'queued' | 'by_letta' | 'waiting_for_letta' | 'skipped';
  queueDepth: number;
  oldestPendingAgeMs: number;
  writeLagMs: number | null;
  lastWriteLatencyMs: number | null;
  writeRetries: number;
  deadLetters: number;
}

export interface TurnRecorderOptions {
  queue: MemoryQueue;
  /** The Letta agent id, or a promise of it while Letta has not been reached yet. */
  agentId: () => string | undefined;
  whenAgent: () => Promise<string>;
  sessionId: string;
  mode: ReplyMode;
  logger: TurnLogger;
  onTurn?: (report: TurnReport) => void;
}

/**
 * The slow path's entry: pairs each user message with the assistant reply that followed and hands the turn
 * to the memory queue. It listens to the session's conversation events, so it runs after speech, never before it.
 */
export class TurnRecorder {
  /** What the caller said that no reply has answered yet, in order. */
  private pendingUsers: llm.ChatMessage[] = [];
  private lastReply: ReplyTiming | undefined;
  private turns = 0;
  private readonly backgroundWrites = new Set<Promise<unknown>>();

  constructor(private readonly options: TurnRecorderOptions) {}

  attach(session: voice.AgentSession): void {
    session.on(voice.AgentSessionEventTypes.ConversationItemAdded, (event) => {
      const item = event.item;
      if (item.type !== 'message') return;
      if (item.role === 'user') this.pendingUsers.push(item);
      else if (item.role === 'assistant') this.completeTurn(item);
    });
  }

  /** The agent reports each reply's timing here; the next assistant message is matched with it. */
  readonly recordReply = (timing: ReplyTiming): void => {
    this.lastReply = timing;
  };

  /**
   * Resolves once every turn seen so far has been handed to the queue, or after `timeoutMs` (turns still
   * waiting for an unreachable Letta to name its agent cannot be journaled yet). Returns how many were left.
   */
  async flushed(timeoutMs = Number.POSITIVE_INFINITY): Promise<number> {
    const all = Promise.allSettled([...this.backgroundWrites]);
    if (Number.isFinite(timeoutMs)) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([all, new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
      clearTimeout(timer);
    } else {
      await all;
    }
    return this.backgroundWrites.size;
  }

  private completeTurn(assistant: llm.ChatMessage): void {
    // A reply answers what was said before it started speaking (its createdAt). Words said over it belong to the next
    // reply, even when the framework adds them to the conversation before the interrupted reply, as it does on a busy
    // machine. Several utterances before one reply are one turn.
    const answered = this.pendingUsers.filter((message) => message.createdAt <= assistant.createdAt);
    this.pendingUsers = this.pendingUsers.filter((message) => message.createdAt > assistant.createdAt);
    const user = answered.at(-1);
    const reply = this.lastReply;
    this.lastReply = undefined;
    this.turns += 1;

    const userText = answered
      .map((message) => message.textContent ?? '')
      .filter((text) => !isBlankUtterance(text))
      .join(' ');
    const memoryWritten = this.handOver(reply, userText, assistant, answered[0]);
    const report = this.report(reply, assistant, user, memoryWritten);
    this.options.logger.info({ ...report, sessionId: this.options.sessionId }, 'turn complete');
    if (report.replyEnd === 'stalled' || report.replyEnd === 'cut') {
      this.options.logger.warn(
        { turn: report.turn, source: report.source, replyEnd: report.replyEnd, reason: report.replyEndReason, sessionId: this.options.sessionId },
        `reply ${report.replyEnd}: the caller heard only part of it`,
      );
    }
    this.options.onTurn?.(report);
  }

  private handOver(
    reply: ReplyTiming | undefined,
    userText: string,
    assistant: llm.ChatMessage,
    user: llm.ChatMessage | undefined,
  ): TurnReport['memoryWritten'] {
    // A greeting (or a blank turn) carries nothing the user said. A turn Letta answered is stored by Letta, unless the user cut the
    // reply off: Letta then holds the whole reply, so it is told what was actually heard.
    if (isBlankUtterance(userText)) return 'skipped';
    if (reply?.source === 'letta' && !assistant.interrupted) return 'by_letta';
    const turn = {
      sessionId: this.options.sessionId,
      userText,
      assistantText: assistant.textContent ?? '',
      interrupted: assistant.interrupted,
      userAt: user?.createdAt ?? assistant.createdAt,
      assistantAt: assistant.createdAt,
    };
    const agentId = this.options.agentId();
    const write = (agentId ? Promise.resolve(agentId) : this.options.whenAgent())
      .then((id) => this.options.queue.enqueue({ ...turn, agentId: id }))
      .catch((err: unknown) =>
        this.options.logger.error({ err: (err as Error).message, sessionId: this.options.sessionId }, 'could not queue a turn for Letta'),
      );
    this.backgroundWrites.add(write);
    void write.finally(() => this.backgroundWrites.delete(write));
    return agentId ? 'queued' : 'waiting_for_letta';
  }

  private report(
    reply: ReplyTiming | undefined,
    assistant: llm.ChatMessage,
    user: llm.ChatMessage | undefined,
    memoryWritten: TurnReport['memoryWritten'],
  ): TurnReport {
    const stats: QueueStats = this.options.queue.stats();
    return {
      turn: this.turns,
      mode: reply?.mode ?? this.options.mode,
      source: reply?.source ?? 'openai',
      llmTtftMs: round(reply?.ttftMs),
      llmTotalMs: round(reply?.totalMs),
      eouDelayMs: secondsToMs(user?.metrics.endOfTurnDelay),
      ttsTtfbMs: secondsToMs(assistant.metrics.ttsNodeTtfb),
      e2eLatencyMs: secondsToMs(assistant.metrics.e2eLatency),
      interrupted: assistant.interrupted,
      replyEnd: assistant.interrupted ? 'interrupted' : (reply?.end ?? 'complete'),
      replyEndReason: reply?.endReason ?? null,
      fallbacks: reply?.failures ?? [],
      memoryWritten,
      queueDepth: stats.depth,
      oldestPendingAgeMs: stats.oldestPendingAgeMs,
      writeLagMs: stats.writeLagMs,
      lastWriteLatencyMs: stats.lastWriteLatencyMs,
      writeRetries: stats.retries,
      deadLetters: stats.deadLetters,
    };
  }
}

function round(ms: number | undefined): number | null {
  return ms === undefined ? null : Math.round(ms);
}

function secondsToMs(seconds: number | undefined): number | null {
  return seconds === undefined ? null : Math.round(seconds * 1000);
}
