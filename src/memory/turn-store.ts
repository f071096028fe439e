import type { QueueStats } from './queue-stats.js';
import type { DeadLetter, PendingTurn } from './turn.js';

export type RecoveredTurns = {
  /** Unacknowledged turns in original enqueue order (requeued dead letters at their requeue position). */
  pending: PendingTurn[];
  deadLetters: DeadLetter[];
};

export type RequeueSelection = readonly string[] | 'all';

/**
 * Where the queue keeps turns until Letta acknowledges them. The journal makes this durable;
 * the in-memory store serves tests and deployments that accept losing turns on a crash.
 */
export interface TurnStore {
  readonly durable: boolean;
  recover(): Promise<RecoveredTurns>;
  /** Resolves once the turn would survive a crash. Appends must resolve in call order. */
  append(turn: PendingTurn): Promise<void>;
  acknowledge(turnIds: readonly string[]): Promise<void>;
  deadLetter(letters: readonly DeadLetter[]): Promise<void>;
  /** Moves dead letters back to pending and returns them, oldest dead letter first. */
  requeue(selection: RequeueSelection): Promise<PendingTurn[]>;
  deadLetters(): readonly DeadLetter[];
  /** Requeue requests left by the dead-letter CLI while this worker held the data dir. */
  takeRequeueRequests?(): Promise<RequeueSelection[]>;
  /**
   * Cross-process exclusion per agent (other job processes on the same data dir); resolves
   * with the release. Without it, exclusion is per process only.
   */
  leaseAgent?(agentId: string, signal?: AbortSignal): Promise<() => Promise<void>>;
  /**
   * Takes over the turns other job processes left behind (their slot is no longer owned) and
   * returns the pending ones, so they are delivered now rather than at the next start.
   */
  adoptOrphans?(): Promise<PendingTurn[]>;
  /** Calls back as soon as another process leaves turns behind (best effort; adoptOrphans is also polled). */
  watchHandovers?(onHandover: () => void): void;
  /**
   * Cross-process spoken order per agent: publish when this process's earliest undelivered turn
   * for the agent was spoken (undefined: none), and learn the earliest of the other processes.
   */
  publishHead?(agentId: string, userAt: number | undefined): Promise<void>;
  earliestHeadElsewhere?(agentId: string): Promise<number | undefined>;
  /** Lets read-only tools see a running worker's live numbers. */
  publishStats?(stats: QueueStats): Promise<void>;
  close(): Promise<void>;
}

export class InMemoryTurnStore implements TurnStore {
  readonly durable = false;
  private readonly dead = new Map<string, DeadLetter>();

  async recover(): Promise<RecoveredTurns> {
    return { pending: [], deadLetters: [...this.dead.values()] };
  }

  async append(): Promise<void> {}

  async acknowledge(): Promise<void> {}

  async deadLetter(letters: readonly DeadLetter[]): Promise<void> {
    for (const letter of letters) this.dead.set(letter.turn.id, letter);
  }

  async requeue(selection: RequeueSelection): Promise<PendingTurn[]> {
    const chosen = selectDeadLetters(this.dead, selection);
    for (const letter of chosen) this.dead.delete(letter.turn.id);
    return chosen.map((letter) => letter.turn);
  }

  deadLetters(): readonly DeadLetter[] {
    return [...this.dead.values()];
  }

  async close(): Promise<void> {}
}

export function selectDeadLetters(dead: ReadonlyMap<string, DeadLetter>, selection: RequeueSelection): DeadLetter[] {
  if (selection === 'all') return [...dead.values()];
  const wanted = new Set(selection);
  return [...dead.values()].filter((letter) => wanted.has(letter.turn.id));
}
