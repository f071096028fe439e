import Letta from '@letta-ai/letta-client';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LettaTurnWriter, turnTag } from '../../src/memory/letta-turn-writer.js';
import { MemoryQueue } from '../../src/memory/memory-queue.js';
import type { MemoryQueueOptions } from '../../src/memory/options.js';
import { formatTurnTranscript } from '../../src/memory/transcript.js';
import type { PendingTurn } from '../../src/memory/turn.js';
import { startLettaServer, type LettaServer } from '../../simulation/stand-ins/letta-server.js';
import { turnInput } from './fake-turn-writer.js';

let server: LettaServer;
let dataDir: string;
const queues: MemoryQueue[] = [];

beforeEach(async () => {
  // A quick agent: the tests are about delivery, not about the agent's reply.
  server = await startLettaServer({ messageLatencyMs: 2, tokenDelayMs: 0, includeReasoning: false, includeToolCalls: false });
  dataDir = await mkdtemp(join(tmpdir(), 'memory-letta-'));
});
afterEach(async () => {
  await Promise.all(queues.splice(0).map((q) => q.close({ deadlineMs: 0 })));
  await server.close();
  await rm(dataDir, { recursive: true, force: true });
});

const client = (timeout = 2_000) => new Letta({ baseURL: server.baseURL, apiKey: 'test-key', maxRetries: 0, timeout });

async function openQueue(options: Partial<MemoryQueueOptions> = {}, letta = client()) {
  const queue = await MemoryQueue.open(
    { dataDir, retryBaseMs: 10, retryMaxMs: 50, settleAfterTimeoutMs: 20, breakerFailureThreshold: 3, breakerCooldownMs: 50, ...options },
    { letta },
  );
  queues.push(queue);
  return queue;
}

async function enqueueRoundRobin(queue: MemoryQueue, agentIds: string[], perAgent: number) {
  const expected = new Map<string, PendingTurn[]>(agentIds.map((id) => [id, []]));
  for (let n = 0; n < perAgent; n++) {
    for (const agentId of agentIds) expected.get(agentId)!.push(await queue.enqueue(turnInput(agentId, n)));
  }
  return expected;
}

/** Every turn stored exactly once, in enqueue order, with the transcript the agent should see. */
function expectDeliveredInOrder(expected: Map<string, PendingTurn[]>) {
  for (const [agentId, turns] of expected) {
    const stored = server.userMessagesOf(agentId);
    expect(stored.map((m) => m.otid)).toEqual(turns.map((t) => t.otid));
    expect(stored.map((m) => m.text)).toEqual(turns.map((t) => formatTurnTranscript(t)));
    expect(server.maxConcurrentPerAgent(agentId, 'writes')).toBe(1);
  }
}

const agents = (n: number) => Array.from({ length: n }, () => server.seedAgent().id);

describe('LettaTurnWriter + MemoryQueue against the local Letta server', () => {
  it('5xx bursts: every turn lands once, in order', async () => {
    const ids = agents(3);
    server.failNext(4, 503, { route: 'messages.create' });
    const queue = await openQueue({ batchMax: 3 });
    const expected = await enqueueRoundRobin(queue, ids, 6);
    server.failNext(3, 500, { route: 'messages.create' });
    server.failNext(2, 502, { route: 'messages.create' });
    await queue.whenIdle();
    await server.idle();
    expectDeliveredInOrder(expected);
    expect(queue.stats()).toMatchObject({ depth: 0, written: 18, failedPermanently: 0 });
    expect(queue.stats().retries).toBeGreaterThanOrEqual(9);
  });

  it('outage with connection refused: the breaker opens, then everything is written after recovery', async () => {
    const ids = agents(4);
    const queue = await openQueue({ batchMax: 2 });
    await server.refuse();
    const expected = await enqueueRoundRobin(queue, ids, 5);
    await new Promise((r) => setTimeout(r, 300));
    expect(queue.stats().circuit).not.toBe('closed');
    const requestsDuringOutage = queue.stats().retries;
    // With a 50 ms cooldown the breaker allows about one probe per cooldown, not one request per agent per backoff.
    expect(requestsDuringOutage).toBeLessThan(20);
    await server.accept();
    await queue.whenIdle();
    await server.idle();
    expectDeliveredInOrder(expected);
    expect(queue.stats().circuit).toBe('closed');
  });

  it('a response slower than the client timeout is applied by Letta once, the retry is deduplicated by otid', async () => {
    const [agentId] = agents(1);
    server.slowApplyNext(2, 600, 'messages.create');
    // Letta keeps running a request whose client gave up; the settle wait keeps the retry off it.
    const queue = await openQueue({ batchMax: 2, settleAfterTimeoutMs: 700 }, client(150));
    const expected = await enqueueRoundRobin(queue, [agentId], 4);
    await queue.whenIdle();
    await server.idle();
    expectDeliveredInOrder(expected);
    expect(server.duplicatesOf(agentId).length).toBeGreaterThan(0);
  });

  it('an answer lost after the write was applied is not applied twice', async () => {
    const [agentId] = agents(1);
    server.dropAfterApplyNext(2, 'messages.create');
    const queue = await openQueue({ batchMax: 1 });
    const expected = await enqueueRoundRobin(queue, [agentId], 3);
    await queue.whenIdle();
    await server.idle();
    expectDeliveredInOrder(expected);
    expect(server.duplicatesOf(agentId)).toHaveLength(2);
  });

  it('a 422 lands in the dead letters with its reason and is written after a requeue', async () => {
    const [agentId] = agents(1);
    const queue = await openQueue();
    server.failWith422Next(1, { route: 'messages.create', detail: 'Message content rejected by test' });
    const bad = await queue.enqueue(turnInput(agentId, 0));
    await queue.whenIdle();
    expect(queue.deadLetters()).toEqual([
      expect.objectContaining({ status: 422, reason: expect.stringContaining('Message content rejected by test'), turn: expect.objectContaining({ otid: bad.otid }) }),
    ]);
    const good = await queue.enqueue(turnInput(agentId, 1));
    await queue.whenIdle();
    await queue.requeueDeadLetters([bad.id]);
    await queue.whenIdle();
    await server.idle();
    expect(server.userMessagesOf(agentId).map((m) => m.otid)).toEqual([good.otid, bad.otid]);
    expect(queue.stats().deadLetters).toBe(0);
  });

  it('archival strategy: one passage per turn, none duplicated when an applied write loses its answer', async () => {
    const [agentId] = agents(1);
    server.dropAfterApplyNext(1, 'passages.create');
    server.failNext(1, 503, { route: 'passages.create' });
    const queue = await openQueue({ writeStrategy: 'archival', batchMax: 4 });
    const expected = await enqueueRoundRobin(queue, [agentId], 5);
    await queue.whenIdle();
    await server.idle();
    const passages = server.passagesOf(agentId);
    expect(passages.map((p) => p.tags?.find((t) => t.startsWith('turn:')))).toEqual(expected.get(agentId)!.map(turnTag));
    expect(passages[0].text).toContain('User: user 0');
    expect(server.userMessagesOf(agentId)).toEqual([]);
  });

  it('reports an unknown agent as non-retryable', async () => {
    const writer = new LettaTurnWriter(client(), { strategy: 'agent' });
    const queue = await MemoryQueue.inMemory({}, { writer });
    queues.push(queue);
    await queue.enqueue(turnInput('agent-00000000-0000-4000-8000-000000000000', 0));
    await queue.whenIdle();
    expect(queue.deadLetters()[0]).toMatchObject({ status: 404 });
  });
});
