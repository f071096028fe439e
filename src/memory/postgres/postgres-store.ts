import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import pg from 'pg';
import type { MemoryLogger } from '../logger.js';
import type { QueueStats } from '../queue-stats.js';
import { type RecoveredTurns, type RequeueSelection, type TurnStore } from '../turn-store.js';
import type { DeadLetter, PendingTurn } from '../turn.js';
import { PostgresAgentLeases, type HeldLease } from './agent-leases.js';
import { AppendBatcher } from './append-batcher.js';
import { redactDatabaseUrl } from './database-url.js';
import { AgentLeaseLostError, MemoryDatabaseError } from './errors.js';
import { migrate } from './migrations.js';

export const HANDOVER_CHANNEL = 'memory_handover';

export type PostgresTurnStoreOptions = {
  /** MEMORY_DATABASE_URL; never logged with its password. */
  databaseUrl: string;
  /** MEMORY_LEASE_TIMEOUT_MS: a worker (and an agent lease) not renewed for this long is considered gone. */
  leaseTimeoutMs: number;
  logger: MemoryLogger;
  /** Dead letters older than this are deleted when the worker starts; Infinity keeps them. */
  deadLetterRetentionMs?: number;
  /** Poll interval while another worker holds an agent's lease. */
  leasePollMs?: number;
  poolMax?: number;
  /** A statement (or a connection attempt) that takes longer fails, so enqueue never hangs on a dead link. */
  queryTimeoutMs?: number;
  /** Identifies this worker in the database; default host:pid:random. */
  owner?: string;
};

type TurnRow = { seq: string; turn: PendingTurn };
type DeadRow = { turn: PendingTurn; dead_reason: string; dead_status: number | null; dead_at: string };

/**
 * TurnStore on PostgreSQL, shared by every worker on every machine. A turn is committed before append() resolves and
 * deleted once Letta acknowledged it. Each worker owns the turns it enqueued while its worker row is renewed; turns of
 * a worker gone for leaseTimeoutMs (or handed back at close) are adopted by another, in order. Per agent, one worker
 * writes at a time (PostgresAgentLeases, with fencing).
 */
