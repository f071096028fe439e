import Letta from '@letta-ai/letta-client';
import { afterEach, describe, expect, it } from 'vitest';
import { appTag, callerTag, SHARED_PERSONA_TAG } from '../../src/callers/caller-tags.js';
import type { ChatRequestBody } from '../../simulation/stand-ins/openai-server.js';
import { waitFor } from '../support/wait-for.js';
import { startCallerWorld, type CallerWorld } from './caller-fixture.js';

const APP = 'isolation-test';
let world: CallerWorld | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

function sdk(w: CallerWorld): Letta {
  return new Letta({ baseURL: w.letta.baseURL, apiKey: 'letta-test', maxRetries: 0 });
}

async function agentsOf(w: CallerWorld, identity: string): Promise<string[]> {
  const page = await sdk(w).agents.list({ tags: [appTag(APP), callerTag(identity)], match_all_tags: true });
  return page.items.map((a) => a.id);
}

/** Everything an agent holds: core memory and every message and passage written to it. */
function everythingIn(w: CallerWorld, agentId: string): string {
  return JSON.stringify([w.letta.blocksOf(agentId), w.letta.messagesOf(agentId), w.letta.passagesOf(agentId)]);
}

/** The OpenAI requests made for a caller, recognised by a word only that caller ever says. */
function requestsSaying(w: CallerWorld, marker: string): ChatRequestBody[] {
  return w.openai.chatRequests().filter((r) => r.messages.some((m) => m.role === 'user' && JSON.stringify(m.content).includes(marker)));
}

