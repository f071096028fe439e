import { appendFile, lstat, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { inspectDataDir } from '../../src/memory/journal/inspect-data-dir.js';
import { readJournal } from '../../src/memory/journal/journal-reader.js';
import { DEAD_LETTERS_FILE, JOURNAL_FILE } from '../../src/memory/journal/journal-store.js';
import { QUARANTINE_FILE, readQuarantine } from '../../src/memory/journal/quarantine.js';
import { MemoryJournalUnavailableError, MemoryQueue } from '../../src/memory/memory-queue.js';
import type { MemoryQueueOptions } from '../../src/memory/options.js';
import { FaultyFs } from './faulty-fs.js';
import { FakeTurnWriter, deferred, rejected, turnInput } from './fake-turn-writer.js';

let dataDir: string;
const opened: MemoryQueue[] = [];

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'memory-faults-'));
});
afterEach(async () => {
  await Promise.all(opened.splice(0).map((q) => q.close({ deadlineMs: 0 })));
  await rm(dataDir, { recursive: true, force: true });
});

async function openQueue(writer: FakeTurnWriter, options: Partial<MemoryQueueOptions> = {}, fs?: FaultyFs) {
  const queue = await MemoryQueue.open(
    { dataDir, retryBaseMs: 2, retryMaxMs: 10, housekeepingIntervalMs: 20, ...options },
    { writer, ...(fs ? { journalFs: fs } : {}) },
  );
  opened.push(queue);
  return queue;
}

function stalledWriter() {
  const writer = new FakeTurnWriter();
  writer.gate = new Promise(() => {});
  return writer;
}

const journalPath = () => join(dataDir, 'worker-0', JOURNAL_FILE);

async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('short writes and a full disk', () => {
  it('completes records written a few bytes at a time', async () => {
    const fs = new FaultyFs();
    fs.maxBytesPerWrite = 7;
    const first = await openQueue(stalledWriter(), {}, fs);
    const turns = await Promise.all(Array.from({ length: 10 }, (_, n) => first.enqueue(turnInput('a', n))));
    expect(fs.shortWrites).toBeGreaterThan(10);
    const { records, unreadable, tornTail } = await readJournal(journalPath());
    expect(unreadable).toEqual([]);
    expect(tornTail).toBeUndefined();
    expect(records.map((r) => r.type === 'turn' && r.turn.id)).toEqual(turns.map((t) => t.id));
  });

  it('never reports a record durable when the disk filled up mid-write, and leaves no partial line', async () => {
    const fs = new FaultyFs();
    const queue = await openQueue(stalledWriter(), { unjournaledMax: 0 }, fs);
    const kept = await queue.enqueue(turnInput('a', 0));
    const sizeBefore = (await stat(journalPath())).size;
    fs.freeBytes = 40; // part of the next record fits, the rest does not
    await expect(queue.enqueue(turnInput('a', 1))).rejects.toBeInstanceOf(MemoryJournalUnavailableError);
    expect(fs.shortWrites).toBe(1);
    expect((await stat(journalPath())).size).toBe(sizeBefore);
    expect(queue.stats().depth).toBe(1);
    await queue.close({ deadlineMs: 0 });
    opened.splice(0);
    fs.freeBytes = Number.POSITIVE_INFINITY;
    const writer = new FakeTurnWriter();
    const again = await openQueue(writer);
    await again.whenIdle();
    expect(writer.appliedTurnIds('a')).toEqual([kept.id]);
  });

  it('keeps delivering on a full disk (turns held in memory within the bound, no lease file needed) and journals them when space returns', async () => {
    const fs = new FaultyFs();
    const writer = new FakeTurnWriter();
    const gate = deferred();
    writer.gate = gate.promise;
    const queue = await openQueue(writer, { unjournaledMax: 2, housekeepingIntervalMs: 20 }, fs);
    const journaled = await queue.enqueue(turnInput('a', 0));
    fs.fill();
    fs.linksFail = true; // no lock or ticket can be created either
    const held = [await queue.enqueue(turnInput('a', 1)), await queue.enqueue(turnInput('a', 2))];
    await expect(queue.enqueue(turnInput('a', 3))).rejects.toThrow(/cannot be written.*2 unjournaled turns/);
    expect(queue.stats().unjournaled).toBe(2);

    // A Letta-mode reply is not held up by the missing lease.
    const reply = queue.runExclusive('b', async () => 'answered');
    await expect(reply).resolves.toBe('answered');

    gate.resolve();
    await queue.whenIdle();
    expect(writer.appliedTurnIds('a')).toEqual([journaled.id, ...held.map((t) => t.id)]);
    expect(queue.stats().unjournaled).toBe(0);

    // Space returns: the acknowledgements that could not be journaled are written by housekeeping.
    fs.freeBytes = Number.POSITIVE_INFINITY;
    fs.linksFail = false;
    await until(async () => {
      const records = (await readJournal(journalPath())).records;
      return records.some((r) => r.type === 'ack' && r.ids.includes(journaled.id));
    });
    await queue.close({ deadlineMs: 100 });
    opened.splice(0);
    const again = await openQueue(stalledWriter());
    expect(again.stats().depth).toBe(0);
  });

  it('journals a held turn once space returns, so it survives a restart', async () => {
    const fs = new FaultyFs();
    const queue = await openQueue(stalledWriter(), { housekeepingIntervalMs: 10 }, fs);
    fs.fill();
    const turn = await queue.enqueue(turnInput('a', 0));
    expect(queue.stats().unjournaled).toBe(1);
    fs.freeBytes = Number.POSITIVE_INFINITY;
    await until(() => queue.stats().unjournaled === 0);
    await queue.close({ deadlineMs: 0 });
    opened.splice(0);
    const writer = new FakeTurnWriter();
    const again = await openQueue(writer);
    await again.whenIdle();
    expect(writer.appliedTurnIds('a')).toEqual([turn.id]);
  });
});

