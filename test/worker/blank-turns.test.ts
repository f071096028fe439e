import { afterEach, describe, expect, it } from 'vitest';
import { llm, voice } from '@livekit/agents';
import { isBlankUtterance } from '../../src/replies/blank-turn.js';
import { startWorkerFixture, type WorkerFixture } from './worker-fixture.js';

let fixture: WorkerFixture | undefined;
afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
});

const BLANKS = ['   ', '.', ' … ', '?!', '-'];

function lettaSends(f: WorkerFixture) {
  return f.letta.requests.filter((r) => r.route === 'messages.create');
}

describe('blank turns', () => {
  it('tells blank utterances from short real ones', () => {
    for (const blank of BLANKS) expect(isBlankUtterance(blank)).toBe(true);
    for (const real of ['No.', 'ok', '42', 'Ja!', 'é']) expect(isBlankUtterance(real)).toBe(false);
  });

  it.each(['hybrid', 'letta'] as const)('start no reply and no memory write (%s mode)', async (mode) => {
    fixture = await startWorkerFixture({ env: { USE_HYBRID_STREAMING: mode === 'hybrid' ? 'true' : 'false' } });
    for (const blank of BLANKS) {
      const { reply } = await fixture.say(blank);
      expect(reply).toBe('');
    }
    expect(fixture.text.chunks.map((c) => c.text).join('')).toBe('');
    expect(lettaSends(fixture)).toHaveLength(0);
    expect(fixture.openai.chatRequests()).toHaveLength(0);
    expect(fixture.turns.filter((t) => t.memoryWritten !== 'skipped')).toHaveLength(0);

    // A real turn afterwards is answered and remembered as usual, and only it reaches Letta.
    const { reply } = await fixture.say('My boat is called Wren.');
    expect(reply).not.toBe('');
    await fixture.call.recorder.flushed(5_000);
    await fixture.services.queue.whenIdle();
    expect(fixture.turns.filter((t) => t.memoryWritten !== 'skipped')).toHaveLength(1);
    const written = fixture.letta.clientMessagesOf(fixture.agentId).map((m) => m.text);
    expect(written.some((text) => text.includes('My boat is called Wren.'))).toBe(true);
    expect(written.filter((text) => isBlankUtterance(text) || BLANKS.some((blank) => text.includes(`User: ${blank}`)))).toEqual([]);
  });

  it('stops a blank voice turn before the LLM node (onUserTurnCompleted)', async () => {
    fixture = await startWorkerFixture();
    const agent = fixture.call.agent;
    const blank = llm.ChatMessage.create({ role: 'user', content: ' . ' });
    await expect(agent.onUserTurnCompleted(llm.ChatContext.empty(), blank)).rejects.toBeInstanceOf(voice.StopResponse);
    const real = llm.ChatMessage.create({ role: 'user', content: 'Hello.' });
    await expect(agent.onUserTurnCompleted(llm.ChatContext.empty(), real)).resolves.toBeUndefined();
  });
});
