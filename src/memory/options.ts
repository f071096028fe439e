import type { BackoffPolicy } from './backoff.js';
import type { CircuitBreakerOptions } from './circuit-breaker.js';
import type { WriteStrategy } from './letta-turn-writer.js';

/** Plain, serialisable settings; src/config.ts maps MEMORY_* env vars onto these (see docs/memory.md). */
export type MemoryQueueOptions = {
  /** Journal directory (MEMORY_DATA_DIR). */
  dataDir: string;
  /** MEMORY_WRITE_STRATEGY; only used when the queue builds its own LettaTurnWriter. */
  writeStrategy?: WriteStrategy;
  /** Most turns sent to one agent in one request (MEMORY_BATCH_MAX). */
  batchMax?: number;
  /** Agents written in parallel (MEMORY_MAX_CONCURRENCY). */
  maxConcurrency?: number;
  /** Per-request timeout for Letta writes; unset = the Letta client's own timeout. */
  requestTimeoutMs?: number;
  /**
   * Least wait before resending after a request whose outcome is unknown (timeout, dropped
   * connection), so Letta can finish the first one; default requestTimeoutMs, else 15 s.
   */
  settleAfterTimeoutMs?: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Attempts before a retryable failure is given up and dead-lettered; Infinity keeps trying. */
  maxAttempts?: number;
  breakerFailureThreshold?: number;
  breakerCooldownMs?: number;
  /** Compact the journal after this many settled (acknowledged or dead-lettered) turns. */
  compactEvery?: number;
  /** How often a running worker checks for requeue requests and left-behind turns, and refreshes status.json. */
  housekeepingIntervalMs?: number;
  /** Dead letters older than this many days are dropped at a compaction (MEMORY_DEAD_LETTER_RETENTION_DAYS); Infinity keeps them. */
  deadLetterRetentionDays?: number;
  /**
   * Turns kept in memory only, while the journal cannot be written (disk full): they are still
   * delivered, and journaled once space returns. Beyond this many, enqueue rejects.
   */
  unjournaledMax?: number;
};

export type QueueTuning = {
  batchMax: number;
  maxConcurrency: number;
  maxAttempts: number;
  settleAfterTimeoutMs: number;
  backoff: BackoffPolicy;
  breaker: CircuitBreakerOptions;
  housekeepingIntervalMs: number;
  unjournaledMax: number;
};

const DEFAULT_SETTLE_AFTER_TIMEOUT_MS = 15_000;

export const MEMORY_DEFAULTS = {
  dataDir: './data',
  writeStrategy: 'agent',
  batchMax: 8,
  maxConcurrency: 4,
  retryBaseMs: 500,
  retryMaxMs: 30_000,
  maxAttempts: Number.POSITIVE_INFINITY,
  breakerFailureThreshold: 5,
  breakerCooldownMs: 5_000,
  compactEvery: 1_000,
  housekeepingIntervalMs: 2_000,
  deadLetterRetentionDays: 30,
  unjournaledMax: 256,
} as const satisfies Required<Omit<MemoryQueueOptions, 'requestTimeoutMs' | 'settleAfterTimeoutMs'>>;

export function resolveTuning(options: Partial<MemoryQueueOptions>): QueueTuning {
  const pick = <K extends keyof typeof MEMORY_DEFAULTS>(key: K) => options[key] ?? MEMORY_DEFAULTS[key];
  const positive = (name: string, value: number) => {
    if (!(value > 0)) throw new RangeError(`memory queue option ${name} must be > 0 (got ${value})`);
    return value;
  };
  return {
    batchMax: positive('batchMax', Math.floor(pick('batchMax'))),
    maxConcurrency: positive('maxConcurrency', Math.floor(pick('maxConcurrency'))),
    maxAttempts: positive('maxAttempts', pick('maxAttempts')),
    settleAfterTimeoutMs: Math.max(0, options.settleAfterTimeoutMs ?? options.requestTimeoutMs ?? DEFAULT_SETTLE_AFTER_TIMEOUT_MS),
    backoff: { baseMs: positive('retryBaseMs', pick('retryBaseMs')), maxMs: positive('retryMaxMs', pick('retryMaxMs')) },
    breaker: {
      failureThreshold: positive('breakerFailureThreshold', pick('breakerFailureThreshold')),
      cooldownMs: positive('breakerCooldownMs', pick('breakerCooldownMs')),
    },
    housekeepingIntervalMs: positive('housekeepingIntervalMs', pick('housekeepingIntervalMs')),
    unjournaledMax: Math.max(0, Math.floor(pick('unjournaledMax'))),
  };
}

const DAY_MS = 24 * 60 * 60 * 1000;

export function deadLetterRetentionMs(options: Partial<MemoryQueueOptions>): number {
  const days = options.deadLetterRetentionDays ?? MEMORY_DEFAULTS.deadLetterRetentionDays;
  if (!(days > 0)) throw new RangeError(`memory queue option deadLetterRetentionDays must be > 0 (got ${days})`);
  return days * DAY_MS;
}
