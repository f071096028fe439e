import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/memory/logger.js';
import { PostgresTurnStore } from '../../src/memory/postgres/postgres-store.js';
import { createPendingTurn, type PendingTurn } from '../../src/memory/turn.js';
import { startDebianPostgres, type DebianPostgres } from '../../simulation/real-servers/debian-postgres.js';

/** `memory:status` and `memory:dead-letters` with MEMORY_STORE=postgres, against a real PostgreSQL. */
const ROOT = join(import.meta.dirname, '..', '..');
const run = promisify(execFile);
let db: DebianPostgres;
let store: PostgresTurnStore;

beforeAll(async () => {
  db = await startDebianPostgres();
});
afterAll(async () => {
  await store?.close();
  await db?.stop();
});

const script = (name: string, ...args: string[]) =>
  run(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts', name), ...args], {
    cwd: ROOT,
    env: { ...process.env, MEMORY_STORE: 'postgres', MEMORY_DATABASE_URL: db.url },
  });
const turn = (agentId: string, n: number): PendingTurn =>
  createPendingTurn({ agentId, userText: `user ${n}`, assistantText: `assistant ${n}`, interrupted: false, userAt: Date.now(), assistantAt: Date.now() + 1 }, Date.now());

describe('memory CLI on MEMORY_STORE=postgres', () => {
  it('status shows workers, depth and dead letters; dead-letters lists them and leaves a requeue request a worker takes', async () => {
    store = await PostgresTurnStore.open({ databaseUrl: db.url, leaseTimeoutMs: 30_000, logger: silentLogger, owner: 'cli-test-worker' });
    const [kept, doomed] = [turn('agent-a', 1), turn('agent-b', 2)];
    await store.append(kept);
    await store.append(doomed);
    const release = await store.leaseAgent('agent-b');
    await store.deadLetter([{ turn: doomed, reason: 'letta 422: invalid message', status: 422, deadAt: Date.now() }]);
    await release();
    const password = decodeURIComponent(new URL(db.url).password);

    const status = JSON.parse((await script('memory-status.ts', '--json')).stdout) as {
      schemaVersion: number;
      pending: number;
      workers: Array<{ owner: string; live: boolean }>;
      deadLetters: Array<{ turn: { id: string }; status: number }>;
    };
    expect(status.schemaVersion).toBe(1);
    expect(status.pending).toBe(1);
    expect(status.workers).toEqual([expect.objectContaining({ owner: 'cli-test-worker', live: true })]);
    expect(status.deadLetters.map((d) => [d.turn.id, d.status])).toEqual([[doomed.id, 422]]);
    const text = (await script('memory-status.ts')).stdout;
    expect(text).toContain('Depth: 1 turn(s) pending across 1 agent(s)');
    expect(text).toContain(doomed.id);
    expect(text).not.toContain(password);

    const listed = (await script('memory-dead-letters.ts', 'list')).stdout;
    expect(listed).toContain('1 dead letter(s)');
    expect(listed).toContain('letta 422: invalid message');
    expect(listed).not.toContain(password);

    await expect(script('memory-dead-letters.ts', 'requeue', 'no-such-turn')).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('no-such-turn') });
    const requeued = await script('memory-dead-letters.ts', 'requeue', doomed.id);
    expect(requeued.stdout).toContain('one of the 1 running worker(s) requeues them');

    // What a worker's housekeeping does with the request: take it once, requeue the turn as pending.
    const requests = await store.takeRequeueRequests();
    expect(requests).toEqual([[doomed.id]]);
    expect(await store.takeRequeueRequests()).toEqual([]);
    expect((await store.requeue(requests[0])).map((t) => t.otid)).toEqual([doomed.otid]);
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    try {
      const { rows } = await admin.query(`SELECT id, state FROM memory_turns ORDER BY seq`);
      expect(rows).toEqual([
        { id: kept.id, state: 'pending' },
        { id: doomed.id, state: 'pending' },
      ]);
    } finally {
      await admin.end();
    }
  });
});