describe('quarantine of unreadable lines', () => {
  it('sets torn, garbage, newer-version and invalid UTF-8 lines aside with their origin, and memory:status shows them', async () => {
    const first = await openQueue(stalledWriter());
    const good = await first.enqueue(turnInput('a', 0));
    await first.close({ deadlineMs: 0 });
    opened.splice(0);
    const validLine = (await readFile(journalPath(), 'utf8')).trimEnd();
    const invalidUtf8 = Buffer.concat([Buffer.from(validLine.replace(good.id, 'turn-bad').replace('user 0', 'caf')), Buffer.from([0xc3, 0x28, 0x0a])]);
    const newer = `${JSON.stringify({ v: 2, type: 'turn', turn: { id: 'future' } })}\n`;
    // Lines 2-4 unreadable, then a torn tail.
    await appendFile(journalPath(), Buffer.concat([Buffer.from('not json\n'), invalidUtf8, Buffer.from(newer), Buffer.from('{"v":1,"type":"tu')]));
    const offsetOfGarbage = Buffer.byteLength(`${validLine}\n`);

    const second = await openQueue(stalledWriter());
    expect(second.stats().pendingByAgent).toEqual({ a: 1 });
    const entries = await readQuarantine(join(dataDir, 'worker-0'));
    expect(entries.map((e) => [e.line, e.reason])).toEqual([
      [5, 'torn final line (write cut short, never acknowledged)'],
      [2, 'not JSON (torn or garbage)'],
      [3, 'invalid UTF-8'],
      [4, 'record version 2 is newer than this worker reads (1)'],
    ]);
    expect(entries.every((e) => e.source === journalPath())).toBe(true);
    expect(entries[1].offset).toBe(offsetOfGarbage);
    // Byte for byte: the bad UTF-8 is kept, not replaced by U+FFFD.
    expect(Buffer.from(entries[2].bytesBase64, 'base64').equals(invalidUtf8.subarray(0, -1))).toBe(true);
    // Compaction ran: the journal holds only the readable turn now.
    expect((await readFile(journalPath(), 'utf8')).split('\n').filter(Boolean).map((line) => JSON.parse(line) as unknown)).toEqual([JSON.parse(validLine)]);

    await second.close({ deadlineMs: 0 });
    opened.splice(0);
    const third = await openQueue(stalledWriter());
    expect(await readQuarantine(join(dataDir, 'worker-0'))).toHaveLength(4); // not added twice
    const report = await inspectDataDir(dataDir);
    expect(report.quarantined).toBe(4);
    expect(report.slots[0].quarantine.entries[1]).toMatchObject({ source: journalPath(), line: 2, reason: 'not JSON (torn or garbage)', preview: 'not json' });
    await third.close({ deadlineMs: 0 });
  });

  it('quarantines a whole UTF-16 file as one entry and keeps its bytes', async () => {
    const first = await openQueue(stalledWriter());
    await first.enqueue(turnInput('a', 0));
    await first.close({ deadlineMs: 0 });
    opened.splice(0);
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(await readFile(journalPath(), 'utf8'), 'utf16le')]);
    await writeFile(journalPath(), utf16);

    const second = await openQueue(stalledWriter());
    expect(second.stats().depth).toBe(0);
    const entries = await readQuarantine(join(dataDir, 'worker-0'));
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ line: 1, offset: 0, reason: 'whole file is UTF-16 (byte order mark), not UTF-8 JSON lines' });
    expect(Buffer.from(entries[0].bytesBase64, 'base64').equals(utf16)).toBe(true);
  });

  it('does not compact away unreadable lines it could not quarantine (disk full)', async () => {
    const first = await openQueue(stalledWriter());
    await first.enqueue(turnInput('a', 0));
    await first.close({ deadlineMs: 0 });
    opened.splice(0);
    await appendFile(journalPath(), 'garbage that must survive\n');
    const fs = new FaultyFs();
    fs.failOpen = new RegExp(QUARANTINE_FILE.replace('.', '\\.'));
    const second = await openQueue(stalledWriter(), { compactEvery: 1 }, fs);
    await second.enqueue(turnInput('a', 1));
    await second.close({ deadlineMs: 0 });
    opened.splice(0);
    expect(await readFile(journalPath(), 'utf8')).toContain('garbage that must survive\n');
    expect(await readQuarantine(join(dataDir, 'worker-0'))).toEqual([]);
    // Once the quarantine can be written, the line moves there.
    const third = await openQueue(stalledWriter());
    expect(third.stats().depth).toBe(2);
    expect((await readQuarantine(join(dataDir, 'worker-0'))).map((e) => e.reason)).toEqual(['not JSON (torn or garbage)']);
    expect(await readFile(journalPath(), 'utf8')).not.toContain('garbage');
  });
});

