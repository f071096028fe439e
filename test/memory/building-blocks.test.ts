import { describe, expect, it } from 'vitest';
import { backoffDelayMs } from '../../src/memory/backoff.js';
import { CircuitBreaker } from '../../src/memory/circuit-breaker.js';
import { KeyedMutex } from '../../src/memory/keyed-mutex.js';
import { INTERRUPTED_NOTE, formatTurnTranscript } from '../../src/memory/transcript.js';
import { createPendingTurn } from '../../src/memory/turn.js';

describe('backoffDelayMs', () => {
  const policy = { baseMs: 100, maxMs: 1_000 };
  it('doubles per attempt within [step/2, step] and caps', () => {
    expect([1, 2, 3, 4, 5, 9].map((a) => backoffDelayMs(a, policy, () => 0))).toEqual([50, 100, 200, 400, 500, 500]);
    expect([1, 2, 3, 4, 5, 9].map((a) => backoffDelayMs(a, policy, () => 0.999999))).toEqual([100, 200, 400, 800, 1_000, 1_000]);
  });
});

describe('CircuitBreaker', () => {
  it('opens after N consecutive failures, allows one half-open probe after the cooldown', () => {
    let now = 0;
    const breaker = new CircuitBreaker({ failureThreshold: 3, cooldownMs: 1_000 }, () => now);
    for (let i = 0; i < 2; i++) {
      expect(breaker.tryAcquire()).toBe(true);
      breaker.recordFailure();
    }
    breaker.tryAcquire();
    breaker.recordSuccess();
    for (let i = 0; i < 3; i++) {
      breaker.tryAcquire();
      breaker.recordFailure();
    }
    expect(breaker.currentState).toBe('open');
    expect(breaker.tryAcquire()).toBe(false);
    now = 1_000;
    expect(breaker.currentState).toBe('half-open');
    expect(breaker.tryAcquire()).toBe(true);
    expect(breaker.tryAcquire()).toBe(false);
    breaker.recordFailure();
    expect(breaker.currentState).toBe('open');
    now = 2_000;
    expect(breaker.tryAcquire()).toBe(true);
    breaker.recordSuccess();
    expect(breaker.currentState).toBe('closed');
    expect(breaker.tryAcquire()).toBe(true);
  });
});

describe('KeyedMutex', () => {
  it('serialises per key in FIFO order and leaves other keys alone', async () => {
    const mutex = new KeyedMutex();
    const log: string[] = [];
    const task = (key: string, name: string, ms: number) =>
      mutex.runExclusive(key, async () => {
        log.push(`${name}+`);
        await new Promise((r) => setTimeout(r, ms));
        log.push(`${name}-`);
      });
    await Promise.all([task('a', 'a1', 20), task('a', 'a2', 1), task('b', 'b1', 1)]);
    expect(log).toEqual(['a1+', 'b1+', 'b1-', 'a1-', 'a2+', 'a2-']);
    expect(mutex.isLocked('a')).toBe(false);
  });
});

describe('formatTurnTranscript', () => {
  const base = { agentId: 'agent-1', userText: 'What time is it?', assistantText: 'It is half past', userAt: Date.UTC(2025, 0, 2, 3, 4, 5), assistantAt: 0 };
  it('renders timestamp, user, spoken assistant text', () => {
    const text = formatTurnTranscript(createPendingTurn({ ...base, interrupted: false }, 0));
    expect(text).toBe('[voice turn 2025-01-02T03:04:05.000Z]\nUser: What time is it?\nAssistant (spoken): It is half past');
  });
  it('marks interrupted replies', () => {
    expect(formatTurnTranscript(createPendingTurn({ ...base, interrupted: true }, 0)).endsWith(`\n${INTERRUPTED_NOTE}`)).toBe(true);
  });
});
