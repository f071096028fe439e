import Letta from '@letta-ai/letta-client';
import type { Config } from '../config.js';

/**
 * One Letta client per process. SDK retries are off: the memory queue owns retries (with the same otids)
 * and the reply path must fail fast into its fallback instead of silently retrying.
 */
export function createLettaClient(letta: Config['letta']): Letta {
  return new Letta({
    baseURL: letta.baseURL,
    // Self-hosted servers without auth accept any key; the SDK wants a value.
    apiKey: letta.apiKey ?? 'letta-local',
    timeout: letta.timeoutMs,
    maxRetries: 0,
  });
}
