import { spawnSync } from 'node:child_process';
import { appendFile, lstat, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DataDirLock, DataDirLockedError, LOCK_FILE, readLockOwner } from '../../src/memory/journal/data-dir-lock.js';
import { readJournal } from '../../src/memory/journal/journal-reader.js';
import { JOURNAL_FILE } from '../../src/memory/journal/journal-store.js';
import { postRequeueRequest } from '../../src/memory/journal/requeue-inbox.js';
import { MemoryQueue } from '../../src/memory/memory-queue.js';
import type { MemoryQueueOptions } from '../../src/memory/options.js';
import { FakeTurnWriter, deferred, rejected, turnInput } from './fake-turn-writer.js';

let dataDir: string;
const opened: MemoryQueue[] = [];

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'memory-journal-'));
});
afterEach(async () => {
  await Promise.all(opened.splice(0).map((q) => q.close({ deadlineMs: 0 })));
  await rm(dataDir, { recursive: true, force: true });
});

async function openQueue(writer: FakeTurnWriter, options: Partial<MemoryQueueOptions> = {}) {
  const queue = await MemoryQueue.open({ dataDir, retryBaseMs: 2, retryMaxMs: 10, housekeepingIntervalMs: 20, ...options }, { writer });
  opened.push(queue);
  return queue;
}

/** A writer whose requests never finish until released: turns stay pending. */
function stalledWriter() {
  const writer = new FakeTurnWriter();
  writer.gate = new Promise(() => {});
  return writer;
}

const slot = (n = 0) => join(dataDir, `worker-${n}`);
const journalRecords = async (n = 0) => (await readJournal(join(slot(n), JOURNAL_FILE))).records;

describe('journal durability', () => {
  it('has the turn on disk when enqueue resolves', async () => {
    const queue = await openQueue(stalledWriter());
    const turn = await queue.enqueue(turnInput('a', 0));
    const records = await journalRecords();
    expect(records).toContainEqual({ v: 1, type: 'turn', turn: { ...turn } });
  });

  it('replays unacknowledged turns per agent in original order, with their otids', async () => {
    const first = await openQueue(stalledWriter(), { batchMax: 2 });
    const enqueued = [];
    for (let n = 0; n < 5; n++) for (const agent of ['a', 'b']) enqueued.push(await first.enqueue(turnInput(agent, n)));
    const closed = await first.close({ deadlineMs: 10 });
    expect(closed.pending).toHaveLength(10);

    const writer = new FakeTurnWriter();
    const second = await openQueue(writer, { batchMax: 2 });
    await second.whenIdle();
    for (const agent of ['a', 'b']) {
      expect(writer.appliedTurnIds(agent)).toEqual(enqueued.filter((t) => t.agentId === agent).map((t) => t.id));
    }
    const otids = writer.calls.flatMap((c) => c.otids);
    expect(new Set(otids)).toEqual(new Set(enqueued.map((t) => t.otid)));
    expect(writer.calls.every((c) => c.attempts.every((a) => a >= 1))).toBe(true);
  });

  it('drops acknowledged turns from the journal on compaction', async () => {
    const writer = new FakeTurnWriter();
    const queue = await openQueue(writer, { compactEvery: 10 });
    for (let n = 0; n < 30; n++) await queue.enqueue(turnInput('a', n));
    await queue.whenIdle();
    await queue.close({ deadlineMs: 100 });
    expect(await journalRecords()).toEqual([]);
    expect((await stat(join(slot(), JOURNAL_FILE))).size).toBe(0);
  });

  it('survives a torn final line and group-commits concurrent appends', async () => {
    const first = await openQueue(stalledWriter());
    const turns = await Promise.all(Array.from({ length: 50 }, (_, n) => first.enqueue(turnInput(`agent-${n % 5}`, n))));
    // Simulate the crash: copy what is on disk, plus half a record, and abandon the queue's lock.
    const onDisk = await readFile(join(slot(), JOURNAL_FILE), 'utf8');
    await first.close({ deadlineMs: 0 });
    await writeFile(join(slot(), JOURNAL_FILE), `${onDisk}{"v":1,"type":"turn","turn":{"id":"tor`);

    const writer = new FakeTurnWriter();
    const second = await openQueue(writer);
    await second.whenIdle();
    expect(second.stats().written).toBe(50);
    for (let agent = 0; agent < 5; agent++) {
      const id = `agent-${agent}`;
      expect(writer.appliedTurnIds(id)).toEqual(turns.filter((t) => t.agentId === id).map((t) => t.id));
    }
  });
});

