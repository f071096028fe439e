import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/memory/logger.js';
import { AgentLeaseLostError, MemoryDatabaseError } from '../../src/memory/postgres/errors.js';
import { PostgresTurnStore } from '../../src/memory/postgres/postgres-store.js';
import { createPendingTurn, type PendingTurn } from '../../src/memory/turn.js';
import { startDebianPostgres, type DebianPostgres } from '../../simulation/real-servers/debian-postgres.js';

/** PostgresTurnStore on a real PostgreSQL: fencing of a stale lease holder, and losing the database and getting it back. */
let db: DebianPostgres;
let admin: pg.Client;
const stores: PostgresTurnStore[] = [];

const connectAdmin = async () => {
  admin = new pg.Client({ connectionString: db.url });
  admin.on('error', () => undefined); // cut when the test stops the server; replaced after the restart
  await admin.connect();
};
beforeAll(async () => {
  db = await startDebianPostgres();
  await connectAdmin();
});
afterAll(async () => {
  await admin?.end().catch(() => undefined);
  await db?.stop();
});
afterEach(async () => {
  await Promise.allSettled(stores.splice(0).map((store) => store.close()));
  await admin.query('DROP TABLE IF EXISTS memory_turns, memory_workers, memory_agent_leases, memory_agent_heads, memory_requeue_requests, memory_schema_migrations');
});

const open = async (owner: string, extra: { leaseTimeoutMs?: number; queryTimeoutMs?: number } = {}) => {
  const store = await PostgresTurnStore.open({ databaseUrl: db.url, leaseTimeoutMs: 60_000, logger: silentLogger, owner, leasePollMs: 10, ...extra });
  stores.push(store);
  return store;
};
let n = 0;
const turn = (agentId: string): PendingTurn =>
  createPendingTurn({ agentId, userText: `user ${++n}`, assistantText: `assistant ${n}`, interrupted: false, userAt: Date.now(), assistantAt: Date.now() + 1 }, Date.now());
const rowOf = async (id: string) => (await admin.query<{ owner: string | null; state: string }>('SELECT owner, state FROM memory_turns WHERE id = $1', [id])).rows[0];

describe('PostgresTurnStore on a real PostgreSQL', () => {
  it('a worker whose agent lease expired and was taken over cannot acknowledge: the ack throws, the turn survives for the new holder', async () => {
    const first = await open('first');
    const second = await open('second');
    const pending = turn('agent-fenced');
    await first.append(pending);
    await first.leaseAgent('agent-fenced');

    // As if `first` stalled past its lease (a GC pause, a frozen VM): its renewal timer runs only every 20 s here,
    // so the expiry is set in the database rather than waited for.
    await admin.query(`UPDATE memory_agent_leases SET expires_at = now() WHERE agent_id = 'agent-fenced'`);
    const releaseSecond = await second.leaseAgent('agent-fenced');
    const tokens = (await admin.query<{ owner: string; token: string }>(`SELECT owner, token FROM memory_agent_leases`)).rows;
    expect(tokens).toEqual([{ owner: 'second', token: '2' }]);

    const ack = first.acknowledge([pending.id]);
    await expect(ack).rejects.toBeInstanceOf(AgentLeaseLostError);
    await expect(ack).rejects.toThrow(/fenced out.*agent-fenced/);
    // The row survives, handed back to the pool (owner NULL) for whoever holds the lease.
    expect(await rowOf(pending.id)).toEqual({ owner: null, state: 'pending' });

    const adopted = await second.adoptOrphans();
    expect(adopted.map((t) => t.otid)).toEqual([pending.otid]);
    await second.acknowledge([pending.id]);
    expect(await rowOf(pending.id)).toBeUndefined();
    await releaseSecond();
  });

  it('database stopped: append rejects with a clear error without the password; database back: the store recovers', async () => {
    const store = await open('survivor', { queryTimeoutMs: 3_000 });
    const before = turn('agent-loss');
    await store.append(before);
    const password = decodeURIComponent(new URL(db.url).password);

    await db.halt();
    const started = Date.now();
    const failed = await store.append(turn('agent-loss')).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failed).toBeInstanceOf(MemoryDatabaseError);
    const message = (failed as Error).message;
    expect(message).toMatch(/^memory database could not store 1 turn\(s\): /);
    expect(message).not.toContain(password);
    expect(JSON.stringify(failed)).not.toContain(password);
    expect((failed as Error).cause).toBeUndefined();
    // Fails loudly and promptly (within the statement/connect timeout), never hangs.
    expect(Date.now() - started).toBeLessThan(10_000);

    await db.resume();
    const after = turn('agent-loss');
    await store.append(after);
    await admin.end().catch(() => undefined);
    await connectAdmin();
    const { rows } = await admin.query<{ id: string }>('SELECT id FROM memory_turns ORDER BY seq');
    // The turn committed before the loss is still there, the rejected one was never stored, the new one is.
    expect(rows.map((row) => row.id)).toEqual([before.id, after.id]);
  });
});
