import Letta from '@letta-ai/letta-client';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LettaTurnWriter, WRITE_BEHIND_NOTE, turnTag } from '../../src/memory/letta-turn-writer.js';
import { MemoryQueue } from '../../src/memory/memory-queue.js';
import type { MemoryQueueOptions } from '../../src/memory/options.js';
import type { PendingTurn } from '../../src/memory/turn.js';
import { letta409, startLettaServer, type LettaServer } from '../../simulation/stand-ins/letta-server.js';
import { turnInput } from './fake-turn-writer.js';
import { createPendingTurn } from '../../src/memory/turn.js';

const pendingTurn = (agentId: string, n: number) => createPendingTurn(turnInput(agentId, n), Date.now());

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

/**
 * Every turn stored exactly once (the stand-in, like Letta, stores a resent otid again), in enqueue order,
 * as the agent's history should show it: what the caller said, what they heard, then the write-behind note.
 */
function expectDeliveredInOrder(expected: Map<string, PendingTurn[]>) {
  for (const [agentId, turns] of expected) {
    const stored = server.userMessagesOf(agentId);
    expect(stored.map((m) => m.otid)).toEqual(turns.map((t) => t.otid));
    expect(stored.map((m) => m.text)).toEqual(turns.map((t) => t.userText));
    const heard = server.clientMessagesOf(agentId).filter((m) => m.role === 'assistant');
    expect(heard.map((m) => m.text)).toEqual(turns.map((t) => t.assistantText));
    expect(server.clientMessagesOf(agentId).filter((m) => m.role === 'system').every((m) => m.text === WRITE_BEHIND_NOTE)).toBe(true);
    expect(server.duplicatesOf(agentId)).toEqual([]);
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

  it('a response slower than the client timeout is applied once: the retry finds its turns in the history and sends nothing', async () => {
    const [agentId] = agents(1);
    server.slowApplyNext(2, 600, 'messages.create');
    // Letta keeps running a request whose client gave up; the settle wait keeps the retry off it.
    const queue = await openQueue({ batchMax: 2, settleAfterTimeoutMs: 700 }, client(150));
    const expected = await enqueueRoundRobin(queue, [agentId], 4);
    await queue.whenIdle();
    await server.idle();
    expectDeliveredInOrder(expected);
    expect(server.requests.filter((r) => r.route === 'messages.list').length).toBeGreaterThan(0);
  });

  it('an answer lost after the write was applied is not applied twice', async () => {
    const [agentId] = agents(1);
    server.dropAfterApplyNext(2, 'messages.create');
    const queue = await openQueue({ batchMax: 1 });
    const expected = await enqueueRoundRobin(queue, [agentId], 3);
    await queue.whenIdle();
    await server.idle();
    expectDeliveredInOrder(expected);
    // Two lost answers: each retry first reads the history and finds its turn already there.
    expect(server.requests.filter((r) => r.route === 'messages.create')).toHaveLength(3);
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

  it('a retry while the first attempt still runs in Letta waits for that run instead of resending', async () => {
    const [agentId] = agents(1);
    // Letta stores the input only when the first step ends (800 ms here); the client gives up after 150 ms and
    // the settle wait is too short to cover the step, as after a worker restart.
    server.options.messageLatencyMs = 800;
    const queue = await openQueue({ batchMax: 2, settleAfterTimeoutMs: 20 }, client(150));
    const expected = await enqueueRoundRobin(queue, [agentId], 2);
    await queue.whenIdle();
    await server.idle();
    expectDeliveredInOrder(expected);
    expect(server.requests.filter((r) => r.route === 'runs.list').length).toBeGreaterThan(0);
  });

  it('a resent batch sends only the turns that did not land', async () => {
    const [agentId] = agents(1);
    const writer = new LettaTurnWriter(client(), { strategy: 'agent' });
    const first = { ...pendingTurn(agentId, 0), attempts: 1 };
    await writer.write(agentId, [first], new AbortController().signal);
    const second = pendingTurn(agentId, 1);
    // Both may have been sent before (e.g. replayed after a restart): the history decides.
    await writer.write(agentId, [{ ...first, attempts: 2 }, { ...second, attempts: 2 }], new AbortController().signal);
    await server.idle();
    expect(server.userMessagesOf(agentId).map((m) => m.otid)).toEqual([first.otid, second.otid]);
    expect(server.duplicatesOf(agentId)).toEqual([]);
  });

  it('a PENDING_APPROVAL answer goes to the dead letters at once, with its reason', async () => {
    const [agentId] = agents(1);
    server.conflictNext(1, 'pending-approval', 'messages.create');
    const queue = await openQueue();
    const turn = await queue.enqueue(turnInput(agentId, 0));
    await queue.whenIdle();
    expect(queue.deadLetters()).toEqual([
      expect.objectContaining({ status: 409, reason: expect.stringContaining('PENDING_APPROVAL'), turn: expect.objectContaining({ otid: turn.otid }) }),
    ]);
    expect(queue.stats().retries).toBe(0);
  });

  it('a locked agent (409 with Retry-After) is retried after the time the server asked for', async () => {
    const [agentId] = agents(1);
    // Letta's lock answer, with a shorter Retry-After than its 1 s to keep the test quick.
    server.failNext(1, 409, { route: 'messages.create', body: letta409('locked').body, headers: { 'retry-after': '0.3' } });
    const queue = await openQueue();
    await queue.enqueue(turnInput(agentId, 0));
    await queue.whenIdle();
    const sends = server.requests.filter((r) => r.route === 'messages.create');
    expect(sends).toHaveLength(2);
    // retryMaxMs is 50 here: only the server's Retry-After explains a wait of ~300 ms.
    expect(sends[1].receivedAt - sends[0].receivedAt).toBeGreaterThanOrEqual(250);
    expect(queue.deadLetters()).toEqual([]);
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
