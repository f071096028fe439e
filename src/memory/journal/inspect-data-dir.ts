import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { QueueStats } from '../queue-stats.js';
import type { DeadLetter, PendingTurn } from '../turn.js';
import { isOwnerAlive, readLockOwner, type LockOwner } from './data-dir-lock.js';
import { JOURNAL_FILE, STATUS_FILE } from './journal-store.js';
import { previewOf, QUARANTINE_FILE, readQuarantine } from './quarantine.js';
import { readSlot } from './slot-contents.js';
import { listSlotDirs } from './slots.js';

export type AgentBacklog = { agentId: string; pending: number; oldestEnqueuedAt: number };

export type SlotReport = {
  dir: string;
  journalBytes: number;
  records: number;
  tornTailBytes: number;
  /** Unreadable lines still in the journal or dead-letter file (each is copied to the quarantine file first). */
  invalidLines: number;
  /** Everything ever set aside as unreadable, beside the journal; the bytes themselves are in the file. */
  quarantine: { file: string; entries: QuarantinedLine[] };
  worker: { state: 'running'; owner: LockOwner } | { state: 'stopped' } | { state: 'crashed'; owner: LockOwner };
  pending: PendingTurn[];
  deadLetters: DeadLetter[];
  /** Live numbers published by the running worker, if any. */
  live?: { updatedAt: number; stats: QueueStats };
};

export type QuarantinedLine = { source: string; line: number; offset: number; reason: string; at: number; bytes: number; preview: string };

export type DataDirReport = {
  dataDir: string;
  slots: SlotReport[];
  /** All slots together; per agent, each slot's turns keep their order. */
  pending: PendingTurn[];
  backlog: AgentBacklog[];
  deadLetters: Array<DeadLetter & { slot: string }>;
  quarantined: number;
};

/**
 * Reads a data dir without taking any lock, so it works next to running workers: journals are
 * only appended to or atomically replaced, and a torn last line is ignored.
 */
export async function inspectDataDir(dataDir: string): Promise<DataDirReport> {
  const slots = await Promise.all((await listSlotDirs(dataDir)).map(inspectSlot));
  const pending = slots.flatMap((slot) => slot.pending);
  return {
    dataDir,
    slots,
    pending,
    backlog: backlogByAgent(pending),
    deadLetters: slots.flatMap((slot) => slot.deadLetters.map((letter) => ({ ...letter, slot: slot.dir }))),
    quarantined: slots.reduce((n, slot) => n + slot.quarantine.entries.length, 0),
  };
}

async function inspectSlot(dir: string): Promise<SlotReport> {
  const path = join(dir, JOURNAL_FILE);
  const { journal: contents, state, unreadable } = await readSlot(dir);
  const quarantine = (await readQuarantine(dir)).map(
    (entry): QuarantinedLine => ({
      source: entry.source,
      line: entry.line,
      offset: entry.offset,
      reason: entry.reason,
      at: entry.at,
      bytes: Buffer.from(entry.bytesBase64, 'base64').length,
      preview: previewOf(entry),
    }),
  );
  const owner = await readLockOwner(dir);
  const worker: SlotReport['worker'] = !owner ? { state: 'stopped' } : isOwnerAlive(owner) ? { state: 'running', owner } : { state: 'crashed', owner };
  const live = worker.state === 'running' ? await readLiveStatus(dir, worker.owner.pid) : undefined;
  return {
    dir,
    journalBytes: await stat(path).then((s) => s.size, () => 0),
    records: contents.records.length,
    tornTailBytes: contents.tornTail?.bytes.length ?? 0,
    invalidLines: unreadable.reduce((n, file) => n + file.lines.length, 0) - (contents.tornTail ? 1 : 0),
    quarantine: { file: join(dir, QUARANTINE_FILE), entries: quarantine },
    worker,
    pending: [...state.pending.values()],
    deadLetters: [...state.dead.values()],
    ...(live ? { live } : {}),
  };
}

function backlogByAgent(pending: readonly PendingTurn[]): AgentBacklog[] {
  const byAgent = new Map<string, AgentBacklog>();
  for (const turn of pending) {
    const entry = byAgent.get(turn.agentId) ?? { agentId: turn.agentId, pending: 0, oldestEnqueuedAt: turn.enqueuedAt };
    entry.pending += 1;
    entry.oldestEnqueuedAt = Math.min(entry.oldestEnqueuedAt, turn.enqueuedAt);
    byAgent.set(turn.agentId, entry);
  }
  return [...byAgent.values()].sort((a, b) => a.oldestEnqueuedAt - b.oldestEnqueuedAt);
}

async function readLiveStatus(dir: string, pid: number): Promise<SlotReport['live']> {
  try {
    const parsed = JSON.parse(await readFile(join(dir, STATUS_FILE), 'utf8')) as { pid?: number; updatedAt?: number; stats?: QueueStats };
    if (parsed.pid !== pid || typeof parsed.updatedAt !== 'number' || !parsed.stats) return undefined;
    return { updatedAt: parsed.updatedAt, stats: parsed.stats };
  } catch {
    return undefined;
  }
}
