import { join } from 'node:path';
import { rename, truncate, writeFile } from 'node:fs/promises';
import type { MemoryLogger } from '../logger.js';
import type { QueueStats } from '../queue-stats.js';
import { selectDeadLetters, type RecoveredTurns, type RequeueSelection, type TurnStore } from '../turn-store.js';
import type { DeadLetter, PendingTurn } from '../turn.js';
import { AgentLeases } from './agent-leases.js';
import { DataDirLock } from './data-dir-lock.js';
import { JournalFile } from './journal-file.js';
import { readJournal } from './journal-reader.js';
import { ackRecord, deadRecord, encodeRecord, requeueRecord, turnRecord, type JournalRecord } from './journal-records.js';
import { JournalState } from './journal-state.js';
import { takeRequeueRequests } from './requeue-inbox.js';
import { claimSlot, listSlotDirs, tryLock } from './slots.js';

export const JOURNAL_FILE = 'journal.jsonl';
export const STATUS_FILE = 'status.json';
export const AGENT_LEASES_DIR = 'agent-leases';

export type JournalStoreOptions = {
  /** The data dir root (MEMORY_DATA_DIR); the journal lives in one of its worker-N slots. */
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
  private leases: AgentLeases | undefined;

  private constructor(
    /** The slot directory this process owns. */
    readonly dir: string,
    private readonly options: JournalStoreOptions,
    private readonly lock: DataDirLock,
    private readonly file: JournalFile,
    private readonly state: JournalState,
  ) {}

  /** Claims a free slot of the data dir, replays it, and adopts slots left by dead processes. */
  static async open(options: JournalStoreOptions): Promise<JournalTurnStore> {
    const { dir, lock } = await claimSlot(options.dataDir);
    const store = await JournalTurnStore.openLocked(dir, lock, options);
    store.leases = new AgentLeases(join(options.dataDir, AGENT_LEASES_DIR));
    try {
      await store.adoptOrphanedSlots();
    } catch (error) {
      await store.close();
      throw error;
    }
    return store;
  }

  /** Opens one given slot (for the CLI); throws DataDirLockedError while a worker owns it. */
  static async openSlot(dir: string, options: Omit<JournalStoreOptions, 'dataDir'>): Promise<JournalTurnStore> {
    return JournalTurnStore.openLocked(dir, await DataDirLock.acquire(dir), { ...options, dataDir: dir });
  }

  private static async openLocked(dir: string, lock: DataDirLock, options: JournalStoreOptions): Promise<JournalTurnStore> {
    try {
      const path = join(dir, JOURNAL_FILE);
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
      const store = new JournalTurnStore(dir, options, lock, await JournalFile.open(path), state);
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
    for (const selection of await takeRequeueRequests(this.dir)) requeued.push(...(await this.requeue(selection)));
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

  takeRequeueRequests(): Promise<RequeueSelection[]> {
    return takeRequeueRequests(this.dir);
  }

  leaseAgent(agentId: string, signal?: AbortSignal): Promise<() => Promise<void>> {
    return this.leases ? this.leases.acquire(agentId, signal) : Promise.resolve(async () => {});
  }

  /** Live numbers for `npm run memory:status`; written atomically so a reader never sees half. */
  async publishStats(stats: QueueStats): Promise<void> {
    const path = join(this.dir, STATUS_FILE);
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
   * Moves the turns of slots whose process died into this journal. They are appended here
   * (durably) before the orphan is emptied, so a crash in between only duplicates them, and
   * duplicates carry the same otid.
   */
  private async adoptOrphanedSlots(): Promise<void> {
    for (const dir of await listSlotDirs(this.options.dataDir)) {
      if (dir === this.dir) continue;
      const lock = await tryLock(dir);
      if (!lock) continue;
      try {
        const orphan = new JournalState();
        for (const record of (await readJournal(join(dir, JOURNAL_FILE))).records) orphan.apply(record);
        const records = orphan.snapshot();
        if (records.length === 0) continue;
        await this.write(records);
        await writeFile(join(dir, JOURNAL_FILE), '', { flush: true });
        this.options.logger.info(
          { from: dir, pending: orphan.pending.size, deadLetters: orphan.dead.size },
          'memory journal: adopted turns left by a stopped worker',
        );
      } finally {
        await lock.release();
      }
    }
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
