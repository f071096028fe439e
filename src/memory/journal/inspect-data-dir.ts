import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { QueueStats } from '../queue-stats.js';
import type { DeadLetter, PendingTurn } from '../turn.js';
import { isOwnerAlive, readLockOwner, type LockOwner } from './data-dir-lock.js';
import { readJournal } from './journal-reader.js';
import { JournalState } from './journal-state.js';
import { JOURNAL_FILE, STATUS_FILE } from './journal-store.js';

export type AgentBacklog = { agentId: string; pending: number; oldestEnqueuedAt: number };

export type DataDirReport = {
  dataDir: string;
  journalBytes: number;
  records: number;
  tornTailBytes: number;
  invalidLines: number;
  worker: { state: 'running'; owner: LockOwner } | { state: 'stopped' } | { state: 'crashed'; owner: LockOwner };
  pending: PendingTurn[];
  backlog: AgentBacklog[];
  deadLetters: DeadLetter[];
  /** Live numbers published by the running worker, if any. */
  live?: { updatedAt: number; stats: QueueStats };
};

/**
 * Reads a data dir without taking its lock, so it works next to a running worker: the journal
 * is only ever appended to or atomically replaced, and a torn last line is simply ignored.
 */
export async function inspectDataDir(dataDir: string): Promise<DataDirReport> {
  const path = join(dataDir, JOURNAL_FILE);
  const contents = await readJournal(path);
  const state = new JournalState();
  for (const record of contents.records) state.apply(record);
  const pending = [...state.pending.values()];
  const owner = await readLockOwner(dataDir);
  const worker: DataDirReport['worker'] = !owner ? { state: 'stopped' } : isOwnerAlive(owner) ? { state: 'running', owner } : { state: 'crashed', owner };
  const live = worker.state === 'running' ? await readLiveStatus(dataDir, worker.owner.pid) : undefined;
  return {
    dataDir,
    journalBytes: await stat(path).then((s) => s.size, () => 0),
    records: contents.records.length,
    tornTailBytes: contents.tornTailBytes,
    invalidLines: contents.invalidLines,
    worker,
    pending,
    backlog: backlogByAgent(pending),
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

async function readLiveStatus(dataDir: string, pid: number): Promise<DataDirReport['live']> {
  try {
    const parsed = JSON.parse(await readFile(join(dataDir, STATUS_FILE), 'utf8')) as { pid?: number; updatedAt?: number; stats?: QueueStats };
    if (parsed.pid !== pid || typeof parsed.updatedAt !== 'number' || !parsed.stats) return undefined;
    return { updatedAt: parsed.updatedAt, stats: parsed.stats };
  } catch {
    return undefined;
  }
}
