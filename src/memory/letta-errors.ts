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
    return new TurnWriteError('Letta request timed out', { retryable: true, outcomeUnknown: true, cause: error });
  }
  if (error instanceof APIConnectionError) {
    const code = errorCode(error);
    return new TurnWriteError(`cannot reach Letta: ${describeCause(error, code)}`, {
      retryable: true,
      outcomeUnknown: code === undefined || !NOT_SENT_CODES.has(code),
      cause: error,
    });
  }
  if (error instanceof APIError && typeof error.status === 'number') {
    const retryAfterMs = parseRetryAfter(error.headers);
    const permanent = permanentConflict(error.status, error.error);
    if (permanent !== undefined) {
      return new TurnWriteError(`Letta answered ${error.status}: ${permanent}`, { retryable: false, status: error.status, cause: error });
    }
    return new TurnWriteError(`Letta answered ${error.message}`, {
      retryable: isRetryableStatus(error.status),
      // A gateway timeout means a proxy gave up waiting; Letta behind it may still be working.
      outcomeUnknown: error.status === 504,
      status: error.status,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      cause: error,
    });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new TurnWriteError(`Letta write failed: ${message}`, { retryable: true, cause: error });
}

/**
 * A 409 that waiting will not clear: the agent holds a tool call for a person to approve or deny, and refuses
 * every new message until then (letta 0.16.8: letta/errors.py PendingApprovalError; the messages routes in
 * letta/server/rest_api/routers/v1/agents.py and streaming_response.py answer
 * `{"detail": {"code": "PENDING_APPROVAL", "message", "pending_request_id"}}`; elsewhere the generic handler in
 * letta/server/rest_api/app.py answers `{"detail": "<str(error)>"}`). The other 409s of that release clear by
 * themselves: ConversationBusyError (another run holds the agent, body carries `run_id`), lock not available and
 * deadlock (both with `Retry-After: 1`), ConcurrentUpdateError.
 * Returns the reason to keep with the dead letter, or undefined when the answer is not permanent.
 */
export function permanentConflict(status: number, body: unknown): string | undefined {
  if (status !== 409) return undefined;
  const detail = isRecord(body) ? body.detail : undefined;
  if (isRecord(detail) && detail.code === 'PENDING_APPROVAL') {
    const request = typeof detail.pending_request_id === 'string' ? ` (pending request ${detail.pending_request_id})` : '';
    return `PENDING_APPROVAL: the agent waits for a person to approve or deny a tool call${request}; approve or deny it in Letta, then requeue the dead letters`;
  }
  if (typeof detail === 'string' && /PENDING_APPROVAL|waiting for approval on a tool call/i.test(detail)) {
    return `PENDING_APPROVAL: ${detail}`;
  }
  return undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Connection failures where the request certainly never reached Letta. */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH']);

/** undici nests the system error: APIConnectionError → TypeError('fetch failed') → Error{code}. */
function errorCode(error: Error): string | undefined {
  let current: unknown = error.cause;
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    const code = (current as NodeJS.ErrnoException).code;
    if (typeof code === 'string') return code;
    current = current.cause;
  }
  return undefined;
}

function describeCause(error: Error, code: string | undefined): string {
  if (code) return `${error.message} (${code})`;
  return error.cause instanceof Error ? `${error.message} (${error.cause.message})` : error.message;
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
