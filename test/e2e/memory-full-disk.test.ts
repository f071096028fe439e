import { execFileSync } from 'node:child_process';
import { mkdtemp, open, rm, rmdir, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJournal } from '../../src/memory/journal/journal-reader.js';
import { JOURNAL_FILE } from '../../src/memory/journal/journal-store.js';
import { MemoryQueue } from '../../src/memory/memory-queue.js';
import { FakeTurnWriter, deferred, turnInput } from '../memory/fake-turn-writer.js';

/**
 * The journal on a real, tiny tmpfs that runs full: the kernel's own short writes and ENOSPC, not
 * an injected fault (test/memory/journal-faults.test.ts covers those without root). Mounting
 * needs root (CAP_SYS_ADMIN); without it the test is skipped with the reason.
 */
let mountPoint: string | undefined;
let skipReason: string | undefined;

beforeAll(async () => {
  if (process.getuid?.() !== 0) {
    skipReason = 'needs root to mount a tmpfs (run npm run test:e2e as root, or in a container with CAP_SYS_ADMIN)';
    return;
  }
  const dir = await mkdtemp(join(tmpdir(), 'memory-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0700', 'tmpfs', dir], { stdio: 'pipe' });
    mountPoint = dir;
  } catch (error) {
    await rmdir(dir).catch(() => {});
    skipReason = `mount -t tmpfs failed: ${(error as { stderr?: Buffer }).stderr?.toString().trim() || (error as Error).message}`;
  }
});

afterAll(async () => {
  if (!mountPoint) return;
  // Lazy: a file handle the failed test left open must not keep the mount around.
  execFileSync('umount', ['-l', mountPoint]);
  await rm(mountPoint, { recursive: true, force: true });
});

/** Writes until the file system refuses; returns the filler's path. */
async function fillDisk(dir: string): Promise<string> {
  const path = join(dir, 'filler');
  const handle = await open(path, 'w');
  const chunk = Buffer.alloc(4096, 0x61);
  try {
    for (;;) await handle.write(chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    await handle.close();
  }
  return path;
}

async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('memory journal on a full tmpfs', () => {
  it('keeps delivering, never reports a partial record durable, and recovers when space returns', async (ctx) => {
    if (!mountPoint) return ctx.skip(skipReason);
    const dataDir = join(mountPoint, 'data');
    const writer = new FakeTurnWriter();
    const gate = deferred();
    writer.gate = gate.promise;
    const queue = await MemoryQueue.open({ dataDir, housekeepingIntervalMs: 20, retryBaseMs: 5, retryMaxMs: 20, unjournaledMax: 8 }, { writer });
    const turns = [await queue.enqueue(turnInput('agent', 0)), await queue.enqueue(turnInput('agent', 1))];
    const filler = await fillDisk(mountPoint);
    // The journal's last page may still have room: turns go in until it is full.
    for (let n = 2; n < 200 && queue.stats().unjournaled < 2; n++) turns.push(await queue.enqueue(turnInput('agent', n)));
    expect(queue.stats().unjournaled).toBe(2);
    const held = turns.slice(-2);
    const journaled = turns.slice(0, -2);
    const onDisk = await readJournal(join(dataDir, 'worker-0', JOURNAL_FILE));
    expect(onDisk.tornTail).toBeUndefined();
    expect(onDisk.unreadable).toEqual([]);
    expect(onDisk.records.map((r) => r.type === 'turn' && r.turn.id)).toEqual(journaled.map((t) => t.id));

    // A Letta-mode reply (another agent: this one has a write in flight, which a reply waits for by design)
    // takes its lease on the full disk without hanging.
    const started = Date.now();
    await queue.runExclusive('other-agent', async () => {});
    expect(Date.now() - started).toBeLessThan(2_000);

    gate.resolve();
    await queue.whenIdle();
    expect(writer.appliedTurnIds('agent')).toEqual([...journaled, ...held].map((t) => t.id));

    await unlink(filler);
    await until(async () => {
      const records = (await readJournal(join(dataDir, 'worker-0', JOURNAL_FILE))).records;
      return records.some((r) => r.type === 'ack' && r.ids.includes(held[1].id));
    });
    await queue.close({ deadlineMs: 1_000 });
    const again = await MemoryQueue.open({ dataDir }, { writer: new FakeTurnWriter() });
    expect(again.stats().depth).toBe(0);
    await again.close({ deadlineMs: 0 });
  });
});