describe('data dir lock and slots', () => {
  it('refuses a second holder of one directory', async () => {
    await mkdir(slot(), { recursive: true });
    const lock = await DataDirLock.acquire(slot());
    await expect(DataDirLock.acquire(slot())).rejects.toBeInstanceOf(DataDirLockedError);
    await lock.release();
    await (await DataDirLock.acquire(slot())).release();
  });

  it('gives a second live worker (another job process) its own slot', async () => {
    const first = await openQueue(stalledWriter());
    const second = await openQueue(stalledWriter());
    await first.enqueue(turnInput('a', 0));
    await second.enqueue(turnInput('b', 0));
    expect((await journalRecords(0)).map((r) => r.type === 'turn' && r.turn.agentId)).toEqual(['a']);
    expect((await journalRecords(1)).map((r) => r.type === 'turn' && r.turn.agentId)).toEqual(['b']);
  });

  it('takes over the slot of a dead process', async () => {
    const deadPid = spawnSync(process.execPath, ['-e', '0']).pid;
    await mkdir(slot(), { recursive: true });
    await writeFile(join(slot(), LOCK_FILE), JSON.stringify({ pid: deadPid, host: hostname(), startedAt: 1 }));
    const queue = await openQueue(new FakeTurnWriter());
    expect((await readLockOwner(slot()))?.pid).toBe(process.pid);
    await queue.close({ deadlineMs: 0 });
    await expect(lstat(join(slot(), LOCK_FILE))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(stat(join(slot(1)))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('adopts the turns of slots whose worker is gone', async () => {
    const a = await openQueue(stalledWriter());
    const b = await openQueue(stalledWriter());
    const turnsA = [await a.enqueue(turnInput('shared', 0)), await a.enqueue(turnInput('only-a', 0))];
    const turnsB = [await b.enqueue(turnInput('shared', 1)), await b.enqueue(turnInput('only-b', 0))];
    await a.close({ deadlineMs: 0 });
    await b.close({ deadlineMs: 0 });

    const writer = new FakeTurnWriter();
    const c = await openQueue(writer);
    await c.whenIdle();
    expect(writer.appliedTurnIds('shared')).toEqual([turnsA[0].id, turnsB[0].id]);
    expect(writer.appliedTurnIds('only-a')).toEqual([turnsA[1].id]);
    expect(writer.appliedTurnIds('only-b')).toEqual([turnsB[1].id]);
    expect(await journalRecords(1)).toEqual([]);
  });

  it('never lets two worker processes send to one agent at the same time', async () => {
    const writer = new FakeTurnWriter();
    writer.delayMs = 3;
    const a = await openQueue(writer, { batchMax: 1 });
    const b = await openQueue(writer, { batchMax: 1 });
    const events: string[] = [];
    const reply = a.runExclusive('shared', async () => {
      events.push(`reply start ${writer.calls.length}`);
      await new Promise((r) => setTimeout(r, 60));
      events.push(`reply end ${writer.calls.length}`);
    });
    await new Promise((r) => setTimeout(r, 5));
    for (let n = 0; n < 6; n++) await Promise.all([a.enqueue(turnInput('shared', n)), b.enqueue(turnInput('shared', 100 + n))]);
    await reply;
    await Promise.all([a.whenIdle(), b.whenIdle()]);
    expect(writer.maxActivePerAgent).toBe(1);
    expect(writer.appliedTurnIds('shared')).toHaveLength(12);
    // Process b's writes waited for process a's reply.
    expect(events).toEqual(['reply start 0', 'reply end 0']);
  });
});

describe('dead letters in the journal', () => {
  it('persist across restarts with their reason and can be requeued through the inbox while running', async () => {
    const writer = new FakeTurnWriter(() => ({ kind: 'fail', error: rejected(422, 'Letta answered 422 bad content') }));
    const first = await openQueue(writer);
    const bad = await first.enqueue(turnInput('a', 0));
    await first.whenIdle();
    await first.close({ deadlineMs: 0 });

    const fixed = new FakeTurnWriter();
    const second = await openQueue(fixed);
    expect(second.deadLetters()).toEqual([expect.objectContaining({ reason: 'Letta answered 422 bad content', status: 422, turn: expect.objectContaining({ id: bad.id, otid: bad.otid }) })]);
    const acked = deferred();
    second.onAcknowledged(() => acked.resolve());
    await postRequeueRequest(slot(), [bad.id]);
    await acked.promise;
    expect(fixed.appliedTurnIds('a')).toEqual([bad.id]);
    expect(second.deadLetters()).toEqual([]);
    await second.close({ deadlineMs: 100 });
    expect(await journalRecords()).toEqual([]);
  });

  it('picks up a requeue request left while no worker ran', async () => {
    const first = await openQueue(new FakeTurnWriter(() => ({ kind: 'fail', error: rejected(404, 'Letta answered 404 no such agent') })));
    const bad = await first.enqueue(turnInput('a', 0));
    await first.whenIdle();
    await first.close({ deadlineMs: 0 });
    await postRequeueRequest(slot(), 'all');
    const writer = new FakeTurnWriter();
    const second = await openQueue(writer);
    await second.whenIdle();
    expect(writer.appliedTurnIds('a')).toEqual([bad.id]);
  });

  it('ignores garbage lines in the middle of the journal', async () => {
    const first = await openQueue(stalledWriter());
    const a = await first.enqueue(turnInput('a', 0));
    await first.close({ deadlineMs: 0 });
    await appendFile(join(slot(), JOURNAL_FILE), 'not json\n');
    const second = await openQueue(stalledWriter());
    expect(second.stats().pendingByAgent).toEqual({ a: 1 });
    await second.close({ deadlineMs: 0 });
    expect((await journalRecords()).map((r) => (r.type === 'turn' ? r.turn.id : r.type))).toEqual([a.id]);
  });
});
