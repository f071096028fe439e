import { lstat, readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { nodeJournalFs, type JournalFs } from './journal-fs.js';

export const LOCK_FILE = 'worker.lock';
/** A takeover guard older than this belongs to a process that died mid-takeover. */
const TAKEOVER_EXPIRY_MS = 10_000;

export type LockOwner = { pid: number; host: string; startedAt: number };

export class DataDirLockedError extends Error {
  constructor(
    readonly dataDir: string,
    readonly owner: LockOwner | undefined,
  ) {
    super(
      owner
        ? `memory data dir ${dataDir} is in use by pid ${owner.pid} on ${owner.host} (since ${new Date(owner.startedAt).toISOString()})`
        : `memory data dir ${dataDir} is being taken over by another process`,
    );
    this.name = 'DataDirLockedError';
  }
}

/**
 * Pid lock: two live processes appending to one journal would interleave and double-send.
 * The lock is a symbolic link whose target names the owner (`pid:startedAt:host`): creating it
 * is atomic and exclusive, it is never seen half-written, and a short link lives in the inode,
 * so it can still be created when the disk is full (a lock that cannot be created would stop
 * delivery). A lock whose process is gone (crash, SIGKILL) is taken over, by one process at a
 * time (a takeover guard), so two starters cannot both replace it.
 */
export class DataDirLock {
  private constructor(
    private readonly path: string,
    private readonly target: string,
    private readonly fs: JournalFs,
  ) {}

  static async acquire(dir: string, fs: JournalFs = nodeJournalFs): Promise<DataDirLock> {
    const path = join(dir, LOCK_FILE);
    const target = formatOwner({ pid: process.pid, host: hostname(), startedAt: Date.now() });
    for (let attempt = 0; attempt < 3; attempt++) {
      if (await createExclusive(fs, path, target)) return new DataDirLock(path, target, fs);
      const guard = `${path}.takeover`;
      if (!(await createExclusive(fs, guard, target))) {
        if (!(await isOlderThan(guard, TAKEOVER_EXPIRY_MS))) throw new DataDirLockedError(dir, await readLockOwner(dir, fs));
        await removeIfPresent(fs, guard);
        continue;
      }
      try {
        const existing = await readOwnerText(fs, path);
        // Released meanwhile: compete for it normally instead of overwriting a fresh lock.
        if (existing === undefined) continue;
        const owner = parseOwner(existing);
        if (owner && isOwnerAlive(owner)) throw new DataDirLockedError(dir, owner);
        // Only the dead owner could remove this lock, and the guard keeps other takers out.
        const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
        await fs.symlink(target, tmp);
        await fs.rename(tmp, path);
        return new DataDirLock(path, target, fs);
      } finally {
        await removeIfPresent(fs, guard);
      }
    }
    throw new DataDirLockedError(dir, await readLockOwner(dir, fs));
  }

  /** Removes the lock only if it is still ours. */
  async release(): Promise<void> {
    if ((await readOwnerText(this.fs, this.path)) === this.target) await removeIfPresent(this.fs, this.path);
  }
}

export async function readLockOwner(dir: string, fs: JournalFs = nodeJournalFs): Promise<LockOwner | undefined> {
  return parseOwner((await readOwnerText(fs, join(dir, LOCK_FILE))) ?? '');
}

function formatOwner(owner: LockOwner): string {
  return `${owner.pid}:${owner.startedAt}:${owner.host}`;
}

/** The link target; a regular file (the JSON lock of earlier versions) is read as text. */
async function readOwnerText(fs: JournalFs, path: string): Promise<string | undefined> {
  try {
    return await fs.readlink(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code !== 'EINVAL') throw error;
  }
  return readFile(path, 'utf8').catch(() => undefined);
}

function parseOwner(text: string): LockOwner | undefined {
  const match = /^(\d+):(\d+):(.+)$/.exec(text);
  if (match) return { pid: Number(match[1]), startedAt: Number(match[2]), host: match[3] };
  try {
    const parsed = JSON.parse(text) as Partial<LockOwner>;
    if (typeof parsed.pid !== 'number' || typeof parsed.host !== 'string') return undefined;
    return { pid: parsed.pid, host: parsed.host, startedAt: typeof parsed.startedAt === 'number' ? parsed.startedAt : 0 };
  } catch {
    return undefined;
  }
}

/** On another host the pid cannot be checked, so such a lock is respected. */
export function isOwnerAlive(owner: LockOwner): boolean {
  if (owner.host !== hostname()) return true;
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function createExclusive(fs: JournalFs, path: string, target: string): Promise<boolean> {
  try {
    await fs.symlink(target, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

async function isOlderThan(path: string, ageMs: number): Promise<boolean> {
  // lstat: the link itself; its target is not a file.
  const info = await lstat(path).catch(() => undefined);
  return info === undefined || Date.now() - info.mtimeMs > ageMs;
}

async function removeIfPresent(fs: JournalFs, path: string): Promise<void> {
  await fs.unlink(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
}
