import { spawnSync } from 'node:child_process';
import { appendFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DataDirLockedError, LOCK_FILE } from '../../src/memory/journal/data-dir-lock.js';
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

const journalRecords = async () => (await readJournal(join(dataDir, JOURNAL_FILE))).records;

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
    expect((await stat(join(dataDir, JOURNAL_FILE))).size).toBe(0);
  });

  it('survives a torn final line and group-commits concurrent appends', async () => {
    const first = await openQueue(stalledWriter());
    const turns = await Promise.all(Array.from({ length: 50 }, (_, n) => first.enqueue(turnInput(`agent-${n % 5}`, n))));
    // Simulate the crash: copy what is on disk, plus half a record, and abandon the queue's lock.
    const onDisk = await readFile(join(dataDir, JOURNAL_FILE), 'utf8');
    await first.close({ deadlineMs: 0 });
    await writeFile(join(dataDir, JOURNAL_FILE), `${onDisk}{"v":1,"type":"turn","turn":{"id":"tor`);

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

describe('data dir lock', () => {
  it('refuses a second live worker', async () => {
    await openQueue(stalledWriter());
    await expect(MemoryQueue.open({ dataDir }, { writer: new FakeTurnWriter() })).rejects.toBeInstanceOf(DataDirLockedError);
  });

  it('takes over the lock of a dead process', async () => {
    const deadPid = spawnSync(process.execPath, ['-e', '0']).pid;
    await writeFile(join(dataDir, LOCK_FILE), JSON.stringify({ pid: deadPid, host: hostname(), startedAt: 1 }));
    const queue = await openQueue(new FakeTurnWriter());
    const owner = JSON.parse(await readFile(join(dataDir, LOCK_FILE), 'utf8')) as { pid: number };
    expect(owner.pid).toBe(process.pid);
    await queue.close({ deadlineMs: 0 });
    await expect(stat(join(dataDir, LOCK_FILE))).rejects.toMatchObject({ code: 'ENOENT' });
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
    await postRequeueRequest(dataDir, [bad.id]);
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
    await postRequeueRequest(dataDir, 'all');
    const writer = new FakeTurnWriter();
    const second = await openQueue(writer);
    await second.whenIdle();
    expect(writer.appliedTurnIds('a')).toEqual([bad.id]);
  });

  it('ignores garbage lines in the middle of the journal', async () => {
    const first = await openQueue(stalledWriter());
    const a = await first.enqueue(turnInput('a', 0));
    await first.close({ deadlineMs: 0 });
    await appendFile(join(dataDir, JOURNAL_FILE), 'not json\n');
    const second = await openQueue(stalledWriter());
    expect(second.stats().pendingByAgent).toEqual({ a: 1 });
    await second.close({ deadlineMs: 0 });
    expect((await journalRecords()).map((r) => (r.type === 'turn' ? r.turn.id : r.type))).toEqual([a.id]);
  });
});