describe('per-caller memory (LETTA_MEMORY_SCOPE=caller)', () => {
  it('gives a first-time caller their own agent (shared read-only persona by id, own human block) without holding up the call', async () => {
    world = await startCallerWorld();
    world.letta.slowApplyNext(1, 1_500, 'agents.create');
    const worker = await world.openProcess();

    const started = performance.now();
    const call = await world.call(worker, 'alice');
    const readyMs = performance.now() - started;
    // Agent creation takes 1.5 s here; the call is ready long before.
    expect(readyMs).toBeLessThan(1_000);
    expect(call.voiceCall.memoryAvailable).toBe(true);
    expect(worker.memoryFor('alice').agentId).toBeUndefined();

    // A turn taken before the agent exists is kept and written to it once it does.
    await call.say('Alice here, my boat is called Kestrel.');
    await call.hangUp();
    const [agentId, ...others] = await agentsOf(world, 'alice');
    expect(others).toEqual([]);
    expect(worker.memoryFor('alice').agentId).toBe(agentId);
    expect(world.letta.clientMessagesOf(agentId!).map((m) => m.text).join(' ')).toContain('Kestrel');

    const blocks = world.letta.blocksOf(agentId!);
    const persona = blocks.find((b) => b.label === 'persona')!;
    expect(persona.read_only).toBe(true);
    expect(persona.tags).toEqual([appTag(APP), SHARED_PERSONA_TAG]);
    expect(blocks.find((b) => b.label === 'human')!.value).toContain('Kestrel');

    // A second caller's agent shares the persona block (same id) but not the human block.
    const bob = await world.call(worker, 'bob');
    await bob.say('Bob speaking.');
    await bob.hangUp();
    const [bobAgent] = await agentsOf(world, 'bob');
    const bobBlocks = world.letta.blocksOf(bobAgent!);
    expect(bobBlocks.find((b) => b.label === 'persona')!.id).toBe(persona.id);
    expect(bobBlocks.find((b) => b.label === 'human')!.id).not.toBe(blocks.find((b) => b.label === 'human')!.id);
    expect(world.letta.agentState(bobAgent!)!.tags).toEqual([appTag(APP), callerTag('bob')]);
  });

  it('keeps two callers in parallel calls apart: prompts, agents and memory writes', async () => {
    world = await startCallerWorld();
    const worker = await world.openProcess();
    const [alice, bob] = await Promise.all([world.call(worker, 'alice'), world.call(worker, 'bob')]);
    const aliceLines = ['Alice: my boat is called Kestrel.', 'Alice: I keep it in Harwich.', 'Alice: what is my boat called?'];
    const bobLines = ['Bob: my dog is called Biscuit.', 'Bob: he loves Brighton beach.', 'Bob: what is my dog called?'];
    await Promise.all([
      (async () => {
        for (const line of aliceLines) await alice.say(line);
      })(),
      (async () => {
        for (const line of bobLines) await bob.say(line);
      })(),
    ]);
    await Promise.all([alice.hangUp(), bob.hangUp()]);

    const [aliceAgent] = await agentsOf(world, 'alice');
    const [bobAgent] = await agentsOf(world, 'bob');
    expect(aliceAgent).toBeDefined();
    expect(bobAgent).toBeDefined();
    expect(aliceAgent).not.toBe(bobAgent);
    // Each agent got its own caller's turns, all of them, and nothing of the other's.
    const aliceStore = everythingIn(world, aliceAgent!);
    const bobStore = everythingIn(world, bobAgent!);
    for (const word of ['Kestrel', 'Harwich']) {
      expect(aliceStore).toContain(word);
      expect(bobStore).not.toContain(word);
    }
    for (const word of ['Biscuit', 'Brighton']) {
      expect(bobStore).toContain(word);
      expect(aliceStore).not.toContain(word);
    }
    // No prompt sent for one caller carries anything of the other.
    const aliceRequests = requestsSaying(world, 'Alice:');
    const bobRequests = requestsSaying(world, 'Bob:');
    expect(aliceRequests.length).toBeGreaterThanOrEqual(aliceLines.length);
    expect(bobRequests.length).toBeGreaterThanOrEqual(bobLines.length);
    for (const r of aliceRequests) expect(JSON.stringify(r)).not.toMatch(/Biscuit|Brighton|Bob:/);
    for (const r of bobRequests) expect(JSON.stringify(r)).not.toMatch(/Kestrel|Harwich|Alice:/);
    // The block caches stay apart as well.
    expect(JSON.stringify(worker.memoryFor('alice').blocks)).not.toContain('Biscuit');
    expect(JSON.stringify(worker.memoryFor('bob').blocks)).not.toContain('Kestrel');
  });

  it('remembers a returning caller in a later call (another job process) and tells the next caller nothing of it', async () => {
    world = await startCallerWorld();
    const first = await world.openProcess();
    const alice = await world.call(first, 'alice');
    await alice.say('Alice: my boat is called Kestrel.');
    await alice.hangUp();
    const [aliceAgent] = await agentsOf(world, 'alice');
    await waitFor(() => world!.letta.block(aliceAgent!, 'human')!.value.includes('Kestrel'), 5_000);

    // A new job process knows nothing in memory: it finds Alice's agent by tags and reads her core memory.
    const later = await world.openProcess();
    const again = await world.call(later, 'alice');
    expect(again.voiceCall.memoryAvailable).toBe(true);
    expect(later.memoryFor('alice').agentId).toBe(aliceAgent);
    await again.say('Alice: do you remember my boat?');
    const aliceSystem = requestsSaying(world, 'do you remember my boat').at(-1)!.messages.find((m) => m.role === 'system');
    expect(JSON.stringify(aliceSystem)).toContain('Kestrel');
    // What was said in the earlier call is in the prompt as such (RECALL_RECENT_MESSAGES), without write-behind bookkeeping.
    const systemText = String(aliceSystem!.content);
    const recalled = systemText.slice(systemText.indexOf('<recent_conversation>'), systemText.indexOf('</recent_conversation>'));
    expect(recalled).toContain('Caller: Alice: my boat is called Kestrel.');
    // The line the caller heard, and not the agent's answer to the write-behind note (nobody heard that one).
    expect(recalled.match(/\nYou: /g)).toHaveLength(1);
    expect(recalled).not.toContain('[voice call]');
    expect(recalled).not.toMatch(/You: noted/i);
    await again.hangUp();

    const bob = await world.call(later, 'bob');
    await bob.say('Bob: do you know anything about boats?');
    await bob.hangUp();
    for (const r of requestsSaying(world, 'Bob:')) expect(JSON.stringify(r)).not.toContain('Kestrel');
    expect((await agentsOf(world, 'alice'))).toEqual([aliceAgent]);
  });

  it('keeps a call going when Letta fails while the caller is looked up, and writes their turns to their agent later', async () => {
    world = await startCallerWorld();
    // The lookup and the first retries fail (503); the background retry (every 100 ms here) then gets through.
    world.letta.failNext(3, 503, { route: 'agents.list' });
    const worker = await world.openProcess();
    const call = await world.call(worker, 'dave');
    expect(call.voiceCall.memoryAvailable).toBe(false);
    const reply = await call.say('Dave: my bike is called Arrow.');
    expect(reply).not.toBe('');
    await call.hangUp();
    const [daveAgent, ...others] = await agentsOf(world, 'dave');
    expect(others).toEqual([]);
    expect(world.letta.clientMessagesOf(daveAgent!).map((m) => m.text).join(' ')).toContain('Arrow');
  });

  it('converges on one agent when two first calls from the same caller race in two job processes', async () => {
    world = await startCallerWorld();
    // Both lookups answer "none yet" before either creation lands, so both processes create an agent.
    world.letta.slowApplyNext(2, 300, 'agents.list');
    world.letta.slowApplyNext(2, 300, 'blocks.listAll');
    const [one, two] = await Promise.all([world.openProcess(), world.openProcess()]);
    const [a, b] = await Promise.all([world.call(one, 'carol'), world.call(two, 'carol')]);
    await Promise.all([a.say('Carol: first line from the phone.'), b.say('Carol: first line from the laptop.')]);
    await Promise.all([a.hangUp(), b.hangUp()]);

    const creates = world.letta.requests.filter((r) => r.route === 'agents.create');
    expect(creates).toHaveLength(2);
    const survivors = await agentsOf(world, 'carol');
    expect(survivors).toHaveLength(1);
    expect(one.memoryFor('carol').agentId).toBe(survivors[0]);
    expect(two.memoryFor('carol').agentId).toBe(survivors[0]);
    const written = world.letta.clientMessagesOf(survivors[0]!).map((m) => m.text).join(' ');
    expect(written).toContain('from the phone');
    expect(written).toContain('from the laptop');
    // The persona block was created twice as well; one is left, shared.
    const personas = await sdk(world).blocks.list({ label: 'persona', tags: [appTag(APP), SHARED_PERSONA_TAG], match_all_tags: true });
    expect(personas.items).toHaveLength(1);
  });
});
