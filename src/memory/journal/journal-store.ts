import { mkdir, truncate, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { MemoryLogger } from '../logger.js';
import type { QueueStats } from '../queue-stats.js';
import { selectDeadLetters, type RecoveredTurns, type RequeueSelection, type TurnStore } from '../turn-store.js';
import type { DeadLetter, PendingTurn } from '../turn.js';
import { DataDirLock } from './data-dir-lock.js';
import { JournalFile } from './journal-file.js';
import { readJournal } from './journal-reader.js';
import { ackRecord, deadRecord, encodeRecord, requeueRecord, turnRecord, type JournalRecord } from './journal-records.js';
import { JournalState } from './journal-state.js';
import { takeRequeueRequests } from './requeue-inbox.js';

export const JOURNAL_FILE = 'journal.jsonl';
export const STATUS_FILE = 'status.json';

export type JournalStoreOptions = {
  dataDir: string;
  /** Compact once this many records carry no meaning any more. */
  compactEvery: number;
  logger: MemoryLogger;
};

/**
 * TurnStore on an append-only JSON-lines journal. A turn is fsynced before enqueue resolves
 * and leaves the journal (at the next compaction) only after Letta acknowledged it.
 */
export class JournalTurnStore implements TurnStore {
  readonly durable = true;
  private compacting: Promise<void> | undefined;

  private constructor(
    private readonly options: JournalStoreOptions,
    private readonly lock: DataDirLock,
    private readonly file: JournalFile,
    private readonly state: JournalState,
  ) {}

  static async open(options: JournalStoreOptions): Promise<JournalTurnStore> {
    await mkdir(options.dataDir, { recursive: true });
    const lock = await DataDirLock.acquire(options.dataDir);
    try {
      const path = join(options.dataDir, JOURNAL_FILE);
      const contents = await readJournal(path);
      if (contents.tornTailBytes > 0) {
        // A write cut short by a crash; it was never acknowledged to a caller, so dropping it is safe.
        options.logger.warn({ path, bytes: contents.tornTailBytes }, 'memory journal: discarding torn final record');
        await truncate(path, contents.completeBytes);
      }
      if (contents.invalidLines > 0) {
        options.logger.error({ path, lines: contents.invalidLines }, 'memory journal: skipped unreadable records');
      }
      const state = new JournalState();
      for (const record of contents.records) state.apply(record);
      const store = new JournalTurnStore(options, lock, await JournalFile.open(path), state);
      if (state.obsoleteRecords > 0) await store.compact();
      return store;
    } catch (error) {
      await lock.release();
      throw error;
    }
  }

  async recover(): Promise<RecoveredTurns> {
    // Whether a replayed turn reached Letta before the crash is unknown: count it as attempted,
    // so writers that check for an earlier delivery (archival) do so.
    const pending = [...this.state.pending.values()].map((turn) => ({ ...turn, attempts: Math.max(1, turn.attempts) }));
    const requeued: PendingTurn[] = [];
    for (const selection of await takeRequeueRequests(this.options.dataDir)) requeued.push(...(await this.requeue(selection)));
    return { pending: [...pending, ...requeued], deadLetters: [...this.state.dead.values()] };
  }

  async append(turn: PendingTurn): Promise<void> {
    await this.write([turnRecord(turn)]);
  }

  async acknowledge(turnIds: readonly string[]): Promise<void> {
    await this.write([ackRecord(turnIds, Date.now())]);
  }

  async deadLetter(letters: readonly DeadLetter[]): Promise<void> {
    await this.write(letters.map(deadRecord), () => {
      // Keep the caller's copy: its attempt count matters to a requeue in this process.
      for (const letter of letters) if (this.state.dead.has(letter.turn.id)) this.state.dead.set(letter.turn.id, letter);
    });
  }

  async requeue(selection: RequeueSelection): Promise<PendingTurn[]> {
    const chosen = selectDeadLetters(this.state.dead, selection);
    if (chosen.length === 0) return [];
    await this.write([requeueRecord(chosen.map((letter) => letter.turn.id), Date.now())]);
    return chosen.map((letter) => ({ ...letter.turn, attempts: Math.max(1, letter.turn.attempts) }));
  }

  deadLetters(): readonly DeadLetter[] {
    return [...this.state.dead.values()];
  }

  takeRequeueRequests() {
    return takeRequeueRequests(this.options.dataDir);
  }

  /** Live numbers for `npm run memory:status`; written atomically so a reader never sees half. */
  async publishStats(stats: QueueStats): Promise<void> {
    const path = join(this.options.dataDir, STATUS_FILE);
    await writeFile(`${path}.tmp`, JSON.stringify({ pid: process.pid, updatedAt: Date.now(), stats }));
    await rename(`${path}.tmp`, path);
  }

  async close(): Promise<void> {
    try {
      await this.compact();
      await this.file.close();
    } finally {
      await this.lock.release();
    }
  }

  /** Rewrites the journal as the minimal record set for the current state. */
  compact(): Promise<void> {
    this.compacting ??= this.file
      .rewrite(() => {
        const text = this.state.snapshot().map(encodeRecord).join('');
        this.state.obsoleteRecords = 0;
        return text;
      })
      .catch((error: unknown) => this.options.logger.warn({ err: error }, 'memory journal compaction failed'))
      .finally(() => (this.compacting = undefined));
    return this.compacting;
  }

  /**
   * State changes before the bytes are queued, so a compaction snapshot taken after the next
   * flush already includes them and never loses a record that was queued before it.
   */
  private async write(records: JournalRecord[], afterApply?: () => void): Promise<void> {
    for (const record of records) this.state.apply(record);
    afterApply?.();
    try {
      await this.file.append(records.map(encodeRecord).join(''));
    } catch (error) {
      // A turn the caller is told was not stored must not resurface from a later compaction.
      for (const record of records) if (record.type === 'turn') this.state.pending.delete(record.turn.id);
      throw error;
    }
    if (this.state.obsoleteRecords >= this.options.compactEvery) void this.compact();
  }
}
