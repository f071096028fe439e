import type { PendingTurn } from './turn.js';

/** Delivery order is the order turns were spoken (userAt), then the order they were enqueued. */
export function bySpokenTime(a: PendingTurn, b: PendingTurn): number {
  return a.userAt - b.userAt || a.enqueuedAt - b.enqueuedAt;
}

/**
 * Merges turns from another call (an adopted slot) into a lane's backlog by spoken time. The
 * first `fixed` turns (the batch already sent, retried unchanged) keep their place.
 */
export function mergeBySpokenTime(pending: PendingTurn[], turns: readonly PendingTurn[], fixed: number): void {
  const known = new Set(pending.map((turn) => turn.id));
  const fresh = turns.filter((turn) => !known.has(turn.id));
  if (fresh.length === 0) return;
  const rest = [...pending.slice(fixed), ...fresh].sort(bySpokenTime);
  pending.splice(fixed, pending.length - fixed, ...rest);
}
