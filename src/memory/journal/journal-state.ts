import type { DeadLetter, PendingTurn } from '../turn.js';
import { deadRecord, turnRecord, type JournalRecord } from './journal-records.js';

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

  /** The shortest record sequence that folds back into this state. */
  snapshot(): JournalRecord[] {
    const records: JournalRecord[] = [];
    for (const letter of this.dead.values()) records.push(turnRecord(letter.turn), deadRecord(letter));
    for (const turn of this.pending.values()) records.push(turnRecord(turn));
    return records;
  }
}
