import { afterEach, describe, expect, it } from 'vitest';
import { startWorkerFixture, type WorkerFixture } from './worker-fixture.js';

let fixture: WorkerFixture | undefined;
afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
});

type LettaCondition = 'healthy' | 'slow (5 s writes)' | 'down';

/** Median time from a user turn to the first reply text reaching the session, over a few turns. */
async function timeToFirstText(condition: LettaCondition): Promise<number> {
  fixture = await startWorkerFixture({
    openai: { ttftMs: 80, tokenDelayMs: 5 },
    env: { MEMORY_DRAIN_DEADLINE_MS: '200' },
    memoryTimeoutMs: 300,
    beforeCall: ({ letta }) => (condition === 'down' ? letta.refuse() : undefined),
  });
  if (condition === 'slow (5 s writes)') fixture.letta.options.messageLatencyMs = 5_000;
  const samples: number[] = [];
  for (let i = 0; i < 4; i++) {
    fixture.text.reset();
    const started = performance.now();
    await fixture.say(`Turn number ${i}, tell me something.`);
    samples.push(fixture.text.chunks[0]!.at - started);
  }
  await fixture.close();
  fixture = undefined;
  samples.sort((a, b) => a - b);
  return (samples[1]! + samples[2]!) / 2;
}

describe('the reply path does not depend on Letta', () => {
  it('time to first text is the same with Letta slow or down as with Letta healthy', async () => {
    const healthy = await timeToFirstText('healthy');
    const slow = await timeToFirstText('slow (5 s writes)');
    const down = await timeToFirstText('down');

    // The injected LLM time to first token is 80 ms; Letta adds nothing on top, so all three stay close.
    // Generous bound for a shared 2-core machine: within 150 ms or 1.5x of the healthy median.
    for (const degraded of [slow, down]) {
      expect(degraded).toBeLessThan(Math.max(healthy * 1.5, healthy + 150));
    }
    expect(healthy).toBeGreaterThanOrEqual(80);
  });
});
