import type { DeadLetter, PendingTurn } from '../turn.js';
import { deadRecord, requeueRecord, turnRecord, type JournalRecord } from './journal-records.js';

/**
 * The journal folded into its current meaning: which turns still need writing (in delivery
 * order) and which are dead letters. Used by the worker and by the read-only CLI scripts.
 */
export class JournalState {
  /** Map insertion order is delivery order; a requeue re-inserts at the end. */
  readonly pending = new Map<string, PendingTurn>();
  readonly dead = new Map<string, DeadLetter>();
  /** Records that no longer carry meaning; compaction drops them. */
  obsoleteRecords = 0;

  apply(record: JournalRecord): void {
    switch (record.type) {
      case 'turn':
        if (this.pending.has(record.turn.id) || this.dead.has(record.turn.id)) {
          this.obsoleteRecords += 1;
          return;
        }
        this.pending.set(record.turn.id, record.turn);
        return;
      case 'ack':
        for (const id of record.ids) this.pending.delete(id);
        this.obsoleteRecords += 1 + record.ids.length;
        return;
      case 'dead': {
        const turn = this.pending.get(record.id);
        this.obsoleteRecords += 1;
        if (!turn) return;
        this.pending.delete(record.id);
        this.dead.set(record.id, { turn, reason: record.reason, deadAt: record.at, ...(record.status === undefined ? {} : { status: record.status }) });
        return;
      }
      case 'requeue':
        for (const id of record.ids) {
          const letter = this.dead.get(id);
          if (!letter) continue;
          this.dead.delete(id);
          this.pending.set(id, letter.turn);
        }
        this.obsoleteRecords += 1;
        return;
    }
  }

  /** The shortest record sequence that folds back into this state (dead letters included). */
  snapshot(): JournalRecord[] {
    return [...this.deadLetterSnapshot(), ...this.journalSnapshot(new Set())];
  }

  /**
   * What the journal must hold next to a dead-letter file that holds exactly `onDiskDead`:
   * dead letters not yet in that file, pending turns, and a requeue of pending turns that file
   * still calls dead. Folding either the old or the new dead-letter file with it gives this
   * state, so the two files can be replaced one after the other without a crash window.
   */
  journalSnapshot(onDiskDead: ReadonlySet<string>, at = Date.now()): JournalRecord[] {
    const records: JournalRecord[] = [];
    for (const letter of this.dead.values()) if (!onDiskDead.has(letter.turn.id)) records.push(turnRecord(letter.turn), deadRecord(letter));
    for (const turn of this.pending.values()) records.push(turnRecord(turn));
    const requeued = [...this.pending.keys()].filter((id) => onDiskDead.has(id));
    if (requeued.length > 0) records.push(requeueRecord(requeued, at));
    return records;
  }

  /** Contents of the dead-letter file. */
  deadLetterSnapshot(): JournalRecord[] {
    const records: JournalRecord[] = [];
    for (const letter of this.dead.values()) records.push(turnRecord(letter.turn), deadRecord(letter));
    return records;
  }

  /** Drops dead letters older than the retention; returns them. */
  expireDeadLetters(olderThan: number): DeadLetter[] {
    const expired = [...this.dead.values()].filter((letter) => letter.deadAt < olderThan);
    for (const letter of expired) this.dead.delete(letter.turn.id);
    return expired;
  }
}
