import { APIConnectionError, APIError } from '@letta-ai/letta-client';

/** A Letta call failed; the message names the operation and the server, never a key. */
export class LettaAccessError extends Error {
  constructor(
    readonly operation: string,
    readonly kind: 'unreachable' | 'unauthorized' | 'not_found' | 'rejected' | 'server_error',
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`Letta ${operation} failed (${kind}): ${detail}`, options);
    this.name = 'LettaAccessError';
  }
}

export function describeLettaError(operation: string, baseURL: string, err: unknown): LettaAccessError {
  if (err instanceof LettaAccessError) return err;
  if (err instanceof APIConnectionError) {
    return new LettaAccessError(operation, 'unreachable', `cannot reach the Letta server at ${baseURL} (${err.message})`, { cause: err });
  }
  if (err instanceof APIError) {
    const status = err.status ?? 0;
    if (status === 401 || status === 403) {
      return new LettaAccessError(operation, 'unauthorized', `the Letta server at ${baseURL} rejected the API key (HTTP ${status}); check LETTA_API_KEY`, { cause: err });
    }
    if (status === 404) return new LettaAccessError(operation, 'not_found', `not found at ${baseURL} (HTTP 404)`, { cause: err });
    if (status >= 500) return new LettaAccessError(operation, 'server_error', `HTTP ${status} from ${baseURL}`, { cause: err });
    return new LettaAccessError(operation, 'rejected', `HTTP ${status} from ${baseURL}: ${err.message}`, { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new LettaAccessError(operation, 'unreachable', `${message} (${baseURL})`, { cause: err });
}
