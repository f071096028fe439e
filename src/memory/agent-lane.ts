import type { PendingTurn } from './turn.js';

/** Per-agent delivery state: the ordered backlog and the batch currently being delivered. */
export class AgentLane {
  /** Unacknowledged turns in delivery order; the current batch is always at the front. */
  readonly pending: PendingTurn[] = [];
  /** Fixed once formed, so every retry resends exactly the same turns and otids. */
  batch: PendingTurn[] | null = null;
  running = false;
  /** Epoch ms before which this lane must not be retried. */
  retryAt = 0;
  consecutiveFailures = 0;
  /** After a batch was rejected, this many turns are sent one by one to isolate the bad one. */
  sendSinglyRemaining = 0;

  constructor(readonly agentId: string) {}

  get isEmpty(): boolean {
    return this.pending.length === 0;
  }

  currentBatch(batchMax: number): PendingTurn[] {
    if (this.batch) return this.batch;
    const size = this.sendSinglyRemaining > 0 ? 1 : batchMax;
    if (this.sendSinglyRemaining > 0) this.sendSinglyRemaining -= 1;
    this.batch = this.pending.slice(0, size);
    return this.batch;
  }

  /** Removes the current batch after it was acknowledged or dead-lettered. */
  settleBatch(): PendingTurn[] {
    const settled = this.batch ?? [];
    this.pending.splice(0, settled.length);
    this.batch = null;
    return settled;
  }
}
