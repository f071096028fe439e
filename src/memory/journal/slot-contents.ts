import { join } from 'node:path';
import { nodeJournalFs, type JournalFs } from './journal-fs.js';
import { readJournal, type JournalContents, type UnreadableLine } from './journal-reader.js';
import { JournalState } from './journal-state.js';

export const JOURNAL_FILE = 'journal.jsonl';
/** Dead letters live apart from the journal, so compacting the journal does not rewrite them. */
export const DEAD_LETTERS_FILE = 'dead-letters.jsonl';

export type UnreadableInFile = { path: string; lines: UnreadableLine[] };

export type SlotContents = {
  journal: JournalContents;
  deadLetterFile: JournalContents;
  state: JournalState;
  /** Ids the dead-letter file holds as dead. */
  onDiskDead: Set<string>;
  /** Everything unreadable, per file (torn tails included). */
  unreadable: UnreadableInFile[];
};

/** Folds a slot's dead-letter file, then its journal, into one state. */
export async function readSlot(dir: string, fs: JournalFs = nodeJournalFs): Promise<SlotContents> {
  const journalPath = join(dir, JOURNAL_FILE);
  const deadPath = join(dir, DEAD_LETTERS_FILE);
  const read = (path: string) => fs.readFile(path);
  const [deadLetterFile, journal] = [await readJournal(deadPath, read), await readJournal(journalPath, read)];
  const state = new JournalState();
  for (const record of deadLetterFile.records) state.apply(record);
  const onDiskDead = new Set(state.dead.keys());
  state.obsoleteRecords = 0;
  for (const record of journal.records) state.apply(record);
  const unreadable = [
    { path: deadPath, lines: withTail(deadLetterFile) },
    { path: journalPath, lines: withTail(journal) },
  ].filter((file) => file.lines.length > 0);
  return { journal, deadLetterFile, state, onDiskDead, unreadable };
}

function withTail(contents: JournalContents): UnreadableLine[] {
  return contents.tornTail ? [...contents.unreadable, contents.tornTail] : contents.unreadable;
}