export class PostgresTurnStore implements TurnStore {
  readonly durable = true;
  readonly owner: string;
  private readonly leases: PostgresAgentLeases;
  private readonly appender: AppendBatcher<PendingTurn>;
  private dead = new Map<string, DeadLetter>();
  private readonly publishedHeads = new Map<string, number | undefined>();
  private heartbeat: NodeJS.Timeout | undefined;
  private listener: pg.Client | undefined;
  private closed = false;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly options: PostgresTurnStoreOptions,
  ) {
    this.owner = options.owner ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    this.leases = new PostgresAgentLeases(pool, this.owner, options.leaseTimeoutMs, options.leasePollMs ?? 25, options.logger);
    this.appender = new AppendBatcher((turns) => this.insertTurns(turns));
  }

  /** Connects, migrates the schema (serialised across workers) and registers this worker. */
  static async open(options: PostgresTurnStoreOptions): Promise<PostgresTurnStore> {
    const pool = createPool(options);
    const store = new PostgresTurnStore(pool, options);
    try {
      const client = await store.guard('connect', () => pool.connect());
      try {
        const applied = await store.guard('migrate its schema', () => migrate(client));
        if (applied.length > 0) options.logger.info({ versions: applied }, 'memory database schema migrated');
      } finally {
        client.release();
      }
      await store.guard('register this worker', () => store.registerWorker());
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw error;
    }
    store.heartbeat = setInterval(() => void store.renewWorker(), Math.max(10, Math.floor(options.leaseTimeoutMs / 3)));
    store.heartbeat.unref();
    options.logger.info({ database: redactDatabaseUrl(options.databaseUrl), owner: store.owner }, 'memory queue on PostgreSQL');
    return store;
  }

  async recover(): Promise<RecoveredTurns> {
    await this.guard('delete expired dead letters', () => this.dropExpiredDeadLetters());
    const pending = await this.adoptOrphans();
    await this.refreshDeadLetters();
    return { pending, deadLetters: [...this.dead.values()] };
  }

  append(turn: PendingTurn): Promise<void> {
    if (this.closed) return Promise.reject(new Error('memory store is closed'));
    return this.appender.append(turn);
  }

  async acknowledge(turnIds: readonly string[]): Promise<void> {
    if (turnIds.length === 0) return;
    const held = this.leases.tokens();
    const done = await this.guard('record acknowledgements', () =>
      this.pool.query<{ id: string }>(
        `DELETE FROM memory_turns t USING ${HELD_LEASES}
         WHERE t.id = ANY($1) AND t.agent_id = l.agent_id RETURNING t.id`,
        [turnIds, this.owner, ...leaseArrays(held)],
      ),
    );
    await this.handBackFencedOut(turnIds, new Set(done.rows.map((row) => row.id)));
  }

  async deadLetter(letters: readonly DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    const held = this.leases.tokens();
    const done = await this.guard('store dead letters', () =>
      this.pool.query<{ id: string }>(
        `UPDATE memory_turns t SET state = 'dead', turn = d.turn, dead_reason = d.reason, dead_status = d.status, dead_at = d.at
         FROM ${HELD_LEASES}, unnest($5::text[], $6::jsonb[], $7::text[], $8::int[], $9::bigint[]) AS d(id, turn, reason, status, at)
         WHERE t.id = ANY($1) AND t.id = d.id AND t.state = 'pending' AND t.agent_id = l.agent_id RETURNING t.id`,
        [
          letters.map((letter) => letter.turn.id),
          this.owner,
          ...leaseArrays(held),
          letters.map((letter) => letter.turn.id),
          letters.map((letter) => JSON.stringify(letter.turn)),
          letters.map((letter) => letter.reason),
          letters.map((letter) => letter.status ?? null),
          letters.map((letter) => letter.deadAt),
        ],
      ),
    );
    const stored = new Set(done.rows.map((row) => row.id));
    for (const letter of letters) if (stored.has(letter.turn.id)) this.dead.set(letter.turn.id, letter);
    await this.handBackFencedOut(
      letters.map((letter) => letter.turn.id),
      stored,
    );
  }

  async requeue(selection: RequeueSelection): Promise<PendingTurn[]> {
    const ids = selection === 'all' ? null : [...selection];
    const { rows } = await this.guard('requeue dead letters', () =>
      this.pool.query<TurnRow & { dead_at: string }>(
        `WITH chosen AS (
           SELECT seq, dead_at FROM memory_turns WHERE state = 'dead' AND ($1::text[] IS NULL OR id = ANY($1)) FOR UPDATE)
         UPDATE memory_turns t SET state = 'pending', owner = $2, dead_reason = NULL, dead_status = NULL, dead_at = NULL
         FROM chosen WHERE t.seq = chosen.seq RETURNING t.seq, t.turn, chosen.dead_at`,
        [ids, this.owner],
      ),
    );
    rows.sort((a, b) => Number(a.dead_at) - Number(b.dead_at) || Number(a.seq) - Number(b.seq));
    // Also picks up dead letters other workers stored since the last refresh.
    await this.refreshDeadLetters();
    return rows.map((row) => row.turn);
  }

  deadLetters(): readonly DeadLetter[] {
    return [...this.dead.values()];
  }

  /** Requests left by `memory:dead-letters requeue` (any worker takes each one once). Also refreshes the dead letters. */
  async takeRequeueRequests(): Promise<RequeueSelection[]> {
    const { rows } = await this.guard('read requeue requests', () =>
      this.pool.query<{ id: string; selection: string[] | 'all' }>(
        `DELETE FROM memory_requeue_requests WHERE id IN (
           SELECT id FROM memory_requeue_requests ORDER BY id FOR UPDATE SKIP LOCKED) RETURNING id, selection`,
      ),
    );
    await this.refreshDeadLetters();
    return rows.sort((a, b) => Number(a.id) - Number(b.id)).map((row) => row.selection);
  }

  leaseAgent(agentId: string, signal?: AbortSignal): Promise<() => Promise<void>> {
    return this.guard('take the agent lease', () => this.leases.acquire(agentId, signal), signal);
  }

  /**
   * Takes over pending turns nobody owns any more: their worker's row expired (it died or lost the database for
   * leaseTimeoutMs) or they were handed back (a worker closed, or was fenced out). Returned in enqueue order.
   */
  async adoptOrphans(): Promise<PendingTurn[]> {
    const { rows } = await this.guard('adopt turns of gone workers', () =>
      this.pool.query<TurnRow>(
        `WITH orphans AS (
           SELECT seq FROM memory_turns t
           WHERE state = 'pending' AND (owner IS NULL OR (owner <> $1 AND NOT EXISTS (
             SELECT 1 FROM memory_workers w WHERE w.owner = t.owner AND w.expires_at > now())))
           ORDER BY seq LIMIT 10000 FOR UPDATE SKIP LOCKED)
         UPDATE memory_turns t SET owner = $1,
           turn = jsonb_set(t.turn, '{attempts}', to_jsonb(GREATEST(1, (t.turn->>'attempts')::int)))
         FROM orphans WHERE t.seq = orphans.seq RETURNING t.seq, t.turn`,
        [this.owner],
      ),
    );
    return rows.sort((a, b) => Number(a.seq) - Number(b.seq)).map((row) => row.turn);
  }

  /** LISTEN for workers handing turns back at close; the periodic adoptOrphans covers a lost notification. */
  watchHandovers(onHandover: () => void): void {
    const client = new pg.Client(connectionSettings(this.options));
    client.on('error', () => undefined);
    client.on('notification', (message) => {
      if (message.channel === HANDOVER_CHANNEL && message.payload !== this.owner) onHandover();
    });
    this.listener = client;
    client
      .connect()
      .then(() => client.query(`LISTEN ${HANDOVER_CHANNEL}`))
      .catch((error: unknown) => this.options.logger.debug({ err: (error as Error).message }, 'memory hand-over notifications unavailable; polling only'));
  }

  async publishHead(agentId: string, userAt: number | undefined): Promise<void> {
    if (this.publishedHeads.has(agentId) && this.publishedHeads.get(agentId) === userAt) return;
    await this.guard('publish the spoken-order head', () =>
      userAt === undefined
        ? this.pool.query('DELETE FROM memory_agent_heads WHERE agent_id = $1 AND owner = $2', [agentId, this.owner])
        : this.pool.query(
            `INSERT INTO memory_agent_heads (agent_id, owner, user_at) VALUES ($1, $2, $3)
             ON CONFLICT (agent_id, owner) DO UPDATE SET user_at = EXCLUDED.user_at`,
            [agentId, this.owner, userAt],
          ),
    );
    this.publishedHeads.set(agentId, userAt);
  }

  /** The earliest undelivered turn of the agent held by another live worker, or left by a gone one (not yet adopted). */
  async earliestHeadElsewhere(agentId: string): Promise<number | undefined> {
    const { rows } = await this.guard('read other workers’ heads', () =>
      this.pool.query<{ at: string | null }>(
        `SELECT min(at) AS at FROM (
           SELECT h.user_at AS at FROM memory_agent_heads h JOIN memory_workers w ON w.owner = h.owner AND w.expires_at > now()
           WHERE h.agent_id = $1 AND h.owner <> $2
           UNION ALL
           SELECT t.user_at FROM memory_turns t WHERE t.agent_id = $1 AND t.state = 'pending'
             AND (t.owner IS NULL OR (t.owner <> $2 AND NOT EXISTS (
               SELECT 1 FROM memory_workers w WHERE w.owner = t.owner AND w.expires_at > now())))
         ) AS heads`,
        [agentId, this.owner],
      ),
    );
    const at = rows[0]?.at;
    return at === null || at === undefined ? undefined : Number(at);
  }

  async publishStats(stats: QueueStats): Promise<void> {
    await this.pool.query('UPDATE memory_workers SET stats = $2, stats_at = now() WHERE owner = $1', [this.owner, JSON.stringify(stats)]);
  }

  /** Hands this worker's pending turns back (others adopt them at once, notified) and leaves the database. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    await this.listener?.end().catch(() => undefined);
    try {
      await this.leases.releaseAll();
      const { rowCount } = await this.pool.query(`UPDATE memory_turns SET owner = NULL WHERE owner = $1 AND state = 'pending'`, [this.owner]);
      await this.pool.query('DELETE FROM memory_agent_heads WHERE owner = $1', [this.owner]);
      await this.pool.query('DELETE FROM memory_workers WHERE owner = $1', [this.owner]);
      if ((rowCount ?? 0) > 0) await this.pool.query('SELECT pg_notify($1, $2)', [HANDOVER_CHANNEL, this.owner]);
    } catch (error) {
      // Not fatal: the turns stay owned by this worker's row, which expires after leaseTimeoutMs.
      this.options.logger.warn({ err: new MemoryDatabaseError('hand turns back at close', error, this.options.databaseUrl).message }, 'memory store close incomplete');
    } finally {
      await this.pool.end().catch(() => undefined);
    }
  }

  private async insertTurns(turns: PendingTurn[]): Promise<void> {
    await this.guard(`store ${turns.length} turn(s)`, () =>
      this.pool.query(
        `INSERT INTO memory_turns (id, agent_id, user_at, turn, owner)
         SELECT id, agent_id, user_at, turn, $5 FROM unnest($1::text[], $2::text[], $3::bigint[], $4::jsonb[])
           WITH ORDINALITY AS n(id, agent_id, user_at, turn, i)
         ORDER BY i
         ON CONFLICT (id) DO NOTHING`,
        [turns.map((t) => t.id), turns.map((t) => t.agentId), turns.map((t) => t.userAt), turns.map((t) => JSON.stringify(t)), this.owner],
      ),
    );
  }

  /** Turns this worker owns whose outcome it may not record (lease lost): back to the pool, and said loudly. */
  private async handBackFencedOut(turnIds: readonly string[], recorded: ReadonlySet<string>): Promise<void> {
    const rest = turnIds.filter((id) => !recorded.has(id));
    if (rest.length === 0) return;
    const { rows } = await this.guard('hand back fenced-out turns', () =>
      this.pool.query<{ id: string; agent_id: string }>(
        `UPDATE memory_turns SET owner = NULL WHERE id = ANY($1) AND owner = $2 AND state = 'pending' RETURNING id, agent_id`,
        [rest, this.owner],
      ),
    );
    // Turns another worker already adopted, acknowledged or dead-lettered are not ours to report.
    if (rows.length === 0) return;
    await this.pool.query('SELECT pg_notify($1, $2)', [HANDOVER_CHANNEL, this.owner]).catch(() => undefined);
    throw new AgentLeaseLostError([...new Set(rows.map((row) => row.agent_id))], rows.map((row) => row.id));
  }

  private async refreshDeadLetters(): Promise<void> {
    const { rows } = await this.guard('read dead letters', () =>
      this.pool.query<DeadRow>(`SELECT turn, dead_reason, dead_status, dead_at FROM memory_turns WHERE state = 'dead' ORDER BY dead_at, seq`),
    );
    this.dead = new Map(
      rows.map((row) => [
        row.turn.id,
        { turn: row.turn, reason: row.dead_reason, deadAt: Number(row.dead_at), ...(row.dead_status === null ? {} : { status: row.dead_status }) },
      ]),
    );
  }

  private async dropExpiredDeadLetters(): Promise<void> {
    const retention = this.options.deadLetterRetentionMs ?? Number.POSITIVE_INFINITY;
    if (!Number.isFinite(retention)) return;
    const { rowCount } = await this.pool.query(`DELETE FROM memory_turns WHERE state = 'dead' AND dead_at < $1`, [Date.now() - retention]);
    if ((rowCount ?? 0) > 0) this.options.logger.warn({ dropped: rowCount }, 'memory dead letters past their retention deleted');
  }

  private async registerWorker(): Promise<void> {
    await this.pool.query(
      `INSERT INTO memory_workers (owner, host, pid, expires_at) VALUES ($1, $2, $3, now() + $4 * interval '1 millisecond')
       ON CONFLICT (owner) DO UPDATE SET expires_at = EXCLUDED.expires_at`,
      [this.owner, hostname(), process.pid, this.options.leaseTimeoutMs],
    );
    // Rows of workers gone long ago that own nothing any more.
    await this.pool.query(
      `DELETE FROM memory_workers w WHERE w.expires_at < now() - interval '1 hour'
       AND NOT EXISTS (SELECT 1 FROM memory_turns t WHERE t.owner = w.owner)`,
    );
  }

  private async renewWorker(): Promise<void> {
    try {
      const { rowCount } = await this.pool.query(
        `UPDATE memory_workers SET expires_at = now() + $2 * interval '1 millisecond' WHERE owner = $1 AND expires_at > now()`,
        [this.owner, this.options.leaseTimeoutMs],
      );
      if (rowCount === 0 && !this.closed) {
        this.options.logger.error({ owner: this.owner }, 'memory worker lease had expired; other workers may have adopted its turns');
        await this.registerWorker();
      }
    } catch (error) {
      this.options.logger.warn({ err: new MemoryDatabaseError('renew the worker lease', error, this.options.databaseUrl).message }, 'memory worker lease not renewed');
    }
  }

  /** Runs a database step; its failure becomes a MemoryDatabaseError without connection secrets. */
  private async guard<T>(action: string, step: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    try {
      return await step();
    } catch (error) {
      if (signal?.aborted && error === signal.reason) throw error;
      if (error instanceof AgentLeaseLostError || error instanceof MemoryDatabaseError) throw error;
      throw new MemoryDatabaseError(action, error, this.options.databaseUrl);
    }
  }
}

