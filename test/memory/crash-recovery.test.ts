import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { inspectDataDir } from '../../src/memory/journal/inspect-data-dir.js';
import { startLettaServer, type LettaServer } from '../../simulation/stand-ins/letta-server.js';
import { startJsonWorker, until } from '../support/json-worker.js';

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

/** The drain worker fixture as its own node process, pointed at this test's Letta server and data dir. */
const startWorker = (env: Record<string, string>) =>
  startJsonWorker(FIXTURE, { LETTA_BASE_URL: server.baseURL, MEMORY_DATA_DIR: dataDir, ...env }, children);

describe('crash recovery (separate worker process)', () => {
  it('a worker killed with SIGKILL mid-drain, then restarted, writes every turn exactly once and in order', async () => {
    const agents = Array.from({ length: 4 }, () => server.seedAgent().id);
    const first = startWorker({ MODE: 'enqueue', AGENTS: agents.join(','), TURNS_PER_AGENT: '20', BATCH_MAX: '2' });
    const { turns } = await first.next('enqueued');
    expect(turns).toHaveLength(80);
    const stored = () => agents.reduce((n, id) => n + server.userMessagesOf(id).length, 0);
    await until(() => stored() >= 12, 20_000);
    // Leave two requests applied by Letta but unanswered at the moment of the kill.
    const messageRequests = () => server.requests.filter((r) => r.route === 'messages.create').length;
    const before = messageRequests();
    server.slowApplyNext(2, 1_000, 'messages.create');
    await until(() => messageRequests() >= before + 2, 20_000);
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
