import { afterEach, describe, expect, it } from 'vitest';
import { MemoryQueue } from '../../src/memory/memory-queue.js';
import type { MemoryQueueOptions } from '../../src/memory/options.js';
import type { DeadLetter, PendingTurn } from '../../src/memory/turn.js';
import { FakeTurnWriter, deferred, rejected, retryable, seededRandom, turnInput } from './fake-turn-writer.js';

const fast: Partial<MemoryQueueOptions> = { retryBaseMs: 2, retryMaxMs: 10, breakerFailureThreshold: 1_000, breakerCooldownMs: 5 };
const open: MemoryQueue[] = [];

async function queueWith(writer: FakeTurnWriter, options: Partial<MemoryQueueOptions> = {}) {
  const queue = await MemoryQueue.inMemory({ ...fast, ...options }, { writer, random: seededRandom(7) });
  open.push(queue);
  return queue;
}

async function enqueueMany(queue: MemoryQueue, agents: string[], perAgent: number): Promise<Map<string, string[]>> {
  const expected = new Map<string, string[]>(agents.map((a) => [a, []]));
  for (let n = 0; n < perAgent; n++) {
    for (const agent of agents) {
      const turn = await queue.enqueue(turnInput(agent, n));
      expected.get(agent)!.push(turn.id);
    }
  }
  return expected;
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((q) => q.close({ deadlineMs: 0 })));
});

describe('MemoryQueue ordering and concurrency', () => {
  it('writes every turn once and in order per agent despite failures and lost answers', async () => {
    const random = seededRandom(42);
    const writer = new FakeTurnWriter(() => {
      const roll = random();
      if (roll < 0.25) return { kind: 'fail', error: retryable(503) };
      if (roll < 0.4) return { kind: 'applied-then-fail', error: retryable(504) };
      return { kind: 'ok' };
    });
    writer.delayMs = 1;
    const queue = await queueWith(writer, { batchMax: 3, maxConcurrency: 3 });
    const expected = await enqueueMany(queue, ['a', 'b', 'c', 'd'], 15);
    await queue.whenIdle();

    for (const [agent, ids] of expected) expect(writer.appliedTurnIds(agent)).toEqual(ids);
    expect(writer.maxActivePerAgent).toBe(1);
    expect(queue.stats()).toMatchObject({ depth: 0, inFlight: 0, written: 60, failedPermanently: 0 });
    expect(queue.stats().retries).toBeGreaterThan(0);
  });

  it('never sends two requests to one agent at once, and runs agents in parallel up to the bound', async () => {
    const writer = new FakeTurnWriter();
    writer.delayMs = 5;
    const queue = await queueWith(writer, { batchMax: 1, maxConcurrency: 3 });
    await enqueueMany(queue, ['a', 'b', 'c', 'd', 'e', 'f'], 4);
    await queue.whenIdle();
    expect(writer.maxActivePerAgent).toBe(1);
    expect(writer.maxActive).toBe(3);
  });

  it('reuses the otid on every retry of a turn', async () => {
    const writer = new FakeTurnWriter((_call, index) => (index < 3 ? { kind: 'fail', error: retryable(502) } : { kind: 'ok' }));
    const queue = await queueWith(writer);
    const turn = await queue.enqueue(turnInput('a', 1));
    await queue.whenIdle();
    expect(writer.calls).toHaveLength(4);
    expect(writer.calls.map((c) => c.otids)).toEqual(Array(4).fill([turn.otid]));
    expect(writer.calls.map((c) => c.attempts[0])).toEqual([1, 2, 3, 4]);
    expect(queue.stats().retries).toBe(3);
  });

  it('resends a failed batch unchanged even when more turns arrived meanwhile', async () => {
    const gate = deferred();
    const writer = new FakeTurnWriter((_call, index) => (index === 0 ? { kind: 'fail', error: retryable() } : { kind: 'ok' }));
    writer.gate = gate.promise;
    const queue = await queueWith(writer, { batchMax: 8 });
    const first = await queue.enqueue(turnInput('a', 0));
    await writer.nextCall();
    const later = [await queue.enqueue(turnInput('a', 1)), await queue.enqueue(turnInput('a', 2))];
    gate.resolve();
    await queue.whenIdle();
    expect(writer.calls.map((c) => c.turnIds)).toEqual([[first.id], [first.id], later.map((t) => t.id)]);
  });

  it('batches the backlog of one agent into requests of at most batchMax turns', async () => {
    const gate = deferred();
    const writer = new FakeTurnWriter();
    writer.gate = gate.promise;
    const queue = await queueWith(writer, { batchMax: 4 });
    const ids: string[] = [];
    for (let n = 0; n < 11; n++) ids.push((await queue.enqueue(turnInput('a', n))).id);
    gate.resolve();
    await queue.whenIdle();
    expect(writer.calls.map((c) => c.turnIds.length)).toEqual([1, 4, 4, 2]);
    expect(writer.appliedTurnIds('a')).toEqual(ids);
  });
});

