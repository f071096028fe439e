import {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIUserAbortError,
  BadRequestError,
  ConflictError,
  InternalServerError,
  NotFoundError,
  RateLimitError,
  UnprocessableEntityError,
} from '@letta-ai/letta-client';
import { describe, expect, it } from 'vitest';
import { classifyLettaError } from '../../src/memory/letta-errors.js';

const headers = (init: Record<string, string> = {}) => new Headers(init);

describe('classifyLettaError', () => {
  it.each([
    ['503', new InternalServerError(503, { detail: 'down' }, undefined, headers()), true, 503],
    ['500', new InternalServerError(500, undefined, 'boom', headers()), true, 500],
    ['429', new RateLimitError(429, undefined, 'slow down', headers()), true, 429],
    ['400', new BadRequestError(400, undefined, 'bad', headers()), false, 400],
    ['404', new NotFoundError(404, undefined, 'no agent', headers()), false, 404],
    ['422', new UnprocessableEntityError(422, { detail: 'invalid' }, undefined, headers()), false, 422],
  ])('maps HTTP %s', (_name, error, retryable, status) => {
    expect(classifyLettaError(error)).toMatchObject({ retryable, status });
  });

  it('treats connection failures, timeouts and aborts as retryable', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const connection = classifyLettaError(new APIConnectionError({ cause: refused }));
    expect(connection).toMatchObject({ retryable: true, status: undefined });
    expect(connection.message).toContain('ECONNREFUSED');
    expect(classifyLettaError(new APIConnectionTimeoutError())).toMatchObject({ retryable: true, message: 'Letta request timed out' });
    expect(classifyLettaError(new APIUserAbortError())).toMatchObject({ retryable: true });
    expect(classifyLettaError(new TypeError('fetch failed'))).toMatchObject({ retryable: true });
  });

  it('knows when a failed request may still be running in Letta', () => {
    const wrap = (code: string) => new APIConnectionError({ cause: new TypeError('fetch failed', { cause: Object.assign(new Error(code), { code }) }) });
    expect(classifyLettaError(wrap('ECONNREFUSED')).outcomeUnknown).toBe(false);
    expect(classifyLettaError(wrap('ECONNRESET')).outcomeUnknown).toBe(true);
    expect(classifyLettaError(new APIConnectionTimeoutError()).outcomeUnknown).toBe(true);
    expect(classifyLettaError(new InternalServerError(504, undefined, 'gateway timeout', headers())).outcomeUnknown).toBe(true);
    expect(classifyLettaError(new InternalServerError(503, undefined, 'down', headers())).outcomeUnknown).toBe(false);
  });

  it('honours Retry-After', () => {
    expect(classifyLettaError(new RateLimitError(429, undefined, 'x', headers({ 'retry-after': '2' }))).retryAfterMs).toBe(2_000);
    expect(classifyLettaError(new RateLimitError(429, undefined, 'x', headers({ 'retry-after-ms': '150' }))).retryAfterMs).toBe(150);
  });

  // Bodies as letta 0.16.8 sends them (letta/server/rest_api/routers/v1/agents.py, app.py).
  it('sends PENDING_APPROVAL to dead letters with a reason a person can act on', () => {
    const body = { detail: { code: 'PENDING_APPROVAL', message: 'CONFLICT: Cannot send a new message: The agent is waiting for approval on a tool call.', pending_request_id: 'message-42' } };
    const classified = classifyLettaError(new ConflictError(409, body, undefined, headers()));
    expect(classified).toMatchObject({ retryable: false, status: 409 });
    expect(classified.message).toContain('PENDING_APPROVAL');
    expect(classified.message).toContain('message-42');
    const generic = { detail: 'CONFLICT: Cannot send a new message: The agent is waiting for approval on a tool call. Please approve or deny the pending request before continuing.' };
    expect(classifyLettaError(new ConflictError(409, generic, undefined, headers())).retryable).toBe(false);
  });

  it('retries a busy agent and a locked row, honouring Retry-After', () => {
    const busy = { detail: 'Cannot send a new message: Another request (run_id=run-1) is currently being processed for this conversation. Please wait for it to complete.', run_id: 'run-1' };
    expect(classifyLettaError(new ConflictError(409, busy, undefined, headers()))).toMatchObject({ retryable: true, retryAfterMs: undefined });
    const locked = { detail: 'The resource is currently locked by another operation. Please retry shortly.' };
    expect(classifyLettaError(new ConflictError(409, locked, undefined, headers({ 'retry-after': '1' })))).toMatchObject({ retryable: true, retryAfterMs: 1_000 });
  });
});
