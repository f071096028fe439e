import Letta from '@letta-ai/letta-client';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryQueue } from '../../src/memory/memory-queue.js';
import { startOrphanSweeper, type OrphanSweeper } from '../../src/memory/orphan-sweeper.js';
import { silentLogger } from '../../src/memory/logger.js';
import { startLettaServer, type LettaServer } from '../../simulation/stand-ins/letta-server.js';
import { turnInput } from './fake-turn-writer.js';

let server: LettaServer;
let dataDir: string;
let sweeper: OrphanSweeper | undefined;

beforeEach(async () => {
  server = await startLettaServer({ messageLatencyMs: 2, tokenDelayMs: 0, includeReasoning: false, includeToolCalls: false });
  dataDir = await mkdtemp(join(tmpdir(), 'memory-sweeper-'));
});
afterEach(async () => {
  await sweeper?.stop();
  sweeper = undefined;
  await server.close();
  await rm(dataDir, { recursive: true, force: true });
});

const openQueue = () =>
  MemoryQueue.open(
    { dataDir, retryBaseMs: 10, retryMaxMs: 50, breakerCooldownMs: 50 },
    { letta: new Letta({ baseURL: server.baseURL, apiKey: 'k', maxRetries: 0, timeout: 2_000 }) },
  );

describe('orphan sweeper', () => {
  it('delivers turns a finished call left in its journal slot', async () => {
    const agentId = server.seedAgent().id;
    await server.refuse();
    // A call's job process: Letta is down, so its drain deadline passes with the turns still journaled.
    const call = await openQueue();
    const turns = [await call.enqueue(turnInput(agentId, 0)), await call.enqueue(turnInput(agentId, 1))];
    const left = await call.close({ deadlineMs: 100 });
    expect(left.pending).toHaveLength(2);

    await server.accept();
    sweeper = startOrphanSweeper({ dataDir, openQueue, intervalMs: 60_000, deadlineMs: 5_000, logger: silentLogger });
    await expect(sweeper.sweep()).resolves.toBe(0);

    expect(server.userMessagesOf(agentId).map((m) => m.otid)).toEqual(turns.map((t) => t.otid));
    // Nothing left to sweep: a second sweep opens no queue and sends nothing.
    const requestsBefore = server.requests.length;
    await expect(sweeper.sweep()).resolves.toBe(0);
    expect(server.requests.length).toBe(requestsBefore);
  });

  it('sweeps at once when a call hands over turns it could not deliver (not only on the interval)', async () => {
    const agentId = server.seedAgent().id;
    sweeper = startOrphanSweeper({ dataDir, openQueue, intervalMs: 60_000, deadlineMs: 5_000, logger: silentLogger });
    await server.refuse();
    const call = await openQueue();
    const turns = [await call.enqueue(turnInput(agentId, 0)), await call.enqueue(turnInput(agentId, 1))];
    const left = await call.close({ deadlineMs: 100 });
    expect(left.pending).toHaveLength(2);
    await server.accept();
    // The call ran in this process, so its signal carries our pid: simulate another job process's signal.
    await symlink('worker-0', join(dataDir, '.handover-worker-0-1-1'));
    const deadline = Date.now() + 5_000;
    while (server.userMessagesOf(agentId).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(server.userMessagesOf(agentId).map((m) => m.otid)).toEqual(turns.map((t) => t.otid));
  });
});
