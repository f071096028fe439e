import { open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { nodeJournalFs, writeFileDurably, writeFully, type JournalFileHandle, type JournalFs } from './journal-fs.js';

type Waiter = { resolve: () => void; reject: (error: unknown) => void };

/**
 * Append-only file with group commit: every append() that arrives while an fsync is running
 * is written and synced together in the next round, so durability costs one fsync per round,
 * not per turn. Appends resolve in call order, and only after every one of their bytes was
 * written and synced; a failed round is cut off the file again, so a record the caller was
 * told is not stored never comes back on replay.
 */
export class JournalFile {
  private buffer: string[] = [];
  private waiters: Waiter[] = [];
  private flushQueued = false;
  /** Serialises flushes and rewrites; each step handles its own errors so the chain never rejects. */
  private chain: Promise<void> = Promise.resolve();
  private closed = false;
  /** Size of the file up to its last fully synced round. */
  private committedBytes: number;
  /** A failed round could not be cut off: the file may end mid-line, so the next round starts on a fresh line. */
  private mayEndMidLine = false;

  private constructor(
    readonly path: string,
    private handle: JournalFileHandle,
    size: number,
    private readonly fs: JournalFs,
  ) {
    this.committedBytes = size;
  }

  /** endsMidLine: the file ends in a torn line that must be kept, so the first append starts a fresh line. */
  static async open(path: string, { fs = nodeJournalFs, endsMidLine = false }: { fs?: JournalFs; endsMidLine?: boolean } = {}): Promise<JournalFile> {
    const handle = await fs.open(path, 'a');
    const file = new JournalFile(path, handle, (await handle.stat()).size, fs);
    file.mayEndMidLine = endsMidLine;
    return file;
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
   * earlier append reached the disk and before any later one, so it sees exactly the file's meaning;
   * it may return undefined to skip the rewrite.
   */
  rewrite(contents: () => string | undefined): Promise<void> {
    const step = this.chain.then(async () => {
      await this.flush();
      // Taken right after the flush: the buffer is empty, so the file holds exactly what contents() describes.
      const text = contents();
      if (text === undefined) return;
      const bytes = Buffer.from(text, 'utf8');
      const tmp = `${this.path}.compacting`;
      try {
        await writeFileDurably(this.fs, tmp, bytes);
        await this.fs.rename(tmp, this.path);
      } catch (error) {
        await this.fs.unlink(tmp).catch(() => {});
        throw error;
      }
      await syncDirectory(dirname(this.path));
      const previous = this.handle;
      this.handle = await this.fs.open(this.path, 'a');
      this.committedBytes = bytes.length;
      this.mayEndMidLine = false;
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
    const bytes = Buffer.from(this.mayEndMidLine ? `\n${text}` : text, 'utf8');
    try {
      // The unremovable partial line stays (replay quarantines it); what follows is counted from the real size.
      if (this.mayEndMidLine) this.committedBytes = (await this.handle.stat()).size;
      await writeFully(this.handle, bytes);
      await this.handle.datasync();
      this.committedBytes += bytes.length;
      this.mayEndMidLine = false;
      for (const waiter of waiters) waiter.resolve();
    } catch (error) {
      await this.cutBackToCommitted();
      for (const waiter of waiters) waiter.reject(error);
    }
  }

  /** Removes the bytes of a failed round (truncating frees space, so it works on a full disk). */
  private async cutBackToCommitted(): Promise<void> {
    try {
      await this.handle.truncate(this.committedBytes);
      await this.handle.datasync();
      this.mayEndMidLine = false;
    } catch {
      this.mayEndMidLine = true;
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
