import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../support/wait-for.js';
import { startWorkerFixture, type WorkerFixture } from './worker-fixture.js';

let fixture: WorkerFixture | undefined;
afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
});

const STORY = 'Tell me a long story.';
const LONG_REPLY = Array.from({ length: 60 }, (_, i) => `word${i}`).join(' ');

function sends(f: WorkerFixture) {
  return f.letta.requests.filter((r) => r.route === 'messages.create');
}

/** Starts a turn, waits for its first words, then interrupts it as a caller talking over the agent would. */
async function interruptAfterFirstWords(f: WorkerFixture, userText: string): Promise<number> {
  const run = f.session.run({ userInput: userText });
  await waitFor(() => f.text.chunks.length > 0, 10_000);
  const interruptedAt = performance.now();
  await f.session.interrupt().await;
  await run.wait().catch(() => undefined);
  return interruptedAt;
}

async function startFullLettaPath(env: Record<string, string> = {}): Promise<WorkerFixture> {
  return startWorkerFixture({
    env: { USE_HYBRID_STREAMING: 'false', ...env },
    // ~3 s of assistant tokens: the run is still going when the caller interrupts.
    letta: { replyFor: (_agent, text) => (text === STORY ? LONG_REPLY : 'Short answer.'), tokenDelayMs: 50, includeToolCalls: false, includeReasoning: false },
  });
}

describe('barge-in on the full Letta path', () => {
  it('cancels the interrupted run with its run id, and the next request waits until it has stopped', async () => {
    fixture = await startFullLettaPath();
    await interruptAfterFirstWords(fixture, STORY);

    const [runId] = fixture.letta.runs.ids(fixture.agentId);
    await waitFor(() => fixture!.letta.requests.some((r) => r.route === 'messages.cancel'), 3_000);
    const cancel = fixture.letta.requests.find((r) => r.route === 'messages.cancel')!;
    expect(cancel.agentId).toBe(fixture.agentId);
    expect(cancel.body).toEqual({ run_ids: [runId] });

    const { reply } = await fixture.say('Second question, quickly.');
    expect(reply).toBe('Short answer.');
    const timeline = fixture.letta.runs.timeline(runId!)!;
    expect(timeline.run).toMatchObject({ status: 'cancelled', stop_reason: 'cancelled' });
    // Its agent loop stops long before the whole reply (~3 s of tokens) would have been produced.
    await waitFor(() => fixture!.letta.runs.timeline(runId!)!.loopStoppedAt !== undefined, 2_000);
    expect(fixture.letta.runs.timeline(runId!)!.loopStoppedAt! - timeline.startedAt).toBeLessThan(2_000);
    // The run status was polled, and the next message reached Letta only after the run was final.
    expect(fixture.letta.requests.some((r) => r.route === 'runs.retrieve')).toBe(true);
    expect(sends(fixture)[1]!.receivedAt).toBeGreaterThanOrEqual(timeline.stoppedAt!);
    expect(fixture.turns[0]).toMatchObject({ interrupted: true, replyEnd: 'interrupted' });
  });

  it('when the cancel fails, waits for the run to finish on its own', async () => {
    fixture = await startFullLettaPath({ LETTA_CANCEL_WAIT_MS: '10000' });
    fixture.letta.failNext(1, 500, { route: 'messages.cancel' });
    await interruptAfterFirstWords(fixture, STORY);

    const [runId] = fixture.letta.runs.ids(fixture.agentId);
    const { reply } = await fixture.say('Second question, quickly.');
    expect(reply).toBe('Short answer.');
    const timeline = fixture.letta.runs.timeline(runId!)!;
    expect(timeline.run.status).toBe('completed');
    expect(sends(fixture)[1]!.receivedAt).toBeGreaterThanOrEqual(timeline.stoppedAt!);
  });

  it('goes ahead after LETTA_CANCEL_WAIT_MS when the run does not stop', async () => {
    fixture = await startFullLettaPath({ LETTA_CANCEL_WAIT_MS: '600' });
    fixture.letta.failNext(1, 500, { route: 'messages.cancel' });
    fixture.letta.options.tokenDelayMs = 200; // ~12 s of tokens: far longer than the bound
    const interruptedAt = await interruptAfterFirstWords(fixture, STORY);

    const [runId] = fixture.letta.runs.ids(fixture.agentId);
    fixture.letta.options.tokenDelayMs = 5;
    await fixture.say('Second question, quickly.');
    expect(fixture.letta.runs.timeline(runId!)!.run.status).toBe('running');
    const heldFor = sends(fixture)[1]!.receivedAt - interruptedAt;
    expect(heldFor).toBeGreaterThanOrEqual(550);
    expect(heldFor).toBeLessThan(600 + 3_000);
  });
});
