import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from '@letta-ai/letta-client';
import { TurnWriteError } from './turn-writer.js';

/** 408/409/425/429 mean "not now": Letta answers 409 while the agent is busy with another run. */
const RETRYABLE_CLIENT_STATUSES = new Set([408, 409, 425, 429]);

export function isRetryableStatus(status: number): boolean {
  return status >= 500 || RETRYABLE_CLIENT_STATUSES.has(status);
}

/** Maps Letta SDK failures onto the queue's retry decision. */
export function classifyLettaError(error: unknown): TurnWriteError {
  if (error instanceof TurnWriteError) return error;
  // Order matters: the abort and connection errors are APIError subclasses without a status.
  if (error instanceof APIUserAbortError) {
    return new TurnWriteError('Letta request aborted', { retryable: true, cause: error });
  }
  if (error instanceof APIConnectionTimeoutError) {
    return new TurnWriteError('Letta request timed out', { retryable: true, cause: error });
  }
  if (error instanceof APIConnectionError) {
    return new TurnWriteError(`cannot reach Letta: ${describeCause(error)}`, { retryable: true, cause: error });
  }
  if (error instanceof APIError && typeof error.status === 'number') {
    const retryAfterMs = parseRetryAfter(error.headers);
    return new TurnWriteError(`Letta answered ${error.message}`, {
      retryable: isRetryableStatus(error.status),
      status: error.status,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      cause: error,
    });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new TurnWriteError(`Letta write failed: ${message}`, { retryable: true, cause: error });
}

function describeCause(error: Error): string {
  const cause = error.cause;
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code ?? (cause.cause as NodeJS.ErrnoException | undefined)?.code;
    return code ? `${error.message} (${code})` : `${error.message} (${cause.message})`;
  }
  return error.message;
}

function parseRetryAfter(headers: Headers | undefined): number | undefined {
  if (!headers) return undefined;
  const ms = Number.parseFloat(headers.get('retry-after-ms') ?? '');
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const raw = headers.get('retry-after');
  if (raw === null) return undefined;
  const seconds = Number.parseFloat(raw);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(raw);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}