/** Joins the fencing tokens this worker holds ($3 agent ids, $4 tokens) with the lease rows still carrying them. */
const HELD_LEASES = `(SELECT l.agent_id FROM memory_agent_leases l
   JOIN unnest($3::text[], $4::bigint[]) AS h(agent_id, token) ON h.agent_id = l.agent_id AND h.token = l.token
   WHERE l.owner = $2) AS l`;

function leaseArrays(held: HeldLease[]): [string[], string[]] {
  return [held.map((lease) => lease.agentId), held.map((lease) => lease.token)];
}

function connectionSettings(options: PostgresTurnStoreOptions): pg.ClientConfig {
  const timeout = options.queryTimeoutMs ?? 10_000;
  return {
    connectionString: options.databaseUrl,
    connectionTimeoutMillis: timeout,
    query_timeout: timeout,
    application_name: 'letta-voice-memory',
  };
}

function createPool(options: PostgresTurnStoreOptions): pg.Pool {
  const pool = new pg.Pool({ ...connectionSettings(options), max: options.poolMax ?? 4 });
  // An idle client whose connection drops emits here; without a listener that would crash the worker.
  pool.on('error', (error) =>
    options.logger.warn({ err: new MemoryDatabaseError('keep an idle connection', error, options.databaseUrl).message }, 'memory database connection lost'),
  );
  return pool;
}
