// Every Letta use of the worker against the real legacy server (letta==0.16.8 with PostgreSQL + pgvector, from
// `npm run e2e:setup`), its LLM and embeddings played by our OpenAI stand-in. One server for the file: it takes
// a minute or two to migrate and start.
import Letta from '@letta-ai/letta-client';
import type { Message } from '@letta-ai/letta-client/resources/agents/messages';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.js';
import { LettaAgentMemory } from '../../src/letta/agent-memory.js';
import { resolveLettaAgent } from '../../src/letta/agent-bootstrap.js';
import { createLettaClient } from '../../src/letta/client.js';
import { streamLettaReply } from '../../src/letta/letta-reply.js';
import { WRITE_BEHIND_NOTE, turnTag } from '../../src/memory/letta-turn-writer.js';
import { MemoryQueue } from '../../src/memory/memory-queue.js';
import type { MemoryQueueOptions } from '../../src/memory/options.js';
import type { PendingTurn, TurnInput } from '../../src/memory/turn.js';
import { defaultReply, type ChatRequestBody } from '../../simulation/stand-ins/openai-server.js';
import { startRealLettaServer, type RealLettaServer } from '../../simulation/real-servers/letta-server.js';

let letta: RealLettaServer;
let dataDir: string;
const queues: MemoryQueue[] = [];
const silentLogger = { info: () => {}, warn: () => {} };

/** A model that follows the write-behind note (answers "noted"); otherwise the stand-in's usual reply. */
function modelReply(req: ChatRequestBody): string {
  const last = req.messages[req.messages.length - 1];
  const followsNote = req.messages.some((m) => m.role === 'system' && typeof m.content === 'string' && m.content.includes('[voice call]'));
  return followsNote && last?.role === 'tool' ? 'noted' : defaultReply(req);
}

beforeAll(async () => {
  letta = await startRealLettaServer({ openai: { reply: modelReply } });
}, 400_000);
afterAll(async () => {
  await letta?.stop();
});
afterEach(async () => {
  await Promise.all(queues.splice(0).map((q) => q.close({ deadlineMs: 0 })));
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
  letta.openai.options.ttftMs = 0;
});

function lettaConfig(over: Partial<Config['letta']> = {}): Config['letta'] {
  return { baseURL: letta.baseURL, agentName: `e2e-${Math.random().toString(36).slice(2, 8)}`, model: letta.modelHandle, embedding: letta.embeddingHandle, timeoutMs: 60_000, ...over };
}

async function newAgent(): Promise<string> {
  const client = createLettaClient(lettaConfig());
  return (await resolveLettaAgent(client, lettaConfig())).id;
}

async function history(client: Letta, agentId: string): Promise<Message[]> {
  const page = await client.agents.messages.list(agentId, { limit: 200, order: 'asc' });
  return page.getPaginatedItems();
}

const textOf = (m: Message): string => ('content' in m && typeof m.content === 'string' ? m.content : '');

let turnCounter = 0;
function turn(agentId: string, userText: string, assistantText: string): TurnInput {
  const at = Date.now() + turnCounter++;
  return { agentId, userText, assistantText, interrupted: false, userAt: at, assistantAt: at + 500 };
}

async function openQueue(options: Partial<MemoryQueueOptions>, client = createLettaClient(lettaConfig())): Promise<MemoryQueue> {
  dataDir = await mkdtemp(path.join(tmpdir(), 'letta-e2e-'));
  const queue = await MemoryQueue.open({ dataDir, retryBaseMs: 50, retryMaxMs: 500, ...options }, { letta: client });
  queues.push(queue);
  return queue;
}

