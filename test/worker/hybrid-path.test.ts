import { afterEach, describe, expect, it } from 'vitest';
import { SEEDED_HUMAN, SEEDED_PERSONA, startWorkerFixture, type WorkerFixture } from './worker-fixture.js';
import { waitFor } from '../support/wait-for.js';

let fixture: WorkerFixture | undefined;
afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
});

describe('hybrid fast path', () => {
  it('answers from the chat API with the Letta core memory in the system prompt', async () => {
    fixture = await startWorkerFixture();
    const { reply } = await fixture.say('What do I do on weekends?');

    expect(reply).toContain('What do I do on weekends?');
    const [request] = fixture.openai.chatRequests();
    const system = request!.messages.find((m) => m.role === 'system');
    expect(system?.content).toContain(SEEDED_HUMAN);
    expect(system?.content).toContain(SEEDED_PERSONA);
    expect(request!.messages.at(-1)).toMatchObject({ role: 'user', content: 'What do I do on weekends?' });
    expect(request!.stream).toBe(true);
    expect(fixture.turns[0]).toMatchObject({ mode: 'hybrid', source: 'openai' });
  });

  it('hands the first text chunk to the session while the LLM is still streaming', async () => {
    fixture = await startWorkerFixture({ openai: { ttftMs: 50, tokenDelayMs: 60 } });
    await fixture.say('Tell me something long enough to stream over many tokens please');

    const response = fixture.openai.responses.at(-1)!;
    const firstChunkAt = fixture.text.chunks[0]!.at;
    expect(response.contentChunks).toBeGreaterThan(10);
    const streamMs = response.lastChunkAt! - response.firstContentAt!;
    const leadMs = response.lastChunkAt! - firstChunkAt;
    // With ~60 ms between tokens the stream lasts over half a second; the session must have had text for most of it.
    expect(streamMs).toBeGreaterThan(500);
    expect(leadMs).toBeGreaterThan(streamMs * 0.5);
    expect(fixture.text.chunks.length).toBeGreaterThan(1);
  });

  it('does not delay the next reply while a Letta write takes 3 s', async () => {
    fixture = await startWorkerFixture({ letta: { messageLatencyMs: 3_000 }, env: { MEMORY_DRAIN_DEADLINE_MS: '300' } });
    const first = await fixture.say('Remember that my sister is called Mia.');
    // The write-behind for turn one is now in flight and will take three seconds.
    await waitFor(() => fixture!.letta.inFlight(fixture!.agentId) > 0, 2_000);
    const second = await fixture.say('And what is my name?');

    expect(fixture.letta.inFlight(fixture.agentId)).toBeGreaterThan(0);
    expect(second.ms).toBeLessThan(1_500);
    expect(first.reply).not.toBe('');
    expect(second.reply).toContain('what is my name');
  });

  it('writes every turn to Letta in order, exactly once, through injected 5xx errors', async () => {
    fixture = await startWorkerFixture();
    fixture.letta.failNext(4, 503, { route: 'messages.create' });
    const lines = ['First I went to the market.', 'Then I bought apples.', 'Then I baked a pie.', 'Finally we ate it.'];
    for (const line of lines) await fixture.say(line);
    await fixture.call.recorder.flushed();
    await fixture.services.queue.whenIdle();

    const written = fixture.letta.userMessagesOf(fixture.agentId).map((m) => m.text);
    expect(written).toHaveLength(lines.length);
    lines.forEach((line, i) => expect(written[i]).toContain(line));
    expect(new Set(fixture.letta.userMessagesOf(fixture.agentId).map((m) => m.otid)).size).toBe(lines.length);
    expect(fixture.letta.maxConcurrentPerAgent(fixture.agentId)).toBe(1);
    expect(fixture.services.queue.stats().retries).toBeGreaterThan(0);
  });
});

describe('memory freshness', () => {
  it('puts what Letta learned from a written turn into the next fast-path prompt', async () => {
    fixture = await startWorkerFixture({ letta: { memoryFactFor: (_agent, userText) => `FACT: ${userText}` } });
    await fixture.say('My favourite colour is teal.');
    await fixture.call.recorder.flushed();
    await fixture.services.queue.whenIdle();
    await fixture.services.memory.settled();

    await fixture.say('What is my favourite colour?');
    const system = fixture.openai.chatRequests().at(-1)!.messages.find((m) => m.role === 'system');
    expect(String(system?.content)).toContain('FACT:');
    expect(String(system?.content)).toContain('My favourite colour is teal.');
  });
});

describe('greeting', () => {
  it('greets from the fast path with memory in the prompt and writes nothing to Letta', async () => {
    fixture = await startWorkerFixture({ openai: { reply: () => 'Welcome back, Sam!' } });
    const greeting = fixture.services.config.greeting;
    await fixture.session.generateReply({ instructions: greeting }).waitForPlayout();

    const request = fixture.openai.chatRequests()[0]!;
    expect(JSON.stringify(request.messages)).toContain(greeting);
    expect(JSON.stringify(request.messages)).toContain('Sam sails a small boat');
    expect(fixture.text.chunks.map((c) => c.text).join('')).toBe('Welcome back, Sam!');
    await waitFor(() => fixture!.turns.length === 1, 2_000);
    expect(fixture.turns[0]).toMatchObject({ memoryWritten: 'skipped' });
    await fixture.services.queue.whenIdle();
    expect(fixture.letta.clientMessagesOf(fixture.agentId)).toHaveLength(0);
  });
});
