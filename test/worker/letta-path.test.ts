import { afterEach, describe, expect, it } from 'vitest';
import { APOLOGY } from '../../src/replies/reply-generator.js';
import { startWorkerFixture, type WorkerFixture } from './worker-fixture.js';
import { waitFor } from '../support/wait-for.js';

let fixture: WorkerFixture | undefined;
afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
});

const LETTA_REPLY = 'Hello Sam. I remember you love sailing on weekends. How was the water?';

describe('full Letta path (USE_HYBRID_STREAMING=false)', () => {
  it('streams Letta tokens to the session and speaks only assistant_message content', async () => {
    fixture = await startWorkerFixture({
      env: { USE_HYBRID_STREAMING: 'false' },
      letta: {
        streamMode: 'tokens',
        tokenDelayMs: 40,
        replyFor: () => LETTA_REPLY,
        reasoningFor: () => 'SECRET-REASONING the user wants to chat about boats',
        memoryFactFor: () => 'TOOL-FACT Sam likes sailing',
      },
    });
    const { reply } = await fixture.say('Hi, it is Sam again.');

    expect(reply).toBe(LETTA_REPLY);
    const spoken = fixture.text.chunks.map((c) => c.text).join('');
    expect(spoken).toBe(LETTA_REPLY);
    expect(spoken).not.toContain('SECRET-REASONING');
    expect(spoken).not.toContain('TOOL-FACT');
    expect(fixture.openai.chatRequests()).toHaveLength(0);

    const request = fixture.letta.requests.find((r) => r.route === 'messages.create');
    expect(request?.body).toMatchObject({ streaming: true, stream_tokens: true });
    // Streamed, not buffered: several chunks, the first well before Letta finished.
    const response = fixture.letta.responses.find((r) => r.route === 'messages.create')!;
    expect(fixture.text.chunks.length).toBeGreaterThan(5);
    expect(response.lastItemAt! - fixture.text.chunks[0]!.at).toBeGreaterThan(200);
    // Letta stored the turn itself: no write-behind.
    expect(fixture.turns[0]).toMatchObject({ mode: 'letta', source: 'letta', memoryWritten: 'by_letta' });
    expect(fixture.letta.clientMessagesOf(fixture.agentId)).toHaveLength(1);
  });

  it('copes with a server that streams whole messages instead of tokens', async () => {
    fixture = await startWorkerFixture({
      env: { USE_HYBRID_STREAMING: 'false' },
      letta: { streamMode: 'buffered', replyFor: () => LETTA_REPLY, forceStepStreaming: true },
    });
    const { reply } = await fixture.say('Hi again.');
    expect(reply).toBe(LETTA_REPLY);
    expect(fixture.text.chunks.map((c) => c.text).join('')).toBe(LETTA_REPLY);
  });

  it('keeps a space between two assistant messages of one step (same id, different otid)', async () => {
    fixture = await startWorkerFixture({
      env: { USE_HYBRID_STREAMING: 'false' },
      letta: { streamMode: 'tokens', tokenDelayMs: 5, interleaveReasoning: true, replyFor: () => LETTA_REPLY },
    });
    const { reply } = await fixture.say('Hi again.');
    expect(reply).toBe(LETTA_REPLY);
  });

  it('never overlaps a memory write still in flight for the agent', async () => {
    fixture = await startWorkerFixture({ env: { USE_HYBRID_STREAMING: 'false' } });
    // A turn answered elsewhere is still being written when the next Letta reply starts.
    fixture.letta.slowApplyNext(1, 1_000, 'messages.create');
    await fixture.services.queue.enqueue({
      agentId: fixture.agentId,
      userText: 'Earlier question',
      assistantText: 'Earlier answer',
      interrupted: false,
      userAt: Date.now(),
      assistantAt: Date.now(),
    });
    await waitFor(() => fixture!.letta.inFlight(fixture!.agentId) > 0, 2_000);
    const { reply } = await fixture.say('A new question for Letta.');

    expect(reply).not.toBe('');
    expect(fixture.letta.maxConcurrentPerAgent(fixture.agentId)).toBe(1);
    const texts = fixture.letta.userMessagesOf(fixture.agentId).map((m) => m.text);
    expect(texts[0]).toContain('Earlier question');
    expect(texts[1]).toBe('A new question for Letta.');
  });
});

describe('degradation', () => {
  it('answers through Letta when the fast path fails before any text', async () => {
    fixture = await startWorkerFixture({ letta: { replyFor: () => LETTA_REPLY } });
    fixture.openai.failNext(1, { status: 503 });
    const { reply } = await fixture.say('Are you there?');

    expect(reply).toBe(LETTA_REPLY);
    expect(fixture.turns[0]).toMatchObject({ mode: 'hybrid', source: 'letta', memoryWritten: 'by_letta' });
    expect(fixture.turns[0]!.fallbacks[0]).toMatch(/^openai: .*503/);
  });

  it('speaks a short apology when both the fast path and Letta fail', async () => {
    fixture = await startWorkerFixture();
    fixture.openai.failNext(1, { status: 500 });
    fixture.letta.failNext(1, 500, { route: 'messages.create' });
    const { reply } = await fixture.say('Are you there?');

    expect(reply).toBe(APOLOGY);
    expect(fixture.turns[0]).toMatchObject({ source: 'apology' });
    expect(fixture.turns[0]!.fallbacks).toHaveLength(2);
  });

  it('keeps the call working when Letta is down at session start, and writes the turns once it is back', async () => {
    fixture = await startWorkerFixture({
      beforeCall: ({ letta }) => letta.refuse(),
      memoryTimeoutMs: 500,
    });
    expect(fixture.call.memoryAvailable).toBe(false);
    const { reply } = await fixture.say('Can you hear me?');

    expect(reply).toContain('Can you hear me?');
    const system = fixture.openai.chatRequests()[0]!.messages.find((m) => m.role === 'system');
    expect(system?.content).not.toContain('<memory_blocks>');
    expect(fixture.turns[0]).toMatchObject({ source: 'openai', memoryWritten: 'waiting_for_letta' });

    await fixture.letta.accept();
    await fixture.call.recorder.flushed(10_000);
    await fixture.services.queue.whenIdle();
    const written = fixture.letta.userMessagesOf(fixture.agentId).map((m) => m.text);
    expect(written).toHaveLength(1);
    expect(written[0]).toContain('Can you hear me?');
    // Memory is back in the prompt for the next turn.
    await waitFor(() => fixture!.services.memory.blocks.length > 0, 5_000);
    await fixture.say('Still there?');
    expect(fixture.openai.chatRequests().at(-1)!.messages[0]!.content).toContain('<memory_blocks>');
  });
});
