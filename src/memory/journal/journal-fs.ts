import * as fsp from 'node:fs/promises';

/** The part of a file handle the journal uses; node's FileHandle satisfies it. */
export interface JournalFileHandle {
  /** May write fewer bytes than asked (a nearly full disk): callers loop, see writeFully. */
  write(buffer: Uint8Array, offset: number, length: number): Promise<{ bytesWritten: number }>;
  datasync(): Promise<void>;
  sync(): Promise<void>;
  truncate(length: number): Promise<void>;
  stat(): Promise<{ size: number }>;
  close(): Promise<void>;
}

/**
 * The file-system calls the journal makes, injectable so tests can produce short writes and
 * ENOSPC without root. Product code uses nodeJournalFs.
 */
export interface JournalFs {
  open(path: string, flags: 'a' | 'w' | 'wx' | 'r'): Promise<JournalFileHandle>;
  readFile(path: string): Promise<Buffer>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  symlink(target: string, path: string): Promise<void>;
  readlink(path: string): Promise<string>;
  truncate(path: string, length: number): Promise<void>;
}

export const nodeJournalFs: JournalFs = {
  open: (path, flags) => fsp.open(path, flags),
  readFile: (path) => fsp.readFile(path),
  rename: fsp.rename,
  unlink: fsp.unlink,
  symlink: (target, path) => fsp.symlink(target, path),
  readlink: (path) => fsp.readlink(path),
  truncate: (path, length) => fsp.truncate(path, length),
};

/** Errors that mean "the disk has no room": the write may succeed later, nothing is corrupt. */
const NO_SPACE_CODES = new Set(['ENOSPC', 'EDQUOT', 'EFBIG']);

export function isNoSpaceError(error: unknown): boolean {
  return NO_SPACE_CODES.has((error as NodeJS.ErrnoException | undefined)?.code ?? '');
}

/**
 * Writes every byte or throws: write(2) may return a short count on a nearly full disk, and a
 * record is only durable once all of it is written. A write that makes no progress is ENOSPC.
 */
export async function writeFully(handle: JournalFileHandle, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, offset, bytes.length - offset);
    if (bytesWritten <= 0) {
      throw Object.assign(new Error(`short write: ${offset} of ${bytes.length} bytes written, then no progress`), { code: 'ENOSPC' });
    }
    offset += bytesWritten;
  }
}

/** Writes a whole new file and syncs it; used for atomic replace (write temp, then rename). */
export async function writeFileDurably(fs: JournalFs, path: string, bytes: Uint8Array): Promise<void> {
  const handle = await fs.open(path, 'w');
  try {
    await writeFully(handle, bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
}
