import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { inspectDataDir } from '../../src/memory/journal/inspect-data-dir.js';
import { startLettaServer, type LettaServer } from '../../simulation/stand-ins/letta-server.js';

type WorkerEvent = { event: string; turns?: Array<{ agentId: string; id: string; otid: string }>; written?: number; unwritten?: number };

const FIXTURE = join(import.meta.dirname, 'fixtures', 'drain-worker.ts');
let server: LettaServer;
let dataDir: string;
const children = new Set<ChildProcess>();

beforeEach(async () => {
  server = await startLettaServer({ messageLatencyMs: 15, tokenDelayMs: 0, includeReasoning: false, includeToolCalls: false });
  dataDir = await mkdtemp(join(tmpdir(), 'memory-crash-'));
});
afterEach(async () => {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
  await server.close();
  await rm(dataDir, { recursive: true, force: true });
});

/** Runs the worker as its own node process (no npx wrapper), so SIGKILL hits the worker itself. */
function startWorker(env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
    env: { ...process.env, LETTA_BASE_URL: server.baseURL, MEMORY_DATA_DIR: dataDir, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const events: WorkerEvent[] = [];
  const waiters: Array<() => void> = [];
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      events.push(JSON.parse(line) as WorkerEvent);
    } catch {
      return;
    }
    for (const wake of waiters.splice(0)) wake();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => (children.delete(child), resolve(code))));
  const next = async (name: string): Promise<WorkerEvent> => {
    for (;;) {
      const found = events.find((e) => e.event === name);
      if (found) return found;
      const woke = new Promise<void>((resolve) => waiters.push(resolve));
      const code = await Promise.race([woke.then(() => 'event' as const), exited]);
      if (code !== 'event') throw new Error(`worker exited (${code}) before "${name}": ${stderr}`);
    }
  };
  return { child, next, exited, stderr: () => stderr };
}

async function until(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 2));
  }
}

describe('crash recovery (separate worker process)', () => {
  it('a worker killed with SIGKILL mid-drain, then restarted, writes every turn exactly once and in order', async () => {
    const agents = Array.from({ length: 4 }, () => server.seedAgent().id);
    const first = startWorker({ MODE: 'enqueue', AGENTS: agents.join(','), TURNS_PER_AGENT: '20', BATCH_MAX: '2' });
    const { turns } = await first.next('enqueued');
    expect(turns).toHaveLength(80);
    const stored = () => agents.reduce((n, id) => n + server.userMessagesOf(id).length, 0);
    await until(() => stored() >= 12);
    // Leave two requests applied by Letta but unanswered at the moment of the kill.
    const messageRequests = () => server.requests.filter((r) => r.route === 'messages.create').length;
    const before = messageRequests();
    server.slowApplyNext(2, 1_000, 'messages.create');
    await until(() => messageRequests() >= before + 2);
    first.child.kill('SIGKILL');
    expect(await first.exited).toBeNull();
    const writtenBeforeCrash = stored();
    expect(writtenBeforeCrash).toBeLessThan(80);

    const pendingAfterCrash = (await inspectDataDir(dataDir)).pending.length;
    expect(pendingAfterCrash).toBeGreaterThan(0);

    const second = startWorker({ MODE: 'drain' });
    const opened = await second.next('opened');
    expect((opened as { replaying?: number }).replaying).toBe(pendingAfterCrash);
    const drained = await second.next('drained');
    expect(await second.exited).toBe(0);
    expect(drained.unwritten).toBe(0);
    await server.idle();

    for (const agentId of agents) {
      const expected = turns!.filter((t) => t.agentId === agentId).map((t) => t.otid);
      expect(server.userMessagesOf(agentId).map((m) => m.otid)).toEqual(expected);
    }
    // The two applied-but-unanswered batches were found in the agents' histories after the restart, not sent again.
    const duplicates = agents.reduce((n, id) => n + server.duplicatesOf(id).length, 0);
    expect(duplicates).toBe(0);
    const after = await inspectDataDir(dataDir);
    expect(after).toMatchObject({ pending: [], deadLetters: [] });
    expect(after.slots.map((slot) => slot.worker.state)).toEqual(['stopped']);
  });
});
