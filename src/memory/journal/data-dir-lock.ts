import { open, readFile, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';

export const LOCK_FILE = 'worker.lock';

export type LockOwner = { pid: number; host: string; startedAt: number };

export class DataDirLockedError extends Error {
  constructor(
    readonly dataDir: string,
    readonly owner: LockOwner,
  ) {
    super(`memory data dir ${dataDir} is in use by pid ${owner.pid} on ${owner.host} (since ${new Date(owner.startedAt).toISOString()})`);
    this.name = 'DataDirLockedError';
  }
}

/**
 * Pid lock file: two live workers appending to one journal would interleave and double-send.
 * A lock whose process is gone (crash, SIGKILL) is taken over.
 */
export class DataDirLock {
  private constructor(private readonly path: string) {}

  static async acquire(dataDir: string): Promise<DataDirLock> {
    const path = join(dataDir, LOCK_FILE);
    const me: LockOwner = { pid: process.pid, host: hostname(), startedAt: Date.now() };
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const handle = await open(path, 'wx');
        try {
          await handle.writeFile(JSON.stringify(me));
          await handle.sync();
        } finally {
          await handle.close();
        }
        return new DataDirLock(path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const owner = await readLockOwner(dataDir);
      if (owner && isOwnerAlive(owner)) throw new DataDirLockedError(dataDir, owner);
      // Stale (or half-written by a process that died while taking it): remove and try again.
      await unlink(path).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
    }
    throw new Error(`could not take the lock ${path}`);
  }

  async release(): Promise<void> {
    await unlink(this.path).catch(() => {});
  }
}

export async function readLockOwner(dataDir: string): Promise<LockOwner | undefined> {
  try {
    const parsed = JSON.parse(await readFile(join(dataDir, LOCK_FILE), 'utf8')) as Partial<LockOwner>;
    if (typeof parsed.pid !== 'number' || typeof parsed.host !== 'string') return undefined;
    return { pid: parsed.pid, host: parsed.host, startedAt: typeof parsed.startedAt === 'number' ? parsed.startedAt : 0 };
  } catch {
    return undefined;
  }
}

/** On another host we cannot check the pid, so the lock is respected. */
export function isOwnerAlive(owner: LockOwner): boolean {
  if (owner.host !== hostname()) return true;
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
