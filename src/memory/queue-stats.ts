import type { CircuitState } from './circuit-breaker.js';

export type QueueStats = {
  /** Turns not yet acknowledged by Letta, including those in flight. */
  depth: number;
  /** Turns inside a request that has not answered yet. */
  inFlight: number;
  /** Age of the oldest unacknowledged turn, 0 when the queue is empty. */
  oldestPendingAgeMs: number;
  /** Duration of the last successful Letta request, null before the first. */
  lastWriteLatencyMs: number | null;
  /** Enqueue → acknowledgement of the last acknowledged turn, null before the first. */
  writeLagMs: number | null;
  /** Turns acknowledged since this process started. */
  written: number;
  /** Failed requests that were scheduled for another attempt. */
  retries: number;
  /** Dead letters currently stored (including those from earlier runs). */
  deadLetters: number;
  /** Turns this process gave up on (non-retryable answer or attempts exhausted). */
  failedPermanently: number;
  pendingByAgent: Record<string, number>;
  circuit: CircuitState;
  /** Turns held in memory only because the journal could not be written (disk full); see unjournaledMax. */
  unjournaled: number;
};
