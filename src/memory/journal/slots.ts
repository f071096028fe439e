import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DataDirLock, DataDirLockedError } from './data-dir-lock.js';
import { nodeJournalFs, type JournalFs } from './journal-fs.js';

const SLOT_NAME = /^worker-(\d+)$/;

/**
 * LiveKit runs every call in its own job process, and each process needs a journal it alone
 * appends to. The data dir therefore holds one slot per concurrently running process
 * (worker-0, worker-1, …); a process takes the first slot whose lock is free.
 */
export async function listSlotDirs(root: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(root);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return names
    .map((name) => ({ name, n: SLOT_NAME.exec(name)?.[1] }))
    .filter((slot): slot is { name: string; n: string } => slot.n !== undefined)
    .sort((a, b) => Number(a.n) - Number(b.n))
    .map((slot) => join(root, slot.name));
}

export async function claimSlot(root: string, fs: JournalFs = nodeJournalFs): Promise<{ dir: string; lock: DataDirLock }> {
  await mkdir(root, { recursive: true });
  const existing = await listSlotDirs(root);
  for (const dir of existing) {
    const lock = await tryLock(dir, fs);
    if (lock) return { dir, lock };
  }
  // Another process may create the same new slot at the same moment: then try the next one.
  for (let n = existing.length; n < existing.length + 1_000; n++) {
    const dir = join(root, `worker-${n}`);
    await mkdir(dir, { recursive: true });
    const lock = await tryLock(dir, fs);
    if (lock) return { dir, lock };
  }
  throw new Error(`no free memory journal slot in ${root}`);
}

export async function tryLock(dir: string, fs: JournalFs = nodeJournalFs): Promise<DataDirLock | undefined> {
  try {
    return await DataDirLock.acquire(dir, fs);
  } catch (error) {
    if (error instanceof DataDirLockedError) return undefined;
    throw error;
  }
}
