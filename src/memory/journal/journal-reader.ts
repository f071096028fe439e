import { readFile } from 'node:fs/promises';
import { decodeRecord, type JournalRecord } from './journal-records.js';

export type JournalContents = {
  records: JournalRecord[];
  /** Length of the prefix made of complete lines; anything after it is a torn final write. */
  completeBytes: number;
  tornTailBytes: number;
  /** Complete lines that did not decode; skipped, reported. */
  invalidLines: number;
};

export async function readJournal(path: string): Promise<JournalContents> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { records: [], completeBytes: 0, tornTailBytes: 0, invalidLines: 0 };
    throw error;
  }
  const completeBytes = data.lastIndexOf(0x0a) + 1;
  const records: JournalRecord[] = [];
  let invalidLines = 0;
  for (const line of data.subarray(0, completeBytes).toString('utf8').split('\n')) {
    if (line.trim() === '') continue;
    const record = decodeRecord(line);
    if (record) records.push(record);
    else invalidLines += 1;
  }
  return { records, completeBytes, tornTailBytes: data.length - completeBytes, invalidLines };
}