describe('real Letta 0.16.8: agent bootstrap', () => {
  it('creates the agent by name, then finds it by name and by id', async () => {
    const config = lettaConfig();
    const client = createLettaClient(config);
    const created = await resolveLettaAgent(client, config);
    expect(created).toMatchObject({ name: config.agentName, created: true });
    expect(created.id).toMatch(/^agent-/);
    expect(await resolveLettaAgent(client, config)).toEqual({ ...created, created: false });
    expect(await resolveLettaAgent(client, { ...config, agentId: created.id, agentName: 'ignored' })).toEqual({ ...created, created: false });
    const state = await client.agents.retrieve(created.id);
    expect(state.llm_config.handle).toBe(letta.modelHandle);
    expect(state.agent_type).toBe('letta_v1_agent');
  });

  it('names a missing agent id in a clear error', async () => {
    const config = lettaConfig({ agentId: 'agent-00000000-0000-4000-8000-000000000000' });
    await expect(resolveLettaAgent(createLettaClient(config), config)).rejects.toThrow(/not_found|not found/i);
  });
});

describe('real Letta 0.16.8: core memory', () => {
  it('reads the persona and human blocks at session start and refreshes them after the agent edits memory', async () => {
    const config = lettaConfig();
    const client = createLettaClient(config);
    const memory = new LettaAgentMemory({ client, letta: config, logger: silentLogger, refreshCoalesceMs: 10 });
    try {
      expect(await memory.refreshAtSessionStart(30_000)).toBe(true);
      expect(memory.blocks.map((b) => b.label).sort()).toEqual(['human', 'persona']);
      const agentId = await memory.whenAgent();
      // The model calls memory_insert on the human block (the OpenAI stand-in's memory tool call).
      await client.agents.messages.create(agentId, { messages: [{ role: 'user', content: 'My name is Robin' }] });
      memory.afterWritesAcknowledged('agent');
      await memory.settled();
      expect(memory.blocks.find((b) => b.label === 'human')?.value).toContain('User said: My name is Robin');
    } finally {
      memory.close();
    }
  });
});