describe('MemoryQueue.runExclusive', () => {
  it('waits for the write in flight and holds off further writes while fn runs', async () => {
    const gate = deferred();
    const writer = new FakeTurnWriter();
    writer.gate = gate.promise;
    const queue = await queueWith(writer);
    const events: string[] = [];
    await queue.enqueue(turnInput('a', 0));
    await writer.nextCall();

    const reply = deferred();
    const exclusive = queue.runExclusive('a', async () => {
      events.push('reply started');
      await queue.enqueue(turnInput('a', 1));
      await reply.promise;
      events.push('reply finished');
      return 'spoken';
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(events).toEqual([]);

    writer.gate = undefined;
    gate.resolve();
    await new Promise((r) => setTimeout(r, 20));
    expect(events).toEqual(['reply started']);
    expect(writer.calls).toHaveLength(1);

    const otherAgent = await queue.enqueue(turnInput('b', 0));
    await new Promise((r) => setTimeout(r, 20));
    expect(writer.appliedTurnIds('b')).toEqual([otherAgent.id]);

    reply.resolve();
    await expect(exclusive).resolves.toBe('spoken');
    await queue.whenIdle();
    expect(events).toEqual(['reply started', 'reply finished']);
    expect(writer.calls.filter((c) => c.agentId === 'a')).toHaveLength(2);
  });

  it('does not make the reply wait for a write that is backing off', async () => {
    const writer = new FakeTurnWriter(() => ({ kind: 'fail', error: retryable() }));
    const queue = await queueWith(writer, { retryBaseMs: 10_000, retryMaxMs: 10_000 });
    await queue.enqueue(turnInput('a', 0));
    await writer.nextCall();
    await new Promise((r) => setTimeout(r, 10));
    const started = Date.now();
    await queue.runExclusive('a', async () => undefined);
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

describe('MemoryQueue failures', () => {
  it('dead-letters a non-retryable answer with its reason, isolating it from the rest of the batch', async () => {
    const gate = deferred();
    let badId = '';
    const writer = new FakeTurnWriter((call) =>
      call.turnIds.includes(badId) ? { kind: 'fail', error: rejected(422, 'Letta answered 422 content too long') } : { kind: 'ok' },
    );
    writer.gate = gate.promise;
    const queue = await queueWith(writer, { batchMax: 8 });
    const dead: DeadLetter[] = [];
    queue.onDeadLetter((letter) => dead.push(letter));
    const first = await queue.enqueue(turnInput('a', 0));
    await writer.nextCall();
    const batch: PendingTurn[] = [];
    for (let n = 1; n <= 3; n++) batch.push(await queue.enqueue(turnInput('a', n)));
    badId = batch[1].id;
    writer.gate = undefined;
    gate.resolve();
    await queue.whenIdle();

    expect(writer.appliedTurnIds('a')).toEqual([first.id, batch[0].id, batch[2].id]);
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ turn: { id: badId }, status: 422, reason: 'Letta answered 422 content too long' });
    expect(queue.deadLetters().map((l) => l.turn.id)).toEqual([badId]);
    expect(queue.stats()).toMatchObject({ deadLetters: 1, failedPermanently: 1, written: 3 });

    writer.setDecide(() => ({ kind: 'ok' }));
    const requeued = await queue.requeueDeadLetters('all');
    expect(requeued.map((t) => t.otid)).toEqual([batch[1].otid]);
    await queue.whenIdle();
    expect(writer.appliedTurnIds('a')).toEqual([first.id, batch[0].id, batch[2].id, badId]);
    expect(queue.stats().deadLetters).toBe(0);
  });

  it('gives up after maxAttempts and dead-letters instead of dropping', async () => {
    const writer = new FakeTurnWriter(() => ({ kind: 'fail', error: retryable(500) }));
    const queue = await queueWith(writer, { maxAttempts: 3 });
    await queue.enqueue(turnInput('a', 0));
    await queue.whenIdle();
    expect(writer.calls).toHaveLength(3);
    expect(queue.deadLetters()[0].reason).toMatch(/gave up after 3 attempts: Letta answered 500/);
  });

  it('opens the circuit after consecutive failures and probes once after the cooldown', async () => {
    let healthy = false;
    const writer = new FakeTurnWriter(() => (healthy ? { kind: 'ok' } : { kind: 'fail', error: retryable(503) }));
    const queue = await queueWith(writer, { breakerFailureThreshold: 3, breakerCooldownMs: 300, retryBaseMs: 1, retryMaxMs: 1, maxConcurrency: 4 });
    await enqueueMany(queue, ['a', 'b', 'c', 'd'], 2);
    await new Promise((r) => setTimeout(r, 60));
    const callsWhileOpen = writer.calls.length;
    expect(queue.stats().circuit).toBe('open');
    // With 1 ms backoff and no breaker this would be dozens of calls; the breaker holds it to the
    // threshold (3) plus what was already in flight when it opened (at most maxConcurrency - 1).
    expect(callsWhileOpen).toBeLessThanOrEqual(6);
    // Probe at ~300 ms fails and reopens the circuit until ~600 ms.
    await new Promise((r) => setTimeout(r, 330));
    expect(writer.calls.length - callsWhileOpen).toBe(1);
    healthy = true;
    await queue.whenIdle();
    expect(queue.stats()).toMatchObject({ circuit: 'closed', written: 8 });
  });
});

describe('MemoryQueue lifecycle', () => {
  it('reports acknowledgements and write lag', async () => {
    const writer = new FakeTurnWriter();
    writer.delayMs = 5;
    const queue = await queueWith(writer);
    const acked: Array<[string, string[]]> = [];
    queue.onAcknowledged((agentId, turns) => acked.push([agentId, turns.map((t) => t.id)]));
    const turn = await queue.enqueue(turnInput('a', 0));
    expect(queue.stats().depth).toBe(1);
    await queue.whenIdle();
    expect(acked).toEqual([['a', [turn.id]]]);
    const stats = queue.stats();
    expect(stats.lastWriteLatencyMs).toBeGreaterThanOrEqual(4);
    expect(stats.writeLagMs).toBeGreaterThanOrEqual(stats.lastWriteLatencyMs!);
  });

  it('close drains until the deadline, aborts, and returns what was not written', async () => {
    const writer = new FakeTurnWriter((call) => (call.agentId === 'stuck' ? { kind: 'fail', error: retryable() } : { kind: 'ok' }));
    writer.delayMs = 2;
    const queue = await queueWith(writer, { retryBaseMs: 50, retryMaxMs: 50 });
    const stuck = [await queue.enqueue(turnInput('stuck', 0)), await queue.enqueue(turnInput('stuck', 1))];
    for (let n = 0; n < 5; n++) await queue.enqueue(turnInput('ok', n));
    const result = await queue.close({ deadlineMs: 120 });
    expect(result.written).toBe(5);
    expect(result.pending.map((t) => t.id)).toEqual(stuck.map((t) => t.id));
    await expect(queue.enqueue(turnInput('ok', 9))).rejects.toThrow(/closed/);
  });

  it('close aborts a request that outlives the deadline', async () => {
    const writer = new FakeTurnWriter();
    writer.gate = new Promise(() => {});
    const queue = await queueWith(writer);
    const turn = await queue.enqueue(turnInput('a', 0));
    await writer.nextCall();
    const started = Date.now();
    const result = await queue.close({ deadlineMs: 30 });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(result).toMatchObject({ written: 0, pending: [{ id: turn.id, otid: turn.otid }] });
  });

  it('close does not hang on a writer that ignores the abort', async () => {
    const queue = await MemoryQueue.inMemory(fast, { writer: { write: () => new Promise<void>(() => {}) } });
    const turn = await queue.enqueue(turnInput('a', 0));
    const started = Date.now();
    const result = await queue.close({ deadlineMs: 10 });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(result.pending.map((t) => t.id)).toEqual([turn.id]);
  });
});
