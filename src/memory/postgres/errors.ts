import { scrubDatabaseSecrets } from './database-url.js';

/** The database did not answer (connection lost, refused, timed out) or refused the statement. */
export class MemoryDatabaseError extends Error {
  readonly code: string | undefined;
  constructor(action: string, cause: unknown, databaseUrl: string) {
    const raw = cause instanceof Error ? cause.message : String(cause);
    // The driver's error is not attached as cause: its fields may carry connection parameters.
    super(`memory database could not ${action}: ${scrubDatabaseSecrets(raw, databaseUrl)}`);
    this.name = 'MemoryDatabaseError';
    this.code = (cause as { code?: string } | null)?.code;
  }
}

/**
 * This worker's lease on the agent was taken over (it expired, another worker holds a newer fencing token): it must
 * not record the outcome. The turns are handed back to the pool; the lease's holder delivers them (otid-checked).
 */
export class AgentLeaseLostError extends Error {
  constructor(
    readonly agentIds: readonly string[],
    readonly turnIds: readonly string[],
  ) {
    super(`memory agent lease lost (fenced out) for ${agentIds.join(', ')}; ${turnIds.length} turns handed back to the other workers`);
    this.name = 'AgentLeaseLostError';
  }
}
