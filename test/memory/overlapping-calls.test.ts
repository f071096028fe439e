import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentLeases } from '../../src/memory/journal/agent-leases.js';
import { startLettaServer, type LettaServer } from '../../simulation/stand-ins/letta-server.js';

/** Two calls for one Letta agent run in two job processes at once (LiveKit runs each call in its own process). */

type Event = { event: string; [key: string]: unknown };
const FIXTURE = join(import.meta.dirname, 'fixtures', 'call-worker.ts');
let server: LettaServer;
let dataDir: string;
const children = new Set<ChildProcess>();

beforeEach(async () => {
  server = await startLettaServer({ messageLatencyMs: 30, tokenDelayMs: 0, includeReasoning: false, includeToolCalls: false });
  dataDir = await mkdtemp(join(tmpdir(), 'memory-overlap-'));
});
afterEach(async () => {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
  await server.close();
  await rm(dataDir, { recursive: true, force: true });
});

function startCall(env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
    env: { ...process.env, LETTA_BASE_URL: server.baseURL, MEMORY_DATA_DIR: dataDir, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.add(child);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const inbox: Event[] = [];
  const waiters: Array<() => void> = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      inbox.push(JSON.parse(line) as Event);
    } catch {
      return;
    }
    for (const wake of waiters.splice(0)) wake();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => (children.delete(child), resolve(code))));
  /** The next event of that name (each is consumed once). */
  const next = async (name: string): Promise<Event> => {
    for (;;) {
      const index = inbox.findIndex((e) => e.event === name);
      if (index !== -1) return inbox.splice(index, 1)[0];
      const woke = new Promise<void>((resolve) => waiters.push(resolve));
      const code = await Promise.race([woke.then(() => 'event' as const), exited]);
      if (code !== 'event') throw new Error(`call process exited (${code}) before "${name}": ${stderr}`);
    }
  };
  const send = (command: object) => child.stdin!.write(`${JSON.stringify(command)}\n`);
  return {
    opened: () => next('opened'),
    async enqueue(agentId: string, n: number, userAt: number) {
      send({ cmd: 'enqueue', agentId, n, userAt });
      return (await next('enqueued')) as Event & { otid: string };
    },
    async depth() {
      send({ cmd: 'stats' });
      return ((await next('stats')) as unknown as { stats: { depth: number } }).stats.depth;
    },
    async close(deadlineMs: number) {
      send({ cmd: 'close', deadlineMs });
      const closed = (await next('closed')) as unknown as { pending: number };
      await exited;
      return closed;
    },
  };
}

async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Turn numbers in the order Letta stored the users' words. */
const spokenNumbersInLetta = (agentId: string) =>
  server.userMessagesOf(agentId).flatMap((m) => [...m.text.matchAll(/turn (\d+)/g)].map((match) => Number(match[1])));

describe('overlapping calls for one agent (two job processes)', () => {
  it('a running call takes over what a finished call left, at once, and Letta gets both calls’ turns in spoken order', async () => {
    const agentId = server.seedAgent().id;
    await server.refuse();
    // Housekeeping every 60 s and no sweeper: only the hand-over signal can make the takeover prompt.
    const a = startCall({ HOUSEKEEPING_MS: '60000' });
    const b = startCall({ HOUSEKEEPING_MS: '60000' });
    await Promise.all([a.opened(), b.opened()]);
    const base = Date.now();
    for (let n = 0; n < 6; n++) await (n % 2 === 0 ? a : b).enqueue(agentId, n, base + n * 1_000);
    expect((await a.close(200)).pending).toBe(3);

    const closedAt = Date.now();
    await until(async () => (await b.depth()) === 6, 10_000);
    const takeoverMs = Date.now() - closedAt;
    expect(takeoverMs).toBeLessThan(3_000);
    console.info(`takeover after close: ${takeoverMs} ms`);

    await server.accept();
    await until(() => spokenNumbersInLetta(agentId).length >= 6);
    expect(spokenNumbersInLetta(agentId)).toEqual([0, 1, 2, 3, 4, 5]);
    expect((await b.close(2_000)).pending).toBe(0);
  });

  it('two live calls: turns reach Letta in the order they were spoken, batched or not, and both calls progress', async () => {
    const agentId = server.seedAgent().id;
    server.options.messageLatencyMs = 60;
    const a = startCall({ BATCH_MAX: '4' });
    const b = startCall({ BATCH_MAX: '4' });
    await Promise.all([a.opened(), b.opened()]);
    const base = Date.now();
    for (let n = 0; n < 16; n++) await (n % 2 === 0 ? a : b).enqueue(agentId, n, base + n * 100);
    await until(() => spokenNumbersInLetta(agentId).length >= 16);
    expect(spokenNumbersInLetta(agentId)).toEqual(Array.from({ length: 16 }, (_, n) => n));
    expect(server.maxConcurrentPerAgent(agentId)).toBe(1);
    await Promise.all([a.close(2_000), b.close(2_000)]);
  });
});

describe('agent lease fairness', () => {
  it('serves waiters first-come first-served: a holder that asks again queues behind the waiter', async () => {
    const dir = join(dataDir, 'agent-leases');
    const first = new AgentLeases(dir);
    const second = new AgentLeases(dir);
    const grants: string[] = [];
    let releaseFirst = await first.acquire('agent');
    grants.push('first');
    const secondDone = (async () => {
      for (let n = 0; n < 10; n++) {
        const release = await second.acquire('agent');
        grants.push('second');
        await new Promise((r) => setTimeout(r, 2));
        await release();
      }
    })();
    for (let n = 0; n < 10; n++) {
      await new Promise((r) => setTimeout(r, 30)); // the other side is waiting by now
      await releaseFirst();
      releaseFirst = await first.acquire('agent');
      grants.push('first');
    }
    await releaseFirst();
    await secondDone;
    // Strict alternation: neither side ever took the lease twice while the other waited.
    expect(grants.slice(0, 20)).toEqual(Array.from({ length: 20 }, (_, n) => (n % 2 === 0 ? 'first' : 'second')));
  });
});
