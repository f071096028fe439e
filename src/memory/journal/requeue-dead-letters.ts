import { silentLogger } from '../logger.js';
import type { RequeueSelection } from '../turn-store.js';
import { DataDirLockedError } from './data-dir-lock.js';
import { JournalTurnStore } from './journal-store.js';
import { postRequeueRequest } from './requeue-inbox.js';

export type RequeueOutcome =
  | { via: 'journal'; requeued: string[] }
  | { via: 'running-worker'; pid: number; requestFile: string };

/**
 * Requeues dead letters from outside the worker. With no worker running the journal is
 * updated directly (under the lock); otherwise the running worker is asked through its inbox.
 */
export async function requeueDeadLetters(dataDir: string, selection: RequeueSelection): Promise<RequeueOutcome> {
  let store: JournalTurnStore;
  try {
    store = await JournalTurnStore.open({ dataDir, compactEvery: Number.POSITIVE_INFINITY, logger: silentLogger });
  } catch (error) {
    if (!(error instanceof DataDirLockedError)) throw error;
    return { via: 'running-worker', pid: error.owner.pid, requestFile: await postRequeueRequest(dataDir, selection) };
  }
  try {
    const turns = await store.requeue(selection);
    return { via: 'journal', requeued: turns.map((turn) => turn.id) };
  } finally {
    await store.close();
  }
}
