import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { nodeJournalFs, writeFully, type JournalFs } from './journal-fs.js';
import type { UnreadableLine } from './journal-reader.js';

/** Beside the journal: every unreadable stretch the worker met, byte for byte, with where it came from. */
export const QUARANTINE_FILE = 'journal.quarantine.jsonl';

const entrySchema = z.object({
  v: z.literal(1),
  /** The file the bytes were read from. */
  source: z.string(),
  line: z.number(),
  offset: z.number(),
  reason: z.string(),
  at: z.number(),
  sha256: z.string(),
  /** Exact original bytes (any encoding survives base64). */
  bytesBase64: z.string(),
});

export type QuarantineEntry = z.infer<typeof entrySchema>;

/**
 * Appends unreadable lines to the quarantine file (synced) before anything may delete them from
 * the journal. Lines already quarantined (same source, offset and content) are not added twice,
 * so a crash before the journal was compacted only repeats the check. Throws when the copy
 * cannot be made (full disk): the caller must then keep the original.
 */
export async function quarantineLines(dir: string, source: string, lines: readonly UnreadableLine[], fs: JournalFs = nodeJournalFs): Promise<number> {
  if (lines.length === 0) return 0;
  const known = new Set((await readQuarantine(dir)).map(entryKey));
  const at = Date.now();
  const fresh = lines
    .map((line): QuarantineEntry => ({
      v: 1,
      source,
      line: line.line,
      offset: line.offset,
      reason: line.reason,
      at,
      sha256: createHash('sha256').update(line.bytes).digest('hex'),
      bytesBase64: line.bytes.toString('base64'),
    }))
    .filter((entry) => !known.has(entryKey(entry)));
  if (fresh.length === 0) return 0;
  const handle = await fs.open(join(dir, QUARANTINE_FILE), 'a');
  try {
    await writeFully(handle, Buffer.from(fresh.map((entry) => `${JSON.stringify(entry)}\n`).join(''), 'utf8'));
    await handle.datasync();
  } finally {
    await handle.close();
  }
  return fresh.length;
}

export async function readQuarantine(dir: string): Promise<QuarantineEntry[]> {
  let text: string;
  try {
    text = await readFile(join(dir, QUARANTINE_FILE), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const entries: QuarantineEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const parsed = entrySchema.safeParse(JSON.parse(line));
      if (parsed.success) entries.push(parsed.data);
    } catch {
      // A torn last entry (crash mid-append) is written again by the next check.
    }
  }
  return entries;
}

/** A short, printable look at quarantined bytes (bad bytes shown as U+FFFD only here, never in a turn). */
export function previewOf(entry: QuarantineEntry, max = 80): string {
  const text = new TextDecoder('utf-8').decode(Buffer.from(entry.bytesBase64, 'base64'));
  const printable = text.replace(/[\u0000-\u001f]/g, '·');
  return printable.length > max ? `${printable.slice(0, max)}…` : printable;
}

const entryKey = (entry: Pick<QuarantineEntry, 'source' | 'offset' | 'sha256'>) => `${entry.source}\u0000${entry.offset}\u0000${entry.sha256}`;