describe('dead-letter file and retention', () => {
  it('keeps dead letters in their own file, untouched by journal compactions', async () => {
    const writer = new FakeTurnWriter((call) => (call.agentId === 'gone' ? { kind: 'fail', error: rejected(404) } : { kind: 'ok' }));
    const queue = await openQueue(writer, { compactEvery: 5, batchMax: 1 });
    const bad = (await queue.enqueue(turnInput('gone', 0))).id;
    await queue.whenIdle();
    await (queue as unknown as { store: { compact(): Promise<void> } }).store.compact();
    const deadFile = join(dataDir, 'worker-0', DEAD_LETTERS_FILE);
    const before = await lstat(deadFile);
    for (let n = 1; n <= 30; n++) await queue.enqueue(turnInput('a', n));
    await queue.whenIdle();
    await (queue as unknown as { store: { compact(): Promise<void> } }).store.compact();
    const after = await lstat(deadFile);
    expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs]);
    expect((await readJournal(journalPath())).records).toEqual([]);
    expect(queue.deadLetters().map((l) => l.turn.id)).toEqual([bad]);
    await queue.close({ deadlineMs: 0 });
    opened.splice(0);
    const report = await inspectDataDir(dataDir);
    expect(report.deadLetters.map((l) => l.turn.id)).toEqual([bad]);
  });

  it('drops dead letters past MEMORY_DEAD_LETTER_RETENTION_DAYS at a compaction', async () => {
    const writer = new FakeTurnWriter(() => ({ kind: 'fail', error: rejected(422) }));
    const oneMsInDays = 1 / (24 * 60 * 60 * 1000);
    const first = await openQueue(writer, { deadLetterRetentionDays: 365 });
    await first.enqueue(turnInput('a', 0));
    await first.whenIdle();
    await first.close({ deadlineMs: 0 });
    opened.splice(0);
    expect((await inspectDataDir(dataDir)).deadLetters).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 5));
    const second = await openQueue(stalledWriter(), { deadLetterRetentionDays: oneMsInDays });
    expect(second.deadLetters()).toEqual([]);
    await second.close({ deadlineMs: 0 });
    expect((await inspectDataDir(dataDir)).deadLetters).toEqual([]);
  });
});
