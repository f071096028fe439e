import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startDebianPostgres, type DebianPostgres } from '../../simulation/real-servers/debian-postgres.js';
import { startLettaServer, type LettaServer } from '../../simulation/stand-ins/letta-server.js';
import { startJsonWorker, until, type WorkerTurn } from '../support/json-worker.js';

/**
 * Two worker processes as two hosts: they share only the PostgreSQL database (no data dir at all), write to the Letta
 * stand-in, and one is killed with SIGKILL mid-drain while Letta holds applied-but-unanswered requests.
 */
const FIXTURE = join(import.meta.dirname, 'fixtures', 'postgres-drain-worker.ts');
const LEASE_MS = 1_500;
let db: DebianPostgres;
let server: LettaServer;
let admin: pg.Client;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  db = await startDebianPostgres();
  admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
});
afterAll(async () => {
  await admin?.end();
  await db?.stop();
});
beforeEach(async () => {
  server = await startLettaServer({ messageLatencyMs: 60, tokenDelayMs: 0, includeReasoning: false, includeToolCalls: false });
});
afterEach(async () => {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
  await server.close();
  await admin.query('DROP TABLE IF EXISTS memory_turns, memory_workers, memory_agent_leases, memory_agent_heads, memory_requeue_requests, memory_schema_migrations');
});

const worker = (env: Record<string, string>) =>
  startJsonWorker(FIXTURE, { LETTA_BASE_URL: server.baseURL, MEMORY_DATABASE_URL: db.url, MEMORY_LEASE_TIMEOUT_MS: String(LEASE_MS), ...env }, children);
const dump = async () =>
  JSON.stringify({
    turns: (await admin.query(`SELECT seq, agent_id, user_at, owner, state FROM memory_turns ORDER BY seq`)).rows,
    workers: (await admin.query(`SELECT owner, expires_at > now() AS live FROM memory_workers`)).rows,
    leases: (await admin.query(`SELECT agent_id, owner, token, expires_at > now() AS live FROM memory_agent_leases`)).rows,
    heads: (await admin.query(`SELECT * FROM memory_agent_heads`)).rows,
  });
const pendingInDatabase = async () => Number((await admin.query<{ n: string }>(`SELECT count(*) AS n FROM memory_turns`)).rows[0].n);

describe('two workers sharing PostgreSQL', () => {
  it('one killed mid-drain: the other adopts its turns after the lease timeout; every turn reaches Letta exactly once, in spoken order per agent', async () => {
    const agents = Array.from({ length: 4 }, () => server.seedAgent().id);
    // Both hosts have calls with agents 1 and 2 (spoken turns interleave), and each has one agent of its own.
    const base = Date.now() - 600_000;
    const spoken = { GATE: '1', SPOKEN_BASE: String(base), SPOKEN_STEP: '100', TURNS_PER_AGENT: '15', BATCH_MAX: '2' };
    const a = worker({ MODE: 'enqueue', AGENTS: [agents[0], agents[1], agents[2]].join(','), SPOKEN_OFFSET: '0', ...spoken });
    const b = worker({ MODE: 'enqueue', AGENTS: [agents[0], agents[1], agents[3]].join(','), SPOKEN_OFFSET: '50', ...spoken });
    const [enqueuedA, enqueuedB] = await Promise.all([a.next('enqueued'), b.next('enqueued')]);
    const turns: WorkerTurn[] = [...enqueuedA.turns!, ...enqueuedB.turns!];
    expect(turns).toHaveLength(90);
    a.send('go');
    b.send('go');

    const stored = () => agents.reduce((n, id) => n + server.userMessagesOf(id).length, 0);
    await until(() => stored() >= 10);
    // Whatever A has in flight now is applied by Letta but never answered to A.
    server.slowApplyNext(2, 1_000, 'messages.create');
    a.child.kill('SIGKILL');
    expect(await a.exited).toBeNull();
    expect(stored()).toBeLessThan(90);
    expect(await pendingInDatabase()).toBeGreaterThan(0);

    let giveUp: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      b.next('drained'),
      new Promise<never>((_, reject) => {
        giveUp = setTimeout(() => void dump().then((state) => reject(new Error(`B did not drain: ${state}\n${b.stderr()}`)), reject), 60_000);
      }),
    ]).finally(() => clearTimeout(giveUp));
    expect(await b.exited).toBe(0);
    expect(drained.unwritten).toBe(0);
    await server.idle();

    for (const agentId of agents) {
      const expected = turns
        .filter((t) => t.agentId === agentId)
        .sort((x, y) => x.userAt - y.userAt)
        .map((t) => t.otid);
      expect(server.userMessagesOf(agentId).map((m) => m.otid)).toEqual(expected);
      expect(server.duplicatesOf(agentId)).toHaveLength(0);
    }
    expect(await pendingInDatabase()).toBe(0);
  });

  it('a worker that was killed holding turns: a worker started later recovers them all (durable before enqueue returned)', async () => {
    const agents = Array.from({ length: 2 }, () => server.seedAgent().id);
    const holder = worker({ MODE: 'hold', AGENTS: agents.join(','), TURNS_PER_AGENT: '10' });
    const { turns } = await holder.next('enqueued');
    holder.child.kill('SIGKILL');
    expect(await holder.exited).toBeNull();
    expect(await pendingInDatabase()).toBe(20);

    const later = worker({ MODE: 'drain' });
    await later.next('drained');
    expect(await later.exited).toBe(0);
    await server.idle();
    for (const agentId of agents) {
      expect(server.userMessagesOf(agentId).map((m) => m.otid)).toEqual(turns!.filter((t) => t.agentId === agentId).map((t) => t.otid));
    }
    expect(await pendingInDatabase()).toBe(0);
  });
});
