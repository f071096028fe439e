import { link, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';

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
 * Pid lock file: two live processes appending to one journal would interleave and double-send.
 * The lock is created with its content in one step (link of a finished temp file), so it is
 * never seen half-written. A lock whose process is gone (crash, SIGKILL) is taken over, by one
 * process at a time (a takeover guard), so two starters cannot both replace it.
 */
export class DataDirLock {
  private constructor(
    private readonly path: string,
    private readonly content: string,
  ) {}

  /** durable=false skips the fsyncs, for short-lived locks whose loss in a crash is harmless. */
  static async acquire(dir: string, { durable = true }: { durable?: boolean } = {}): Promise<DataDirLock> {
    const path = join(dir, LOCK_FILE);
    const content = JSON.stringify({ pid: process.pid, host: hostname(), startedAt: Date.now() } satisfies LockOwner);
    const createExclusive = (target: string) => createExclusiveFile(target, content, durable);
    for (let attempt = 0; attempt < 3; attempt++) {
      if (await createExclusive(path)) return new DataDirLock(path, content);
      const guard = `${path}.takeover`;
      if (!(await createExclusive(guard))) {
        if (!(await isOlderThan(guard, TAKEOVER_EXPIRY_MS))) throw new DataDirLockedError(dir, await readLockOwner(dir));
        await removeIfPresent(guard);
        continue;
      }
      try {
        const existing = await readFile(path, 'utf8').catch(() => undefined);
        // Released meanwhile: compete for it normally instead of overwriting a fresh lock.
        if (existing === undefined) continue;
        const owner = parseOwner(existing);
        if (owner && isOwnerAlive(owner)) throw new DataDirLockedError(dir, owner);
        // Only the dead owner could remove this file, and the guard keeps other takers out.
        await rename(await writeTemp(path, content, durable), path);
        return new DataDirLock(path, content);
      } finally {
        await removeIfPresent(guard);
      }
    }
    throw new DataDirLockedError(dir, await readLockOwner(dir));
  }

  /** Removes the lock only if it is still ours. */
  async release(): Promise<void> {
    const current = await readFile(this.path, 'utf8').catch(() => undefined);
    if (current === this.content) await removeIfPresent(this.path);
  }
}

export async function readLockOwner(dir: string): Promise<LockOwner | undefined> {
  return parseOwner(await readFile(join(dir, LOCK_FILE), 'utf8').catch(() => ''));
}

function parseOwner(text: string): LockOwner | undefined {
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

async function createExclusiveFile(path: string, content: string, durable: boolean): Promise<boolean> {
  const tmp = await writeTemp(path, content, durable);
  try {
    await link(tmp, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    await removeIfPresent(tmp);
  }
}

async function writeTemp(path: string, content: string, durable: boolean): Promise<string> {
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  const handle = await open(tmp, 'wx');
  try {
    await handle.writeFile(content);
    if (durable) await handle.sync();
  } finally {
    await handle.close();
  }
  return tmp;
}

async function isOlderThan(path: string, ageMs: number): Promise<boolean> {
  const info = await stat(path).catch(() => undefined);
  return info === undefined || Date.now() - info.mtimeMs > ageMs;
}

async function removeIfPresent(path: string): Promise<void> {
  await unlink(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
}
