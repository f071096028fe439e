import { silentLogger } from '../logger.js';
import type { RequeueSelection } from '../turn-store.js';
import { DataDirLockedError } from './data-dir-lock.js';
import { inspectDataDir } from './inspect-data-dir.js';
import { JournalTurnStore } from './journal-store.js';
import { postRequeueRequest } from './requeue-inbox.js';

export type RequeueOutcome =
  | { slot: string; via: 'journal'; requeued: string[] }
  | { slot: string; via: 'running-worker'; pid: number | undefined; requested: string[]; requestFile: string };

/**
 * Requeues dead letters from outside the workers. A slot no worker owns is updated directly
 * (under its lock; its turns are written when a worker next starts and adopts it); a slot a
 * worker owns gets a request in its inbox, applied within seconds.
 */
export async function requeueDeadLetters(dataDir: string, selection: RequeueSelection): Promise<RequeueOutcome[]> {
  const wanted = selection === 'all' ? undefined : new Set(selection);
  const bySlot = new Map<string, string[]>();
  for (const letter of (await inspectDataDir(dataDir)).deadLetters) {
    if (wanted && !wanted.has(letter.turn.id)) continue;
    bySlot.set(letter.slot, [...(bySlot.get(letter.slot) ?? []), letter.turn.id]);
  }
  const outcomes: RequeueOutcome[] = [];
  for (const [slot, ids] of bySlot) outcomes.push(await requeueInSlot(slot, ids));
  return outcomes;
}

async function requeueInSlot(slot: string, ids: string[]): Promise<RequeueOutcome> {
  let store: JournalTurnStore;
  try {
    store = await JournalTurnStore.openSlot(slot, { compactEvery: Number.POSITIVE_INFINITY, logger: silentLogger });
  } catch (error) {
    if (!(error instanceof DataDirLockedError)) throw error;
    return { slot, via: 'running-worker', pid: error.owner?.pid, requested: ids, requestFile: await postRequeueRequest(slot, ids) };
  }
  try {
    const turns = await store.requeue(ids);
    return { slot, via: 'journal', requeued: turns.map((turn) => turn.id) };
  } finally {
    await store.close();
  }
}
