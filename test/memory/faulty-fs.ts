import { nodeJournalFs, type JournalFileHandle, type JournalFs } from '../../src/memory/journal/journal-fs.js';

const noSpace = (what: string) => Object.assign(new Error(`ENOSPC: no space left on device, ${what}`), { code: 'ENOSPC', errno: -28 });

/**
 * A JournalFs over the real one that behaves like a small disk: writes beyond `freeBytes` are
 * cut short (write(2) returns fewer bytes), a write with no room fails with ENOSPC, truncation
 * gives room back. Optional: every write at most `maxBytesPerWrite` (short writes with room
 * left), links that cannot be created (inodes exhausted), paths whose open fails.
 */
export class FaultyFs implements JournalFs {
  freeBytes = Number.POSITIVE_INFINITY;
  maxBytesPerWrite = Number.POSITIVE_INFINITY;
  linksFail = false;
  failOpen: RegExp | undefined;
  shortWrites = 0;
  refusedWrites = 0;

  /** The disk is full until space is given back. */
  fill(): void {
    this.freeBytes = 0;
  }

  async open(path: string, flags: 'a' | 'w' | 'wx' | 'r'): Promise<JournalFileHandle> {
    if (this.failOpen?.test(path)) throw noSpace(`open '${path}'`);
    const inner = await nodeJournalFs.open(path, flags);
    return {
      write: async (buffer, offset, length) => {
        const allowed = Math.min(length, this.maxBytesPerWrite, this.freeBytes);
        if (allowed <= 0) {
          this.refusedWrites += 1;
          throw noSpace(`write '${path}'`);
        }
        if (allowed < length) this.shortWrites += 1;
        const result = await inner.write(buffer, offset, allowed);
        this.freeBytes -= result.bytesWritten;
        return result;
      },
      datasync: () => inner.datasync(),
      sync: () => inner.sync(),
      truncate: async (length) => {
        const before = (await inner.stat()).size;
        await inner.truncate(length);
        this.freeBytes += Math.max(0, before - length);
      },
      stat: () => inner.stat(),
      close: () => inner.close(),
    };
  }

  readFile = (path: string) => nodeJournalFs.readFile(path);
  rename = (from: string, to: string) => nodeJournalFs.rename(from, to);
  unlink = (path: string) => nodeJournalFs.unlink(path);
  readlink = (path: string) => nodeJournalFs.readlink(path);
  truncate = (path: string, length: number) => nodeJournalFs.truncate(path, length);

  async symlink(target: string, path: string): Promise<void> {
    if (this.linksFail) throw noSpace(`symlink '${path}'`);
    await nodeJournalFs.symlink(target, path);
  }
}
