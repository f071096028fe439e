import Letta from '@letta-ai/letta-client';
import { afterEach, describe, expect, it } from 'vitest';
import { ArchivalRecall } from '../../src/callers/archival-recall.js';
import type { CallerMemory } from '../../src/callers/caller-memories.js';
import { appTag, callerTag } from '../../src/callers/caller-tags.js';
import { startLettaServer, type LettaServer } from '../../simulation/stand-ins/letta-server.js';
import { startCallerWorld, type CallerWorld } from './caller-fixture.js';

let letta: LettaServer | undefined;
let world: CallerWorld | undefined;
afterEach(async () => {
  await letta?.close();
  await world?.close();
  letta = undefined;
  world = undefined;
});

async function agentWithPassages(server: LettaServer, texts: string[]): Promise<{ client: Letta; agentId: string }> {
  const client = new Letta({ baseURL: server.baseURL, apiKey: 'unused', maxRetries: 0 });
  const agent = await client.agents.create({ name: 'recall', memory_blocks: [{ label: 'human', value: '' }] });
  for (const text of texts) await client.agents.passages.create(agent.id, { text });
  return { client, agentId: agent.id };
}

describe('archival recall while the caller speaks', () => {
  it('searches once per pause in the interim transcripts and offers the best matches', async () => {
    letta = await startLettaServer({ apiKey: null });
    const { client, agentId } = await agentWithPassages(letta, ['The caller keeps bees in the garden.', 'The caller sails a boat called Kestrel.', 'The caller dislikes coffee.']);
    const recall = new ArchivalRecall({ client, agentId: () => agentId, debounceMs: 50, timeoutMs: 2_000, topK: 1 });
    for (const partial of ['what was my', 'what was my boat', 'what was my boat called', 'what was my boat called again']) recall.onTranscript(partial);
    await recall.settled();
    expect(recall.counts).toEqual({ started: 1, answered: 1, failed: 0 });
    expect(letta.requests.filter((r) => r.route === 'passages.search')).toHaveLength(1);
    expect(recall.block?.value).toContain('Kestrel');
    expect(recall.block?.value).not.toContain('bees');
    recall.close();
  });

  it('never waits: a search still running when the reply starts is used from the next turn', async () => {
    letta = await startLettaServer({ apiKey: null });
    const { client, agentId } = await agentWithPassages(letta, ['The caller sails a boat called Kestrel.']);
    letta.slowApplyNext(1, 400, 'passages.search');
    const errors: Error[] = [];
    const recall = new ArchivalRecall({ client, agentId: () => agentId, debounceMs: 0, timeoutMs: 2_000, topK: 3, onError: (e) => errors.push(e) });
    recall.onTranscript('tell me about my boat please');
    await new Promise((resolve) => setTimeout(resolve, 50));
    // The reply request reads the block now: nothing yet, and nothing waited.
    expect(recall.block).toBeUndefined();
    await recall.settled();
    expect(recall.block?.value).toContain('Kestrel');
    // A failing search leaves the last matches in place and is only logged.
    letta.failNext(1, 500, { route: 'passages.search' });
    recall.onTranscript('and something else entirely now');
    await recall.settled();
    expect(errors).toHaveLength(1);
    expect(recall.block?.value).toContain('Kestrel');
    recall.close();
  });

  it('puts what it found in time into the caller\'s reply prompt, and nothing into another caller\'s', async () => {
    world = await startCallerWorld({ env: { RECALL_SEARCH_DEBOUNCE_MS: '20', MEMORY_WRITE_STRATEGY: 'archival' } });
    const first = await world.openProcess();
    const alice = await world.call(first, 'alice');
    await alice.say('Alice: my boat is called Kestrel and it is moored in Harwich.');
    await alice.hangUp();
    const agents = await new Letta({ baseURL: world.letta.baseURL, apiKey: 'letta-test', maxRetries: 0 }).agents.list({
      tags: [appTag('isolation-test'), callerTag('alice')],
      match_all_tags: true,
    });
    expect(world.letta.passagesOf(agents.items[0]!.id).map((p) => p.text).join(' ')).toContain('Harwich');

    const later = await world.openProcess();
    for (const [identity, marker] of [['alice', 'Alice asks'], ['bob', 'Bob asks']] as const) {
      const call = await world.call(later, identity);
      call.hearInterim(`${marker}: where is my boat moored`);
      await (later.memoryFor(identity) as CallerMemory).settled();
      await call.say(`${marker}: where is my boat moored?`);
      await call.hangUp();
    }
    const systemOf = (marker: string) =>
      String(world!.openai.chatRequests().find((r) => r.messages.some((m) => m.role === 'user' && String(m.content).startsWith(marker)))!.messages[0]!.content);
    expect(systemOf('Alice asks')).toContain('<archival_recall>');
    expect(systemOf('Alice asks')).toContain('Harwich');
    expect(systemOf('Bob asks')).not.toContain('Harwich');
    expect((later.memoryFor('alice') as CallerMemory).archival?.counts.answered).toBe(1);
  });
});
