import type pg from 'pg';

/**
 * Versioned schema of the PostgreSQL turn store, applied in order. Never edit a released entry: add the next
 * version. Each version runs in its own transaction together with its row in memory_schema_migrations.
 */
export const MIGRATIONS: ReadonlyArray<{ version: number; name: string; sql: string }> = [
  {
    version: 1,
    name: 'turns, workers, agent leases, heads, requeue requests',
    sql: `
      CREATE TABLE memory_turns (
        seq bigserial PRIMARY KEY,
        id text NOT NULL UNIQUE,
        agent_id text NOT NULL,
        user_at bigint NOT NULL,
        turn jsonb NOT NULL,
        state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'dead')),
        owner text,
        dead_reason text,
        dead_status integer,
        dead_at bigint
      );
      CREATE INDEX memory_turns_pending ON memory_turns (owner, seq) WHERE state = 'pending';
      CREATE INDEX memory_turns_agent ON memory_turns (agent_id, user_at) WHERE state = 'pending';
      CREATE INDEX memory_turns_dead ON memory_turns (dead_at) WHERE state = 'dead';

      CREATE TABLE memory_workers (
        owner text PRIMARY KEY,
        host text NOT NULL,
        pid integer NOT NULL,
        started_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        stats jsonb,
        stats_at timestamptz
      );

      CREATE TABLE memory_agent_leases (
        agent_id text PRIMARY KEY,
        owner text,
        token bigint NOT NULL,
        expires_at timestamptz NOT NULL
      );

      CREATE TABLE memory_agent_heads (
        agent_id text NOT NULL,
        owner text NOT NULL,
        user_at bigint NOT NULL,
        PRIMARY KEY (agent_id, owner)
      );

      CREATE TABLE memory_requeue_requests (
        id bigserial PRIMARY KEY,
        selection jsonb NOT NULL,
        requested_at timestamptz NOT NULL DEFAULT now()
      );
    `,
  },
];

/** Any fixed key ("memq"): every process migrating the same database serialises on it. */
const MIGRATION_LOCK_KEY = 0x6d656d71;

/**
 * Brings the schema up to date. Two workers starting together both call this: the transaction-scoped advisory lock
 * makes the second wait until the first committed, then it finds nothing left to apply.
 */
export async function migrate(client: pg.ClientBase): Promise<number[]> {
  const applied: number[] = [];
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await client.query(`CREATE TABLE IF NOT EXISTS memory_schema_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ version: number }>('SELECT version FROM memory_schema_migrations');
    const done = new Set(rows.map((row) => row.version));
    const newest = Math.max(0, ...done);
    const known = Math.max(...MIGRATIONS.map((m) => m.version));
    if (newest > known) {
      throw new Error(`memory database schema is version ${newest}, newer than this worker knows (${known}); upgrade the worker`);
    }
    for (const migration of MIGRATIONS) {
      if (done.has(migration.version)) continue;
      await client.query(migration.sql);
      await client.query('INSERT INTO memory_schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
      applied.push(migration.version);
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
  return applied;
}
