import type { PendingTurn } from '../../src/memory/turn.js';
import { TurnWriteError, type TurnWriter } from '../../src/memory/turn-writer.js';

export type WriteCall = {
  agentId: string;
  turnIds: string[];
  otids: string[];
  attempts: number[];
};

/** What the fake does with one request: fail before applying, apply then fail (lost answer), or apply. */
export type Outcome =
  | { kind: 'ok' }
  | { kind: 'fail'; error: TurnWriteError }
  | { kind: 'applied-then-fail'; error: TurnWriteError };

export type Decide = (call: WriteCall, callIndex: number) => Outcome;

export const retryable = (status = 503) => new TurnWriteError(`Letta answered ${status}`, { retryable: true, status });
export const rejected = (status = 422, message = 'Letta answered 422 invalid message') =>
  new TurnWriteError(message, { retryable: false, status });

/**
 * A deterministic stand-in for Letta: applies turns per agent with otid dedupe (like Letta),
 * records every request, and measures concurrency per agent and overall.
 */
export class FakeTurnWriter implements TurnWriter {
  readonly calls: WriteCall[] = [];
  readonly applied = new Map<string, string[]>();
  private readonly seenOtids = new Set<string>();
  private readonly activePerAgent = new Map<string, number>();
  private active = 0;
  maxActive = 0;
  maxActivePerAgent = 0;
  delayMs = 0;
  /** When set, each request waits for this promise (released by the test). */
  gate: Promise<void> | undefined;
  private gateWaiters: Array<(call: WriteCall) => void> = [];

  constructor(private decide: Decide = () => ({ kind: 'ok' })) {}

  setDecide(decide: Decide): void {
    this.decide = decide;
  }

  /** Resolves with the next request the queue makes. */
  nextCall(): Promise<WriteCall> {
    return new Promise((resolve) => this.gateWaiters.push(resolve));
  }

  appliedTurnIds(agentId: string): string[] {
    return this.applied.get(agentId) ?? [];
  }

  async write(agentId: string, turns: readonly PendingTurn[], signal: AbortSignal): Promise<void> {
    const call: WriteCall = {
      agentId,
      turnIds: turns.map((t) => t.id),
      otids: turns.map((t) => t.otid),
      attempts: turns.map((t) => t.attempts),
    };
    const index = this.calls.push(call) - 1;
    const perAgent = (this.activePerAgent.get(agentId) ?? 0) + 1;
    this.activePerAgent.set(agentId, perAgent);
    this.active += 1;
    this.maxActive = Math.max(this.maxActive, this.active);
    this.maxActivePerAgent = Math.max(this.maxActivePerAgent, perAgent);
    const waiters = this.gateWaiters;
    this.gateWaiters = [];
    for (const notify of waiters) notify(call);
    try {
      await abortable(this.pause(), signal);
      const outcome = this.decide(call, index);
      if (outcome.kind === 'fail') throw outcome.error;
      for (const turn of turns) this.apply(agentId, turn);
      if (outcome.kind === 'applied-then-fail') throw outcome.error;
    } finally {
      this.active -= 1;
      this.activePerAgent.set(agentId, (this.activePerAgent.get(agentId) ?? 1) - 1);
    }
  }

  private async pause(): Promise<void> {
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    if (this.gate) await this.gate;
  }

  private apply(agentId: string, turn: PendingTurn): void {
    if (this.seenOtids.has(turn.otid)) return;
    this.seenOtids.add(turn.otid);
    const list = this.applied.get(agentId) ?? [];
    list.push(turn.id);
    this.applied.set(agentId, list);
  }
}

function abortable(work: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(new TurnWriteError('aborted', { retryable: true }));
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(new TurnWriteError('aborted', { retryable: true }));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

export function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** Small deterministic PRNG so "random" failure patterns are reproducible. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

export function turnInput(agentId: string, n: number) {
  const at = Date.UTC(2025, 0, 1, 12, 0, n);
  return { agentId, sessionId: 'session-1', userText: `user ${n}`, assistantText: `assistant ${n}`, interrupted: false, userAt: at, assistantAt: at + 500 };
}
