import { watch, type FSWatcher } from 'node:fs';
import { rename, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { MemoryLogger } from '../logger.js';
import type { QueueStats } from '../queue-stats.js';
import { selectDeadLetters, type RecoveredTurns, type RequeueSelection, type TurnStore } from '../turn-store.js';
import type { DeadLetter, PendingTurn } from '../turn.js';
import { AgentLeases, type LeaseRelease } from './agent-leases.js';
import { DataDirLock, isOwnerAlive, readLockOwner } from './data-dir-lock.js';
import { nodeJournalFs, writeFileDurably, type JournalFs } from './journal-fs.js';
import { JournalFile, syncDirectory } from './journal-file.js';
import { ackRecord, deadRecord, encodeRecord, requeueRecord, turnRecord, type JournalRecord } from './journal-records.js';
import { JournalState } from './journal-state.js';
import { quarantineLines } from './quarantine.js';
import { takeRequeueRequests } from './requeue-inbox.js';
import { DEAD_LETTERS_FILE, JOURNAL_FILE, readSlot, type UnreadableInFile } from './slot-contents.js';
import { claimSlot, listSlotDirs, tryLock } from './slots.js';

export { DEAD_LETTERS_FILE, JOURNAL_FILE } from './slot-contents.js';
export const STATUS_FILE = 'status.json';
export const AGENT_LEASES_DIR = 'agent-leases';
/** A closing worker that leaves turns behind creates (and removes) such a link, so running workers adopt them at once. */
export const HANDOVER_PREFIX = '.handover-';

export type JournalStoreOptions = {
  /** The data dir root (MEMORY_DATA_DIR); the journal lives in one of its worker-N slots. */
  dataDir: string;
  /** Compact once this many records carry no meaning any more. */
  compactEvery: number;
  /** Dead letters older than this are dropped at the next compaction (logged); Infinity keeps them. */
  deadLetterRetentionMs?: number;
  logger: MemoryLogger;
  /** File-system layer; tests inject short writes and ENOSPC. */
  fs?: JournalFs;
};

/**
 * TurnStore on an append-only JSON-lines journal. A turn is fsynced before enqueue resolves
 * and leaves the journal (at the next compaction) only after Letta acknowledged it. Lines the
 * worker cannot read are copied to the quarantine file before any compaction could drop them.
 */
export class JournalTurnStore implements TurnStore {
  readonly durable = true;
  private compacting: Promise<void> | undefined;
  private leases: AgentLeases | undefined;
  private watcher: FSWatcher | undefined;
  private readonly fs: JournalFs;

  private constructor(
    /** The slot directory this process owns. */
    readonly dir: string,
    private readonly options: JournalStoreOptions,
    private readonly lock: DataDirLock,
    private readonly file: JournalFile,
    private readonly state: JournalState,
    /** Ids the dead-letter file on disk holds as dead. */
    private onDiskDead: Set<string>,
    /** Unreadable lines not yet copied to the quarantine file; nothing that would drop them runs before. */
    private unquarantined: UnreadableInFile[],
  ) {
    this.fs = options.fs ?? nodeJournalFs;
  }

  /** Claims a free slot of the data dir, replays it, and adopts slots left by dead processes. */
  static async open(options: JournalStoreOptions): Promise<JournalTurnStore> {
    const fs = options.fs ?? nodeJournalFs;
    const { dir, lock } = await claimSlot(options.dataDir, fs);
    const store = await JournalTurnStore.openLocked(dir, lock, options);
    store.leases = new AgentLeases(
      join(options.dataDir, AGENT_LEASES_DIR),
      (agentId, error) => options.logger.warn({ err: error, agentId }, 'agent lease unavailable (disk full?); writing with in-process exclusion only'),
      fs,
    );
    try {
      await store.adoptOrphans();
    } catch (error) {
      await store.close();
      throw error;
    }
    return store;
  }

  /** Opens one given slot (for the CLI); throws DataDirLockedError while a worker owns it. */
  static async openSlot(dir: string, options: Omit<JournalStoreOptions, 'dataDir'>): Promise<JournalTurnStore> {
    return JournalTurnStore.openLocked(dir, await DataDirLock.acquire(dir, options.fs), { ...options, dataDir: dir });
  }

  private static async openLocked(dir: string, lock: DataDirLock, options: JournalStoreOptions): Promise<JournalTurnStore> {
    const fs = options.fs ?? nodeJournalFs;
    try {
      const path = join(dir, JOURNAL_FILE);
      const slot = await readSlot(dir, fs);
      let unquarantined = slot.unreadable;
      for (const file of unquarantined) {
        options.logger.error(
          { path: file.path, lines: file.lines.map((line) => ({ line: line.line, offset: line.offset, reason: line.reason })) },
          'memory journal: unreadable records (kept in the quarantine file, see npm run memory:status)',
        );
      }
      let endsMidLine = false;
      const tail = slot.journal.tornTail;
      if (tail) {
        // Appending after a torn line would glue the next record to it: copy it aside, then cut it off.
        try {
          await quarantineLines(dir, path, [tail], fs);
          await fs.truncate(path, slot.journal.completeBytes);
          unquarantined = withoutLine(unquarantined, path, tail.offset);
        } catch (error) {
          options.logger.error({ err: error, path }, 'memory journal: could not set the torn final line aside; keeping it');
          endsMidLine = true;
        }
      }
      const file = await JournalFile.open(path, { fs, endsMidLine });
      const store = new JournalTurnStore(dir, options, lock, file, slot.state, slot.onDiskDead, unquarantined);
      await store.compact();
      return store;
    } catch (error) {
      await lock.release();
      throw error;
    }
  }

  async recover(): Promise<RecoveredTurns> {
    // Whether a replayed turn reached Letta before the crash is unknown: count it as attempted,
    // so writers that check for an earlier delivery do so.
    const pending = [...this.state.pending.values()].map(asReplayed);
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

  /** The turn record goes along, so a turn that never reached the journal (disk full at enqueue) is kept too. */
  async deadLetter(letters: readonly DeadLetter[]): Promise<void> {
    await this.write(
      letters.flatMap((letter) => [turnRecord(letter.turn), deadRecord(letter)]),
      () => {
        // Keep the caller's copy: its attempt count matters to a requeue in this process.
        for (const letter of letters) if (this.state.dead.has(letter.turn.id)) this.state.dead.set(letter.turn.id, letter);
      },
    );
  }

  async requeue(selection: RequeueSelection): Promise<PendingTurn[]> {
    const chosen = selectDeadLetters(this.state.dead, selection);
    if (chosen.length === 0) return [];
    await this.write([requeueRecord(chosen.map((letter) => letter.turn.id), Date.now())]);
    return chosen.map((letter) => asReplayed(letter.turn));
  }

  deadLetters(): readonly DeadLetter[] {
    return [...this.state.dead.values()];
  }

  takeRequeueRequests(): Promise<RequeueSelection[]> {
    return takeRequeueRequests(this.dir);
  }

  leaseAgent(agentId: string, signal?: AbortSignal): Promise<LeaseRelease> {
    return this.leases ? this.leases.acquire(agentId, signal) : Promise.resolve(async () => {});
  }

  publishHead(agentId: string, userAt: number | undefined): Promise<void> {
    return this.leases ? this.leases.publishHead(agentId, userAt) : Promise.resolve();
  }

  earliestHeadElsewhere(agentId: string): Promise<number | undefined> {
    return this.leases ? this.leases.earliestHeadElsewhere(agentId) : Promise.resolve(undefined);
  }

  /** Live numbers for `npm run memory:status`; written atomically so a reader never sees half. */
  async publishStats(stats: QueueStats): Promise<void> {
    const path = join(this.dir, STATUS_FILE);
    await writeFile(`${path}.tmp`, JSON.stringify({ pid: process.pid, updatedAt: Date.now(), stats }));
    await rename(`${path}.tmp`, path);
  }

  /** Calls back when another worker closes and leaves turns in its slot (the periodic check still runs). */
  watchHandovers(onHandover: () => void): void {
    if (this.watcher || !this.leases) return;
    try {
      this.watcher = watch(this.options.dataDir, (_event, name) => {
        if (typeof name === 'string' && name.startsWith(HANDOVER_PREFIX)) onHandover();
      });
      this.watcher.on('error', () => this.watcher?.close());
      this.watcher.unref();
    } catch {
      // No inotify here: the periodic check finds the turns instead.
    }
  }

  async close(): Promise<void> {
    this.watcher?.close();
    await this.leases?.clearHeads();
    const leftBehind = this.state.pending.size > 0;
    try {
      await this.compact();
      await this.file.close();
    } finally {
      await this.lock.release();
    }
    if (leftBehind && this.leases) await this.announceHandover();
  }

  /** Quarantines what is unreadable, expires old dead letters, then rewrites journal and (if changed) dead-letter file. */
  compact(): Promise<void> {
    this.compacting ??= this.compactNow()
      .catch((error: unknown) => this.options.logger.warn({ err: error }, 'memory journal compaction failed'))
      .finally(() => (this.compacting = undefined));
    return this.compacting;
  }

  /**
   * Moves the turns of slots whose process is gone (a crash, or a call that ended with turns
   * undelivered) into this journal and returns the pending ones. They are appended here
   * (durably) before the orphan is emptied, so a crash in between only duplicates them.
   */
  async adoptOrphans(): Promise<PendingTurn[]> {
    const adopted: PendingTurn[] = [];
    for (const dir of await listSlotDirs(this.options.dataDir)) {
      if (dir === this.dir) continue;
      const owner = await readLockOwner(dir, this.fs);
      if (owner && isOwnerAlive(owner)) continue;
      // Checked before locking: briefly locking every idle slot would push starting workers to new slots.
      if (!(await holdsAnything(dir))) continue;
      const lock = await tryLock(dir, this.fs);
      if (!lock) continue;
      try {
        adopted.push(...(await this.adoptSlot(dir)));
      } finally {
        await lock.release();
      }
    }
    return adopted;
  }

  private async adoptSlot(dir: string): Promise<PendingTurn[]> {
    const orphan = await readSlot(dir, this.fs);
    const records = orphan.state.snapshot();
    if (records.length === 0 && orphan.unreadable.length === 0) return [];
    for (const file of orphan.unreadable) await quarantineLines(dir, file.path, file.lines, this.fs);
    if (records.length > 0) await this.write(records);
    await writeFileDurably(this.fs, join(dir, JOURNAL_FILE), new Uint8Array());
    await this.fs.unlink(join(dir, DEAD_LETTERS_FILE)).catch(() => {});
    this.options.logger.info(
      { from: dir, pending: orphan.state.pending.size, deadLetters: orphan.state.dead.size },
      'memory journal: adopted turns left by a stopped worker',
    );
    return [...orphan.state.pending.values()].map(asReplayed);
  }

  private async compactNow(): Promise<void> {
    if (!(await this.quarantineUnreadable())) return;
    const retention = this.options.deadLetterRetentionMs ?? Number.POSITIVE_INFINITY;
    if (Number.isFinite(retention)) {
      const expired = this.state.expireDeadLetters(Date.now() - retention);
      if (expired.length > 0) {
        this.options.logger.warn(
          { turnIds: expired.map((letter) => letter.turn.id), retentionMs: retention },
          'memory dead letters past their retention dropped',
        );
      }
    }
    await this.file.rewrite(() => {
      const text = this.state.journalSnapshot(this.onDiskDead).map(encodeRecord).join('');
      this.state.obsoleteRecords = 0;
      return text;
    });
    await this.rewriteDeadLettersIfChanged();
  }

  /** True when nothing unreadable is left that a rewrite could lose. */
  private async quarantineUnreadable(): Promise<boolean> {
    while (this.unquarantined.length > 0) {
      const file = this.unquarantined[0];
      try {
        await quarantineLines(this.dir, file.path, file.lines, this.fs);
      } catch (error) {
        this.options.logger.error({ err: error, path: file.path }, 'memory journal: cannot quarantine unreadable lines; not compacting');
        return false;
      }
      this.unquarantined.shift();
    }
    return true;
  }

  /** The dead-letter file is replaced only when its set changed, not on every compaction. */
  private async rewriteDeadLettersIfChanged(): Promise<void> {
    const ids = new Set(this.state.dead.keys());
    if (ids.size === this.onDiskDead.size && [...ids].every((id) => this.onDiskDead.has(id))) return;
    const path = join(this.dir, DEAD_LETTERS_FILE);
    if (ids.size === 0) {
      await this.fs.unlink(path).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
    } else {
      const tmp = `${path}.tmp`;
      await writeFileDurably(this.fs, tmp, Buffer.from(this.state.deadLetterSnapshot().map(encodeRecord).join(''), 'utf8'));
      await this.fs.rename(tmp, path);
    }
    await syncDirectory(this.dir);
    this.onDiskDead = ids;
  }

  private async announceHandover(): Promise<void> {
    const signal = join(this.options.dataDir, `${HANDOVER_PREFIX}${basename(this.dir)}-${process.pid}-${Date.now()}`);
    try {
      await this.fs.symlink(basename(this.dir), signal);
      await this.fs.unlink(signal);
    } catch {
      // Only a wake-up call: running workers also check on their housekeeping tick.
    }
  }

  /**
   * State changes before the bytes are queued, so a compaction snapshot taken after the next
   * flush already includes them and never loses a record that was queued before it.
   */
  private async write(records: JournalRecord[], afterApply?: () => void): Promise<void> {
    const wasPending = new Set(records.flatMap((record) => (record.type === 'turn' && this.state.pending.has(record.turn.id) ? [record.turn.id] : [])));
    for (const record of records) this.state.apply(record);
    afterApply?.();
    try {
      await this.file.append(records.map(encodeRecord).join(''));
    } catch (error) {
      // A turn the caller is told was not stored must not resurface from a later compaction.
      for (const record of records) if (record.type === 'turn' && !wasPending.has(record.turn.id)) this.state.pending.delete(record.turn.id);
      throw error;
    }
    if (this.state.obsoleteRecords >= this.options.compactEvery) void this.compact();
  }
}

async function holdsAnything(dir: string): Promise<boolean> {
  const size = (name: string) => stat(join(dir, name)).then((info) => info.size, () => 0);
  return (await size(JOURNAL_FILE)) > 0 || (await size(DEAD_LETTERS_FILE)) > 0;
}

function asReplayed(turn: PendingTurn): PendingTurn {
  return { ...turn, attempts: Math.max(1, turn.attempts) };
}

function withoutLine(files: UnreadableInFile[], path: string, offset: number): UnreadableInFile[] {
  return files
    .map((file) => (file.path === path ? { ...file, lines: file.lines.filter((line) => line.offset !== offset) } : file))
    .filter((file) => file.lines.length > 0);
}