describe('real Letta 0.16.8: write-behind', () => {
  it('agent strategy: a batch lands as what the caller said and heard, each turn once, and the agent keeps a memory', async () => {
    const agentId = await newAgent();
    const client = createLettaClient(lettaConfig());
    // letta 0.16.8 here sometimes leaves a write request running after its last LLM call (no database activity,
    // it resumes when another request arrives): then the client times out and the retry path runs (abandoned-run
    // cancel, history check), which must still store every turn once.
    const queue = await openQueue({ writeStrategy: 'agent', batchMax: 3, requestTimeoutMs: 20_000, settleAfterTimeoutMs: 20_000 });
    const turns: PendingTurn[] = [];
    for (const [said, heard] of [
      ['I live in Porto', 'Porto, lovely.'],
      ['I have a dog called Rex', 'Rex is a good name.'],
      ['I am allergic to nuts', 'Noted, no nuts.'],
    ]) {
      turns.push(await queue.enqueue(turn(agentId, said, heard)));
    }
    await queue.whenIdle();
    expect(queue.stats()).toMatchObject({ written: 3, depth: 0, failedPermanently: 0 });

    const messages = await history(client, agentId);
    const users = messages.filter((m) => m.message_type === 'user_message');
    expect(users.map((m) => m.otid)).toEqual(turns.map((t) => t.otid));
    expect(users.map(textOf)).toEqual(turns.map((t) => t.userText));
    // What the caller heard is in the history as the assistant's words, right after what they said.
    const heard = new Set(turns.map((t) => t.assistantText));
    const spoken = messages.filter((m) => m.message_type === 'user_message' || (m.message_type === 'assistant_message' && heard.has(textOf(m))));
    expect(spoken.map((m) => [m.message_type, textOf(m)])).toEqual(turns.flatMap((t) => [['user_message', t.userText], ['assistant_message', t.assistantText]]));
    // Each request (one or more turns) ends with the note; the agent's step after it: a memory tool call, then
    // the one-word answer the note asks for; no reply to the caller is made up.
    const notes = messages.flatMap((m, i) => (m.message_type === 'system_message' && textOf(m) === WRITE_BEHIND_NOTE ? [i] : []));
    expect(notes.length).toBeGreaterThanOrEqual(1);
    expect(notes.length).toBeLessThanOrEqual(3);
    for (const at of notes) {
      const next = messages.slice(at + 1).findIndex((m) => m.message_type === 'user_message');
      const step = messages.slice(at + 1, next < 0 ? undefined : at + 1 + next);
      expect(step.slice(0, 2).map((m) => m.message_type)).toEqual(['tool_call_message', 'tool_return_message']);
      // A step cut short by a cancelled abandoned run has no answer; one that finished answers "noted".
      expect(step.filter((m) => m.message_type === 'assistant_message').every((m) => textOf(m) === 'noted')).toBe(true);
    }
    const human = await client.agents.blocks.retrieve('human', { agent_id: agentId });
    expect(human.value).toContain('I am allergic to nuts');
  }, 400_000);

  it('archival strategy: one tagged passage per turn, no agent step', async () => {
    const agentId = await newAgent();
    const client = createLettaClient(lettaConfig());
    const chatsBefore = letta.openai.chatRequests().length;
    const queue = await openQueue({ writeStrategy: 'archival', batchMax: 4 });
    const turns: PendingTurn[] = [];
    for (const n of [1, 2, 3]) turns.push(await queue.enqueue(turn(agentId, `archival fact ${n}`, `heard ${n}`)));
    await queue.whenIdle();
    const passages = await client.agents.passages.list(agentId, { limit: 50, ascending: true });
    expect(passages.map((p) => p.tags?.find((t) => t.startsWith('turn:'))).sort()).toEqual(turns.map(turnTag).sort());
    expect(passages.find((p) => p.tags?.includes(turnTag(turns[0])))?.text).toContain('User: archival fact 1');
    // Tag search (what the exactly-once check uses) finds exactly the turn.
    const found = await client.agents.passages.search(agentId, { query: turns[1].id, tags: [turnTag(turns[1])], tag_match_mode: 'all', top_k: 1 });
    expect(found.results.map((r) => r.tags)).toEqual([expect.arrayContaining([turnTag(turns[1])])]);
    expect(letta.openai.chatRequests().length).toBe(chatsBefore);
  });

  it('a write applied but answered after the client timeout is not stored twice', async () => {
    const agentId = await newAgent();
    const client = createLettaClient(lettaConfig({ timeoutMs: 1_000 }));
    // Each LLM call takes 1.5 s, so Letta finishes the request after the client gave up.
    letta.openai.options.ttftMs = 1_500;
    const queue = await openQueue({ writeStrategy: 'agent', batchMax: 2, requestTimeoutMs: 1_000, settleAfterTimeoutMs: 6_000 }, client);
    const turns = [await queue.enqueue(turn(agentId, 'late one', 'heard one')), await queue.enqueue(turn(agentId, 'late two', 'heard two'))];
    await queue.whenIdle();
    letta.openai.options.ttftMs = 0;
    expect(queue.stats().retries).toBeGreaterThanOrEqual(1);
    const users = (await history(client, agentId)).filter((m) => m.message_type === 'user_message');
    expect(users.map((m) => m.otid)).toEqual(turns.map((t) => t.otid));
  });
});

describe('real Letta 0.16.8: the full Letta reply path', () => {
  it('streams tokens and speaks only assistant text', async () => {
    const agentId = await newAgent();
    const client = createLettaClient(lettaConfig());
    const runIds: string[] = [];
    const pieces: string[] = [];
    const reply = streamLettaReply({ client, agentId, baseURL: letta.baseURL, userText: 'What is my name?', otid: crypto.randomUUID(), onRunId: (id) => runIds.push(id) });
    let end;
    for (;;) {
      const next = await reply.next();
      if (next.done) {
        end = next.value;
        break;
      }
      pieces.push(next.value);
    }
    expect(end).toEqual({ complete: true });
    expect(pieces.length).toBeGreaterThan(3);
    expect(pieces.join('')).toBe('You said "What is my name?". That is noted. Anything else?');
    // The memory tool call and its return came through the stream but were not spoken.
    expect(pieces.join('')).not.toContain('memory_insert');
    expect(runIds).toHaveLength(1);
    expect(runIds[0]).toMatch(/^run-/);
  });
});
