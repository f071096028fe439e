import { open, rename, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

type Waiter = { resolve: () => void; reject: (error: unknown) => void };

/**
 * Append-only file with group commit: every append() that arrives while an fsync is running
 * is written and synced together in the next round, so durability costs one fsync per round,
 * not per turn. Appends resolve in call order, and only after their bytes are on disk.
 */
export class JournalFile {
  private buffer: string[] = [];
  private waiters: Waiter[] = [];
  private flushQueued = false;
  /** Serialises flushes and rewrites; each step handles its own errors so the chain never rejects. */
  private chain: Promise<void> = Promise.resolve();
  private closed = false;
  /** After a failed write the file may end mid-line; the next write starts on a fresh line. */
  private mayEndMidLine = false;

  private constructor(
    readonly path: string,
    private handle: FileHandle,
  ) {}

  static async open(path: string): Promise<JournalFile> {
    return new JournalFile(path, await open(path, 'a'));
  }

  append(text: string): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`journal ${this.path} is closed`));
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.buffer.push(text);
    if (!this.flushQueued) {
      this.flushQueued = true;
      this.chain = this.chain.then(() => this.flush());
    }
    return done;
  }

  /**
   * Atomically replaces the file with what contents() returns. contents() runs after every
   * earlier append reached the disk and before any later one, so it sees exactly the file's meaning.
   */
  rewrite(contents: () => string): Promise<void> {
    const step = this.chain.then(async () => {
      await this.flush();
      // Taken right after the flush: the buffer is empty, so the file holds exactly what contents() describes.
      const text = contents();
      const tmp = `${this.path}.compacting`;
      const out = await open(tmp, 'w');
      try {
        await out.writeFile(text);
        await out.sync();
      } finally {
        await out.close();
      }
      await rename(tmp, this.path);
      await syncDirectory(dirname(this.path));
      const previous = this.handle;
      this.handle = await open(this.path, 'a');
      await previous.close();
    });
    this.chain = step.catch(() => {});
    return step;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.chain;
    await this.flush();
    await this.handle.close();
  }

  private async flush(): Promise<void> {
    this.flushQueued = false;
    const text = this.buffer.join('');
    const waiters = this.waiters;
    this.buffer = [];
    this.waiters = [];
    if (waiters.length === 0) return;
    try {
      await this.handle.write(this.mayEndMidLine ? `\n${text}` : text);
      this.mayEndMidLine = false;
      await this.handle.datasync();
      for (const waiter of waiters) waiter.resolve();
    } catch (error) {
      this.mayEndMidLine = true;
      for (const waiter of waiters) waiter.reject(error);
    }
  }
}

/** Makes a rename durable: the directory entry itself must reach the disk. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } catch (error) {
    // Some filesystems refuse fsync on a directory; the rename is still atomic there.
    if ((error as NodeJS.ErrnoException).code !== 'EINVAL' && (error as NodeJS.ErrnoException).code !== 'EISDIR') throw error;
  } finally {
    await handle.close();
  }
}
