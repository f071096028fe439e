import { readFile } from 'node:fs/promises';
import { parseRecordLine, type JournalRecord } from './journal-records.js';

/** A stretch of a journal that is not a usable record, with where it came from. */
export type UnreadableLine = {
  /** Byte offset in the file. */
  offset: number;
  /** 1-based line number (the whole file counts as line 1 when it is rejected as a whole). */
  line: number;
  bytes: Buffer;
  reason: string;
};

export type JournalContents = {
  records: JournalRecord[];
  /** Length of the prefix made of complete lines; anything after it is a torn final write. */
  completeBytes: number;
  /** A final line without its newline: a write cut short by a crash. */
  tornTail: UnreadableLine | undefined;
  /** Complete lines that are not usable records; kept (quarantined), never silently dropped. */
  unreadable: UnreadableLine[];
};

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

export async function readJournal(path: string, read: (path: string) => Promise<Buffer> = readFile): Promise<JournalContents> {
  let data: Buffer;
  try {
    data = await read(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { records: [], completeBytes: 0, tornTail: undefined, unreadable: [] };
    throw error;
  }
  return parseJournal(data);
}

export function parseJournal(data: Buffer): JournalContents {
  const foreign = foreignEncoding(data);
  if (foreign) {
    return { records: [], completeBytes: data.length, tornTail: undefined, unreadable: [{ offset: 0, line: 1, bytes: data, reason: foreign }] };
  }
  const completeBytes = data.lastIndexOf(0x0a) + 1;
  const records: JournalRecord[] = [];
  const unreadable: UnreadableLine[] = [];
  let offset = 0;
  let lineNumber = 0;
  while (offset < completeBytes) {
    const end = data.indexOf(0x0a, offset);
    lineNumber += 1;
    const bytes = data.subarray(offset, end);
    const problem = readLine(bytes, records);
    if (problem) unreadable.push({ offset, line: lineNumber, bytes: Buffer.from(bytes), reason: problem });
    offset = end + 1;
  }
  const tornTail =
    completeBytes < data.length
      ? { offset: completeBytes, line: lineNumber + 1, bytes: Buffer.from(data.subarray(completeBytes)), reason: 'torn final line (write cut short, never acknowledged)' }
      : undefined;
  return { records, completeBytes, tornTail, unreadable };
}

/** Adds the line's record, or returns why it is unreadable; blank lines are neither. */
function readLine(bytes: Buffer, records: JournalRecord[]): string | undefined {
  let text: string;
  try {
    // Never replace bad bytes with U+FFFD: a turn must reach Letta as spoken or be reported.
    text = strictUtf8.decode(bytes);
  } catch {
    return 'invalid UTF-8';
  }
  if (text.trim() === '') return undefined;
  const parsed = parseRecordLine(text);
  if ('reason' in parsed) return parsed.reason;
  records.push(parsed.record);
  return undefined;
}

/** A whole file in another encoding is one unreadable unit, not thousands of broken lines. */
function foreignEncoding(data: Buffer): string | undefined {
  if (data.length >= 2 && ((data[0] === 0xff && data[1] === 0xfe) || (data[0] === 0xfe && data[1] === 0xff))) {
    return 'whole file is UTF-16 (byte order mark), not UTF-8 JSON lines';
  }
  const firstLineEnd = data.indexOf(0x0a);
  const firstLine = data.subarray(0, firstLineEnd === -1 ? Math.min(data.length, 4096) : firstLineEnd);
  if (firstLine.includes(0x00)) return 'whole file holds NUL bytes (UTF-16 or binary), not UTF-8 JSON lines';
  return undefined;
}
