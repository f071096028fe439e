import type pg from 'pg';
import type { MemoryLogger } from '../logger.js';

export type HeldLease = { agentId: string; token: string };

/**
 * One writer per agent across every worker sharing the database: a lease row per agent with an owner, an expiry and
 * a fencing token that grows with every take-over. While held it is renewed every third of the timeout; outcomes
 * (ack, dead letter) are recorded only under the token this worker still holds, so a worker that stalled past its
 * lease and was replaced cannot record anything for that agent.
 */
export class PostgresAgentLeases {
  private readonly held = new Map<string, { token: string; renew: NodeJS.Timeout }>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly owner: string,
    private readonly leaseTimeoutMs: number,
    private readonly pollMs: number,
    private readonly logger: MemoryLogger,
  ) {}

  /** Waits (polling) until the lease is free or expired, then takes it; rejects with the signal's reason on abort. */
  async acquire(agentId: string, signal?: AbortSignal): Promise<() => Promise<void>> {
    for (;;) {
      signal?.throwIfAborted();
      const token = await this.tryTake(agentId);
      if (token !== undefined) {
        const renew = setInterval(() => void this.renew(agentId, token), Math.max(10, Math.floor(this.leaseTimeoutMs / 3)));
        renew.unref();
        this.held.set(agentId, { token, renew });
        return () => this.release(agentId, token);
      }
      await sleep(this.pollMs, signal);
    }
  }

  /** Fencing tokens of the leases this worker believes it holds (checked by the database at each outcome). */
  tokens(): HeldLease[] {
    return [...this.held].map(([agentId, lease]) => ({ agentId, token: lease.token }));
  }

  async releaseAll(): Promise<void> {
    await Promise.allSettled([...this.held].map(([agentId, lease]) => this.release(agentId, lease.token)));
  }

  private async tryTake(agentId: string): Promise<string | undefined> {
    const { rows } = await this.pool.query<{ token: string }>(
      `INSERT INTO memory_agent_leases AS l (agent_id, owner, token, expires_at)
       VALUES ($1, $2, 1, now() + $3 * interval '1 millisecond')
       ON CONFLICT (agent_id) DO UPDATE SET owner = EXCLUDED.owner, token = l.token + 1, expires_at = EXCLUDED.expires_at
       WHERE l.owner IS NULL OR l.expires_at <= now()
       RETURNING token`,
      [agentId, this.owner, this.leaseTimeoutMs],
    );
    return rows[0]?.token;
  }

  private async renew(agentId: string, token: string): Promise<void> {
    try {
      const { rowCount } = await this.pool.query(
        `UPDATE memory_agent_leases SET expires_at = now() + $4 * interval '1 millisecond'
         WHERE agent_id = $1 AND owner = $2 AND token = $3`,
        [agentId, this.owner, token, this.leaseTimeoutMs],
      );
      if (rowCount === 0) {
        this.stopRenewing(agentId, token);
        this.logger.warn({ agentId, token }, 'memory agent lease was taken over by another worker; its outcomes will be refused');
      }
    } catch (error) {
      this.logger.warn({ agentId, err: (error as Error).message }, 'could not renew memory agent lease; retrying');
    }
  }

  private async release(agentId: string, token: string): Promise<void> {
    this.stopRenewing(agentId, token);
    await this.pool.query(
      `UPDATE memory_agent_leases SET owner = NULL, expires_at = now() WHERE agent_id = $1 AND owner = $2 AND token = $3`,
      [agentId, this.owner, token],
    );
  }

  private stopRenewing(agentId: string, token: string): void {
    const lease = this.held.get(agentId);
    if (lease?.token !== token) return;
    clearInterval(lease.renew);
    this.held.delete(agentId);
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }
    function onAbort() {
      clearTimeout(timer);
      reject(signal?.reason);
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
