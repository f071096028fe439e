import type { PendingTurn } from './turn.js';

/** What a successful write tells the queue's listeners. */
export interface WriteOutcome {
  /**
   * Whether the agent's core memory may have changed. Undefined means the writer cannot tell; listeners then assume
   * it may have, as far as the write strategy allows.
   */
  coreMemoryMayHaveChanged?: boolean;
}

/** Delivers turns for one agent. Called by the queue with at most one call per agent at a time. */
export interface TurnWriter {
  write(agentId: string, turns: readonly PendingTurn[], signal: AbortSignal): Promise<WriteOutcome | void>;
}

export type TurnWriteErrorInit = {
  retryable: boolean;
  status?: number;
  /** Server hint (Retry-After) that overrides the computed backoff. */
  retryAfterMs?: number;
  /**
   * The request may have reached Letta and still be running there (client timeout, connection
   * dropped mid-request, gateway timeout). Retrying at once would put a second request on the
   * agent next to the first, so the queue waits a settle period before resending.
   */
  outcomeUnknown?: boolean;
  cause?: unknown;
};

/** The only error a TurnWriter should throw: it tells the queue whether trying again can help. */
export class TurnWriteError extends Error {
  readonly retryable: boolean;
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;
  readonly outcomeUnknown: boolean;

  constructor(message: string, init: TurnWriteErrorInit) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'TurnWriteError';
    this.retryable = init.retryable;
    this.status = init.status;
    this.retryAfterMs = init.retryAfterMs;
    this.outcomeUnknown = init.outcomeUnknown ?? false;
  }
}

/** Unknown errors are treated as retryable: the turn stays queued rather than being lost to a bug. */
export function asTurnWriteError(error: unknown): TurnWriteError {
  if (error instanceof TurnWriteError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new TurnWriteError(`unexpected writer error: ${message}`, { retryable: true, cause: error });
}
