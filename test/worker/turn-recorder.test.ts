// Which caller words a reply is written to Letta with. The session adds conversation items in the order its tasks
// finish, so on a busy machine the words a caller said over a reply can arrive before that (interrupted) reply: seen
// in test/harness/interruption.test.ts under a full `npm test`. The reply must still be paired with the question.
import { EventEmitter } from 'node:events';
import { llm, voice } from '@livekit/agents';
import { describe, expect, it } from 'vitest';
import { TurnRecorder } from '../../src/call/turn-recorder.js';
import type { MemoryQueue } from '../../src/memory/memory-queue.js';
import type { TurnInput } from '../../src/memory/turn.js';

function recorder() {
  const enqueued: TurnInput[] = [];
  const queue = {
    enqueue: async (turn: TurnInput) => enqueued.push(turn),
    stats: () => ({ depth: 0, oldestPendingAgeMs: 0, writeLagMs: null, lastWriteLatencyMs: null, retries: 0, deadLetters: 0 }),
  } as unknown as MemoryQueue;
  const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };
  const turns = new TurnRecorder({ queue, agentId: () => 'agent-1', whenAgent: async () => 'agent-1', sessionId: 's', mode: 'hybrid', logger: silent });
  const session = new EventEmitter();
  turns.attach(session as unknown as voice.AgentSession);
  const add = (role: 'user' | 'assistant', text: string, createdAt: number, interrupted = false) =>
    session.emit(voice.AgentSessionEventTypes.ConversationItemAdded, { item: llm.ChatMessage.create({ role, content: text, createdAt, interrupted }) });
  return { enqueued, add, flushed: () => turns.flushed() };
}

describe('TurnRecorder pairing', () => {
  it('pairs an interrupted reply with the question even when the interruption was added first', async () => {
    const { enqueued, add, flushed } = recorder();
    add('user', 'Tell me everything about sailing.', 1_000);
    add('user', 'Stop, that is enough.', 9_000); // said over the reply, added before it
    add('assistant', 'Sailing is the art of', 2_000, true); // started speaking at 2 s, cut off
    add('assistant', 'Alright, we can stop here.', 10_000);
    await flushed();
    expect(enqueued.map((t) => [t.userText, t.assistantText, t.interrupted])).toEqual([
      ['Tell me everything about sailing.', 'Sailing is the art of', true],
      ['Stop, that is enough.', 'Alright, we can stop here.', false],
    ]);
    expect(enqueued[0]!.userAt).toBe(1_000);
  });

  it('keeps every utterance said before one reply, and writes nothing for a greeting', async () => {
    const { enqueued, add, flushed } = recorder();
    add('assistant', 'Hello, how can I help?', 500); // the greeting: nothing said yet
    add('user', 'Hi.', 1_000);
    add('user', 'What time is it?', 1_500);
    add('assistant', 'It is noon.', 2_500);
    await flushed();
    expect(enqueued.map((t) => [t.userText, t.assistantText])).toEqual([['Hi. What time is it?', 'It is noon.']]);
    expect(enqueued[0]!.userAt).toBe(1_000);
  });
});
