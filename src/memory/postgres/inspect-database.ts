import pg from 'pg';
import type { QueueStats } from '../queue-stats.js';
import type { RequeueSelection } from '../turn-store.js';
import type { DeadLetter, PendingTurn } from '../turn.js';
import { redactDatabaseUrl } from './database-url.js';
import { MemoryDatabaseError } from './errors.js';

export type DatabaseWorker = { owner: string; host: string; pid: number; startedAt: number; live: boolean; stats: QueueStats | null; statsAt: number | null };
export type DatabaseBacklog = { agentId: string; pending: number; oldestEnqueuedAt: number; heldBy: string | null };
export type DatabaseReport = {
  /** The URL with its password replaced. */
  database: string;
  /** Newest applied migration; 0 when no worker has created the schema yet. */
  schemaVersion: number;
  workers: DatabaseWorker[];
  pending: number;
  backlog: DatabaseBacklog[];
  deadLetters: DeadLetter[];
  requeueRequestsWaiting: number;
};

const UNDEFINED_TABLE = '42P01';

/**
 * Read-only view of the PostgreSQL memory store for `memory:status` and `memory:dead-letters list`: plain SELECTs, no
 * migration, no lock, so it runs beside live workers.
 */
export async function inspectDatabase(databaseUrl: string): Promise<DatabaseReport> {
  return withClient(databaseUrl, 'read the memory store', async (client) => {
    const empty: DatabaseReport = { database: redactDatabaseUrl(databaseUrl), schemaVersion: 0, workers: [], pending: 0, backlog: [], deadLetters: [], requeueRequestsWaiting: 0 };
    const version = await client.query<{ v: number | null }>('SELECT max(version) AS v FROM memory_schema_migrations').catch((error: { code?: string }) => {
      if (error.code === UNDEFINED_TABLE) return undefined;
      throw error;
    });
    if (!version) return empty;
    const workers = await client.query<{ owner: string; host: string; pid: number; started_at: Date; live: boolean; stats: QueueStats | null; stats_at: Date | null }>(
      'SELECT owner, host, pid, started_at, expires_at > now() AS live, stats, stats_at FROM memory_workers ORDER BY started_at',
    );
    const backlog = await client.query<{ agent_id: string; pending: string; oldest: string; held_by: string | null }>(
      `SELECT t.agent_id, count(*) AS pending, min((t.turn->>'enqueuedAt')::bigint) AS oldest,
         (SELECT l.owner FROM memory_agent_leases l WHERE l.agent_id = t.agent_id AND l.expires_at > now()) AS held_by
       FROM memory_turns t WHERE t.state = 'pending' GROUP BY t.agent_id ORDER BY oldest`,
    );
    const dead = await client.query<{ turn: PendingTurn; dead_reason: string; dead_status: number | null; dead_at: string }>(
      `SELECT turn, dead_reason, dead_status, dead_at FROM memory_turns WHERE state = 'dead' ORDER BY dead_at, seq`,
    );
    const requests = await client.query<{ n: string }>('SELECT count(*) AS n FROM memory_requeue_requests');
    return {
      ...empty,
      schemaVersion: version.rows[0]?.v ?? 0,
      workers: workers.rows.map((w) => ({
        owner: w.owner,
        host: w.host,
        pid: w.pid,
        startedAt: w.started_at.getTime(),
        live: w.live,
        stats: w.stats,
        statsAt: w.stats_at ? w.stats_at.getTime() : null,
      })),
      pending: backlog.rows.reduce((n, row) => n + Number(row.pending), 0),
      backlog: backlog.rows.map((row) => ({ agentId: row.agent_id, pending: Number(row.pending), oldestEnqueuedAt: Number(row.oldest), heldBy: row.held_by })),
      deadLetters: dead.rows.map((row) => ({
        turn: row.turn,
        reason: row.dead_reason,
        deadAt: Number(row.dead_at),
        ...(row.dead_status === null ? {} : { status: row.dead_status }),
      })),
      requeueRequestsWaiting: Number(requests.rows[0].n),
    };
  });
}

/**
 * Leaves a requeue request for the workers (the first one whose housekeeping runs takes it, once). Rejects ids that
 * are not dead letters. Returns how many live workers could take it now (0: the next worker to start takes it).
 */
export async function requestRequeue(databaseUrl: string, selection: RequeueSelection): Promise<{ unknown: string[]; liveWorkers: number }> {
  return withClient(databaseUrl, 'request a requeue', async (client) => {
    if (selection !== 'all') {
      const { rows } = await client.query<{ id: string }>(`SELECT id FROM memory_turns WHERE state = 'dead' AND id = ANY($1)`, [[...selection]]);
      const known = new Set(rows.map((row) => row.id));
      const unknown = [...selection].filter((id) => !known.has(id));
      if (unknown.length > 0) return { unknown, liveWorkers: 0 };
    }
    await client.query('INSERT INTO memory_requeue_requests (selection) VALUES ($1)', [JSON.stringify(selection === 'all' ? 'all' : [...selection])]);
    const { rows } = await client.query<{ n: string }>('SELECT count(*) AS n FROM memory_workers WHERE expires_at > now()');
    return { unknown: [], liveWorkers: Number(rows[0].n) };
  });
}

async function withClient<T>(databaseUrl: string, action: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 10_000, query_timeout: 10_000, application_name: 'letta-voice-memory-cli' });
  client.on('error', () => undefined); // a dropped connection fails the pending query, reported below
  try {
    await client.connect();
    return await use(client);
  } catch (error) {
    throw new MemoryDatabaseError(action, error, databaseUrl);
  } finally {
    await client.end().catch(() => undefined);
  }
}
