import { afterEach, describe, expect, it } from 'vitest';
import { APOLOGY } from '../../src/replies/reply-generator.js';
import { waitFor } from '../support/wait-for.js';
import { startWorkerFixture, type WorkerFixture } from './worker-fixture.js';

let fixture: WorkerFixture | undefined;
afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
});

const LETTA_REPLY = 'Letta here. The fast path was silent, so I answered instead.';
const CHAT_REPLY = 'One two three four five six seven eight nine ten.';

/** Time from the start of the turn to the first text the session received. */
function firstTextAfter(started: number): number {
  return fixture!.text.chunks[0]!.at - started;
}

describe('first-word deadline', () => {
  it('aborts a fast path that sends headers and then nothing, and Letta answers', async () => {
    fixture = await startWorkerFixture({
      env: { FAST_PATH_FIRST_WORD_TIMEOUT_MS: '600' },
      letta: { replyFor: () => LETTA_REPLY, messageLatencyMs: 20, includeToolCalls: false },
    });
    fixture.openai.stallMidStream(0);
    const started = performance.now();
    const { reply } = await fixture.say('Hello, anyone there?');

    expect(reply).toBe(LETTA_REPLY);
    const waited = firstTextAfter(started);
    expect(waited).toBeGreaterThanOrEqual(590);
    expect(waited).toBeLessThan(600 + 2_500);
    expect(fixture.turns[0]).toMatchObject({ source: 'letta', replyEnd: 'complete' });
    expect(fixture.turns[0]!.fallbacks[0]).toBe('openai: no text within 600 ms');
    // The stalled request was aborted, not left open.
    await waitFor(() => fixture!.openai.responses[0]!.clientAborted, 2_000);
  });

  it('speaks the apology within the sum of the deadlines when the fast path stalls and Letta only pings', async () => {
    fixture = await startWorkerFixture({
      env: { FAST_PATH_FIRST_WORD_TIMEOUT_MS: '500', LETTA_FIRST_WORD_TIMEOUT_MS: '800', LETTA_CANCEL_WAIT_MS: '1000' },
    });
    fixture.openai.stallMidStream(0);
    fixture.letta.stallAfterPingNext(1);
    const started = performance.now();
    const { reply } = await fixture.say('Hello?');

    expect(reply).toBe(APOLOGY);
    const waited = firstTextAfter(started);
    expect(waited).toBeGreaterThanOrEqual(1_290);
    expect(waited).toBeLessThan(500 + 800 + 2_000);
    expect(fixture.turns[0]).toMatchObject({ source: 'apology' });
    expect(fixture.turns[0]!.fallbacks).toEqual(['openai: no text within 500 ms', 'letta: no text within 800 ms']);
    // The Letta run that only pinged was cancelled with the run id from its ping.
    const [runId] = fixture.letta.runs.ids(fixture.agentId);
    await waitFor(() => fixture!.letta.requests.some((r) => r.route === 'messages.cancel'), 2_000);
    const cancel = fixture.letta.requests.find((r) => r.route === 'messages.cancel');
    expect(cancel?.body).toEqual({ run_ids: [runId] });
    await waitFor(() => fixture!.letta.runs.timeline(runId!)?.run.status === 'cancelled', 2_000);
  });

  it('on the full Letta path, a Letta stream that only pings hands over to the fast path', async () => {
    fixture = await startWorkerFixture({
      env: { USE_HYBRID_STREAMING: 'false', LETTA_FIRST_WORD_TIMEOUT_MS: '700' },
      openai: { reply: () => CHAT_REPLY },
    });
    fixture.letta.stallAfterPingNext(1);
    const started = performance.now();
    const { reply } = await fixture.say('Are you there?');

    expect(reply).toBe(CHAT_REPLY);
    expect(firstTextAfter(started)).toBeGreaterThanOrEqual(690);
    expect(firstTextAfter(started)).toBeLessThan(700 + 2_500);
    expect(fixture.turns[0]).toMatchObject({ mode: 'letta', source: 'openai' });
    expect(fixture.turns[0]!.fallbacks[0]).toBe('letta: no text within 700 ms');
  });
});

describe('stalls and cuts mid-reply', () => {
  it('ends a reply whose stream goes silent after the first words, and the session goes on', async () => {
    fixture = await startWorkerFixture({
      env: { REPLY_STALL_TIMEOUT_MS: '500' },
      openai: { reply: () => CHAT_REPLY },
    });
    fixture.openai.stallMidStream(3);
    const first = await fixture.say('Count for me.');

    expect(first.reply).toBe('One two three');
    expect(first.ms).toBeLessThan(500 + 3_000);
    expect(fixture.turns[0]).toMatchObject({ source: 'openai', replyEnd: 'stalled', replyEndReason: 'stalled: no text for 500 ms' });
    // No second source mid-sentence.
    expect(fixture.letta.requests.filter((r) => r.route === 'messages.create' && (r.body as { streaming?: boolean }).streaming)).toHaveLength(0);
    await waitFor(() => fixture!.openai.responses[0]!.clientAborted, 2_000);

    const second = await fixture.say('Again please.');
    expect(second.reply).toBe(CHAT_REPLY);
    expect(fixture.turns[1]).toMatchObject({ replyEnd: 'complete', replyEndReason: null });
  });

  it('reports a stream that ends without finish_reason as cut', async () => {
    fixture = await startWorkerFixture({ openai: { reply: () => CHAT_REPLY } });
    fixture.openai.endStreamEarly(4, null);
    const { reply } = await fixture.say('Count for me.');

    expect(reply).toBe('One two three four');
    expect(fixture.turns[0]).toMatchObject({ source: 'openai', replyEnd: 'cut', replyEndReason: 'stream ended without finish_reason' });
  });

  it.each(['length', 'content_filter'] as const)('reports finish_reason %s as cut', async (finishReason) => {
    fixture = await startWorkerFixture({ openai: { reply: () => CHAT_REPLY } });
    fixture.openai.endStreamEarly(2, finishReason);
    const { reply } = await fixture.say('Count for me.');

    expect(reply).toBe('One two');
    expect(fixture.turns[0]).toMatchObject({ replyEnd: 'cut', replyEndReason: `finish_reason ${finishReason}` });
  });

  it('reports a complete reply as complete', async () => {
    fixture = await startWorkerFixture({ openai: { reply: () => CHAT_REPLY } });
    await fixture.say('Count for me.');
    expect(fixture.turns[0]).toMatchObject({ replyEnd: 'complete', replyEndReason: null });
  });
});
