/**
 * Drives the local Letta server through the real `@letta-ai/letta-client` SDK
 * to prove it speaks the protocol the worker depends on.
 */
import Letta, {
  APIConnectionError,
  APIConnectionTimeoutError,
  AuthenticationError,
  InternalServerError,
  NotFoundError,
  UnprocessableEntityError,
} from '@letta-ai/letta-client';
import type { LettaStreamingResponse } from '@letta-ai/letta-client/resources/agents/messages';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startLettaServer, type LettaServer } from '../../simulation/stand-ins/letta-server.js';

const API_KEY = 'letta-test-key';

interface Arrival {
  item: LettaStreamingResponse;
  at: number;
}

async function collect(stream: AsyncIterable<LettaStreamingResponse>): Promise<Arrival[]> {
  const out: Arrival[] = [];
  for await (const item of stream) out.push({ item, at: performance.now() });
  return out;
}

function typesOf(arrivals: Arrival[]): string[] {
  return arrivals.map((a) => a.item.message_type ?? '?');
}

/** Assistant text as a speaker would hear it: only assistant_message content. */
function spokenText(arrivals: Arrival[]): string {
  return arrivals
    .map((a) => (a.item.message_type === 'assistant_message' && typeof a.item.content === 'string' ? a.item.content : ''))
    .join('');
}

describe('letta-server', () => {
  let server: LettaServer;
  let client: Letta;
  let agentId: string;

  beforeEach(async () => {
    server = await startLettaServer({ apiKey: API_KEY, messageLatencyMs: 20, tokenDelayMs: 2 });
    client = new Letta({ baseURL: server.baseURL, apiKey: API_KEY, maxRetries: 0 });
    agentId = server.seedAgent({ name: 'voice-agent', blocks: [{ label: 'human', value: 'Name: Sam' }, { label: 'persona', value: 'Helpful.' }] }).id;
  });

  afterEach(async () => {
    await server.close();
  });

  describe('agents and core memory', () => {
    it('lists agents filtered by name, as an array page', async () => {
      server.seedAgent({ name: 'other' });
      const page = await client.agents.list({ name: 'voice-agent' });
      expect(page.items.map((a) => a.id)).toEqual([agentId]);
      const all = [];
      for await (const agent of client.agents.list()) all.push(agent.name);
      expect(all.sort()).toEqual(['other', 'voice-agent']);
    });

    it('creates an agent with memory blocks and retrieves it', async () => {
      const created = await client.agents.create({
        name: 'fresh',
        model: 'openai/gpt-4o-mini',
        memory_blocks: [
          { label: 'human', value: 'Unknown so far.', limit: 2000 },
          { label: 'persona', value: 'A calm voice.' },
        ],
      });
      expect(created.id).toMatch(/^agent-[0-9a-f-]{36}$/);
      expect(created.memory.blocks.map((b) => b.label)).toEqual(['human', 'persona']);
      expect(created.blocks[0]).toMatchObject({ label: 'human', value: 'Unknown so far.', limit: 2000 });
      expect(created.llm_config.model).toBe('gpt-4o-mini');

      const fetched = await client.agents.retrieve(created.id);
      expect(fetched.name).toBe('fresh');
      expect(server.agentState(created.id)?.name).toBe('fresh');
    });

    it('lists, retrieves and updates core-memory blocks', async () => {
      const blocks = await client.agents.blocks.list(agentId);
      expect(blocks.items.map((b) => b.label)).toEqual(['human', 'persona']);
      expect(blocks.items[0].id).toMatch(/^block-/);

      const human = await client.agents.blocks.retrieve('human', { agent_id: agentId });
      expect(human.value).toBe('Name: Sam');

      const updated = await client.agents.blocks.update('human', { agent_id: agentId, value: 'Name: Sam\nLikes tea' });
      expect(updated.value).toBe('Name: Sam\nLikes tea');
      expect(server.block(agentId, 'human')?.value).toBe('Name: Sam\nLikes tea');
    });

    it('answers 404 for an unknown agent and 422 for a malformed agent id', async () => {
      const unknown = `agent-${randomUUID()}`;
      const notFound = await client.agents.retrieve(unknown).catch((e: unknown) => e);
      expect(notFound).toBeInstanceOf(NotFoundError);
      expect((notFound as NotFoundError).status).toBe(404);

      const malformed = await client.agents.retrieve('agent-nope').catch((e: unknown) => e);
      expect(malformed).toBeInstanceOf(UnprocessableEntityError);

      const missingBlock = await client.agents.blocks.retrieve('nope', { agent_id: agentId }).catch((e: unknown) => e);
      expect(missingBlock).toBeInstanceOf(NotFoundError);
    });

    it('rejects a wrong API key with 401', async () => {
      const bad = new Letta({ baseURL: server.baseURL, apiKey: 'wrong', maxRetries: 0 });
      const err = await bad.agents.list().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AuthenticationError);
      expect((err as AuthenticationError).status).toBe(401);
      expect(server.requests[0].headers.authorization).toBe('Bearer wrong');
    });
  });

  describe('messages', () => {
    it('runs a non-streaming turn: reasoning, memory tool call, reply; stores messages and edits memory', async () => {
      const otid = randomUUID();
      const response = await client.agents.messages.create(agentId, {
        messages: [{ role: 'user', content: 'I love green tea', otid }],
      });

      expect(response.messages.map((m) => m.message_type)).toEqual([
        'reasoning_message',
        'tool_call_message',
        'tool_return_message',
        'assistant_message',
      ]);
      const assistant = response.messages[3];
      expect(assistant.message_type === 'assistant_message' && assistant.content).toContain('I love green tea');
      expect(response.stop_reason.stop_reason).toBe('end_turn');
      expect(response.usage.step_count).toBe(2);

      expect(server.block(agentId, 'human')?.value).toBe('Name: Sam\nUser said: I love green tea');
      const users = server.userMessagesOf(agentId);
      expect(users).toHaveLength(1);
      expect(users[0]).toMatchObject({ text: 'I love green tea', otid, role: 'user', messageType: 'user_message' });
      expect(server.messagesOf(agentId).map((m) => m.messageType)).toEqual([
        'user_message',
        'reasoning_message',
        'tool_call_message',
        'tool_return_message',
        'assistant_message',
      ]);

      const history = await client.agents.messages.list(agentId, { order: 'asc' });
      expect(history.items[0]).toMatchObject({ message_type: 'user_message', content: 'I love green tea', otid });
      const newestFirst = await client.agents.messages.list(agentId, { limit: 1 });
      expect(newestFirst.items[0].message_type).toBe('assistant_message');
      // The SDK's auto-pager follows `after` cursors until an empty page.
      const paged = [];
      for await (const m of client.agents.messages.list(agentId, { limit: 2, order: 'asc' })) paged.push(m.id);
      expect(paged).toEqual(server.messagesOf(agentId).map((m) => m.id));
    });

    it('accepts `input` as sugar for one user message and can omit reasoning and tools', async () => {
      server.options.includeReasoning = false;
      server.options.includeToolCalls = false;
      server.options.replyFor = () => 'Short answer.';
      const response = await client.agents.messages.create(agentId, { input: 'hi' });
      expect(response.messages.map((m) => m.message_type)).toEqual(['assistant_message']);
      expect(server.block(agentId, 'human')?.value).toBe('Name: Sam');
      expect(server.userMessagesOf(agentId)[0].text).toBe('hi');
    });

    it('streams tokens: assistant chunks share one id and concatenate to the reply', async () => {
      const stream = await client.agents.messages.create(agentId, {
        messages: [{ role: 'user', content: 'Tell me something' }],
        streaming: true,
        stream_tokens: true,
      });
      const arrivals = await collect(stream);
      const types = typesOf(arrivals);

      expect(types.indexOf('reasoning_message')).toBeLessThan(types.indexOf('tool_call_message'));
      expect(types.indexOf('tool_return_message')).toBeLessThan(types.indexOf('assistant_message'));
      expect(types.slice(-2)).toEqual(['stop_reason', 'usage_statistics']);
      const assistantChunks = arrivals.filter((a) => a.item.message_type === 'assistant_message').map((a) => a.item);
      expect(assistantChunks.length).toBeGreaterThan(5);
      expect(new Set(assistantChunks.map((c) => ('id' in c ? c.id : ''))).size).toBe(1);
      expect(new Set(assistantChunks.map((c) => ('otid' in c ? c.otid : ''))).size).toBe(1);
      expect(spokenText(arrivals)).toBe('Got it: "Tell me something". I will keep that in mind. What else is on your mind?');
      // Reasoning never leaks into the spoken text, and the stored reply is whole.
      expect(spokenText(arrivals)).not.toContain('remember it');
      expect(server.messagesOf(agentId).filter((m) => m.messageType === 'assistant_message')[0].text).toBe(spokenText(arrivals));
    });

    it('streams whole messages per step when stream_tokens is false', async () => {
      const stream = await client.agents.messages.create(agentId, {
        messages: [{ role: 'user', content: 'step mode' }],
        streaming: true,
      });
      const arrivals = await collect(stream);
      // include_pings defaults to true: Letta's initial run ping comes first (streaming_service.py at 0.16.8).
      expect(typesOf(arrivals)).toEqual([
        'ping',
        'reasoning_message',
        'tool_call_message',
        'tool_return_message',
        'assistant_message',
        'stop_reason',
        'usage_statistics',
      ]);
      expect(spokenText(arrivals)).toContain('"step mode"');
    });

    it('forceStepStreaming ignores stream_tokens, like Letta for providers it cannot token-stream', async () => {
      server.options.forceStepStreaming = true;
      const stream = await client.agents.messages.create(agentId, {
        messages: [{ role: 'user', content: 'whole please' }],
        streaming: true,
        stream_tokens: true,
      });
      const arrivals = await collect(stream);
      expect(typesOf(arrivals).filter((t) => t === 'assistant_message')).toHaveLength(1);
      expect(server.responses[0].streamTokens).toBe(false);
    });

    it('also serves the deprecated /messages/stream endpoint', async () => {
      const stream = await client.agents.messages.stream(agentId, { messages: [{ role: 'user', content: 'old route' }] });
      const arrivals = await collect(stream);
      expect(spokenText(arrivals)).toContain('"old route"');
      expect(server.requests.at(-1)?.route).toBe('messages.stream');
    });

    it('tokens mode spreads items over time; buffered mode holds everything, then bursts', async () => {
      const ask = async (content: string) => {
        const started = performance.now();
        const stream = await client.agents.messages.create(agentId, {
          messages: [{ role: 'user', content }],
          streaming: true,
          stream_tokens: true,
          include_pings: false,
        });
        const arrivals = await collect(stream);
        return { started, first: arrivals[0].at, last: arrivals[arrivals.length - 1].at };
      };
      server.options.messageLatencyMs = 100;
      server.options.tokenDelayMs = 10;

      const tokens = await ask('tokens please');
      expect(tokens.first - tokens.started).toBeLessThan(200);
      expect(tokens.last - tokens.first).toBeGreaterThan(250);

      server.options.streamMode = 'buffered';
      const buffered = await ask('buffered please');
      expect(buffered.first - buffered.started).toBeGreaterThan(400);
      expect(buffered.last - buffered.first).toBeLessThan(100);
      const timing = server.responses[1];
      expect(timing.headersAt! - server.requests[timing.requestIndex].receivedAt).toBeGreaterThan(400);
    });

    it('emits keepalive pings during silence when include_pings is on', async () => {
      server.options.pingIntervalMs = 20;
      server.options.messageLatencyMs = 120;
      const stream = await client.agents.messages.create(agentId, {
        messages: [{ role: 'user', content: 'slow thinker' }],
        streaming: true,
        stream_tokens: true,
      });
      const arrivals = await collect(stream);
      expect(typesOf(arrivals).filter((t) => t === 'ping').length).toBeGreaterThanOrEqual(2);
      expect(spokenText(arrivals)).not.toContain('ping');
    });

    it('filters by include_return_message_types', async () => {
      const response = await client.agents.messages.create(agentId, {
        messages: [{ role: 'user', content: 'only the reply' }],
        include_return_message_types: ['assistant_message'],
      });
      expect(response.messages.map((m) => m.message_type)).toEqual(['assistant_message']);
    });

    it('does not de-duplicate by otid: a resent message is stored and applied again, like Letta 0.16.8', async () => {
      const otid = randomUUID();
      const send = () => client.agents.messages.create(agentId, { messages: [{ role: 'user', content: 'remember me once', otid }] });
      await send();
      const second = await send();

      expect(second.messages.some((m) => m.message_type === 'assistant_message')).toBe(true);
      expect(server.userMessagesOf(agentId)).toHaveLength(2);
      expect(server.duplicatesOf(agentId)).toHaveLength(1);
      expect(server.duplicatesOf(agentId)[0].otid).toBe(otid);
      expect(server.block(agentId, 'human')?.value.match(/remember me once/g)).toHaveLength(2);
      // Listed user messages keep the client's otid, which is how a writer finds out what landed.
      const listed = await client.agents.messages.list(agentId, { include_return_message_types: ['user_message'] });
      expect(listed.getPaginatedItems().map((m) => m.otid)).toEqual([otid, otid]);
    });

    it('lists a client assistant message with an otid derived from its id, not the one sent', async () => {
      const otid = randomUUID();
      await client.agents.messages.create(agentId, { messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello', otid }] });
      const listed = await client.agents.messages.list(agentId, { include_return_message_types: ['assistant_message'] });
      const heard = listed.getPaginatedItems().find((m) => m.message_type === 'assistant_message' && m.content === 'hello');
      expect(heard?.otid).toBeDefined();
      expect(heard?.otid).not.toBe(otid);
    });

    it('validates bodies like FastAPI: 422 for missing messages and streaming-only options', async () => {
      const res = await fetch(`${server.baseURL}/v1/agents/${agentId}/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({}),
      });
      expect(res.status).toBe(422);
      const body = (await res.json()) as { detail: Array<{ type: string; loc: unknown[]; msg: string }> };
      expect(body.detail[0]).toMatchObject({ type: 'value_error', loc: ['body'] });
      expect(body.detail[0].msg).toContain("Must specify either 'input' or 'messages'");

      const err = await client.agents.messages
        .create(agentId, { messages: [{ role: 'user', content: 'x' }], stream_tokens: true })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnprocessableEntityError);
      expect(server.userMessagesOf(agentId)).toHaveLength(0);
    });
  });

  describe('model variants and conflicts (letta 0.16.8 wire shapes)', () => {
    const itemsOf = async (stream: AsyncIterable<LettaStreamingResponse>) => (await collect(stream)).map((a) => a.item);

    it('hiddenReasoning: a hidden_reasoning_message (state omitted, no text) before the first output', async () => {
      server.options.hiddenReasoning = true;
      server.options.includeReasoning = false;
      const items = await itemsOf(await client.agents.messages.create(agentId, { messages: [{ role: 'user', content: 'hi' }], streaming: true }));
      const types = items.map((i) => i.message_type);
      expect(types.slice(0, 3)).toEqual(['ping', 'hidden_reasoning_message', 'tool_call_message']);
      expect(items[1]).toMatchObject({ state: 'omitted', hidden_reasoning: null });
    });

    it("assistantContentForm 'list': assistant content arrives as text parts", async () => {
      server.options.assistantContentForm = 'list';
      const items = await itemsOf(await client.agents.messages.create(agentId, { messages: [{ role: 'user', content: 'parts' }], streaming: true, stream_tokens: true }));
      const assistant = items.flatMap((i) => (i.message_type === 'assistant_message' ? [i] : []));
      expect(assistant.length).toBeGreaterThan(1);
      expect(assistant.every((i) => Array.isArray(i.content))).toBe(true);
      expect(assistant.map((i) => (Array.isArray(i.content) ? i.content.map((p) => p.text).join('') : '')).join('')).toContain('"parts"');
    });

    it('interleaveReasoning: two assistant messages in one step share the id, not the otid', async () => {
      server.options.interleaveReasoning = true;
      const response = await client.agents.messages.create(agentId, { messages: [{ role: 'user', content: 'split me' }] });
      const last = response.messages.slice(-3);
      expect(last.map((m) => m.message_type)).toEqual(['assistant_message', 'reasoning_message', 'assistant_message']);
      expect(new Set(last.map((m) => m.id)).size).toBe(1);
      expect(new Set(last.map((m) => m.otid)).size).toBe(3);
      const text = last.filter((m) => m.message_type === 'assistant_message').map((m) => ('content' in m && typeof m.content === 'string' ? m.content : '')).join(' ');
      expect(text).toBe('Got it: "split me". I will keep that in mind. What else is on your mind?');
    });

    it('conflictNext: busy, locked (Retry-After) and PENDING_APPROVAL bodies; nothing applied', async () => {
      server.conflictNext(1, 'busy', 'messages.create');
      server.conflictNext(1, 'locked', 'messages.create');
      server.conflictNext(1, 'pending-approval', 'messages.create');
      const send = () =>
        client.agents.messages.create(agentId, { messages: [{ role: 'user', content: 'x' }] }).then(
          () => ({ status: 200, error: undefined, headers: new Headers() }),
          (e: unknown) => e as { status: number; error: unknown; headers: Headers },
        );
      const busy = await send();
      expect(busy).toMatchObject({ status: 409, error: { detail: expect.stringContaining('is currently being processed'), run_id: expect.stringMatching(/^run-/) } });
      const locked = await send();
      expect(locked.status).toBe(409);
      expect(locked.headers.get('retry-after')).toBe('1');
      const pending = await send();
      expect(pending).toMatchObject({ status: 409, error: { detail: { code: 'PENDING_APPROVAL', pending_request_id: expect.any(String) } } });
      expect(server.userMessagesOf(agentId)).toEqual([]);
    });
  });

  describe('archival memory', () => {
    it('creates and lists passages', async () => {
      const created = await client.agents.passages.create(agentId, { text: 'Sam visited Lisbon in May.', tags: ['travel'] });
      expect(created).toHaveLength(1);
      expect(created[0]).toMatchObject({ text: 'Sam visited Lisbon in May.', tags: ['travel'] });
      expect(created[0].id).toMatch(/^passage-/);
      await client.agents.passages.create(agentId, { text: 'Sam prefers mornings.' });

      const listed = await client.agents.passages.list(agentId);
      expect(listed.map((p) => p.text)).toEqual(['Sam visited Lisbon in May.', 'Sam prefers mornings.']);
      expect(server.passagesOf(agentId)).toHaveLength(2);
    });

    it('searches passages, closest first, with tag filters and top_k', async () => {
      await client.agents.passages.create(agentId, { text: 'Sam visited Lisbon in May.', tags: ['travel'] });
      await client.agents.passages.create(agentId, { text: 'Sam likes green tea.', tags: ['food'] });
      await client.agents.passages.create(agentId, { text: 'Sam drinks green tea every morning.', tags: ['food', 'habit'] });

      const found = await client.agents.passages.search(agentId, { query: 'green tea morning', top_k: 2 });
      expect(found.count).toBe(2);
      expect(found.results.map((r) => r.content)).toEqual(['Sam drinks green tea every morning.', 'Sam likes green tea.']);
      expect(found.results[0].id).toMatch(/^passage-/);

      const tagged = await client.agents.passages.search(agentId, { query: 'Sam', tags: ['food', 'habit'], tag_match_mode: 'all' });
      expect(tagged.results.map((r) => r.content)).toEqual(['Sam drinks green tea every morning.']);
    });
  });

  describe('faults', () => {
    it('injects 5xx for one route only, then recovers', async () => {
      server.failNext(1, 503, { route: 'messages.create' });
      const blocks = await client.agents.blocks.list(agentId);
      expect(blocks.items).toHaveLength(2);

      const err = await client.agents.messages.create(agentId, { input: 'x' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InternalServerError);
      expect((err as InternalServerError).status).toBe(503);
      expect(server.userMessagesOf(agentId)).toHaveLength(0);
      await expect(client.agents.messages.create(agentId, { input: 'x' })).resolves.toBeDefined();
    });

    it('failWith422Next answers 422 without applying anything', async () => {
      server.failWith422Next(1, { route: 'passages.create' });
      const err = await client.agents.passages.create(agentId, { text: 'nope' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnprocessableEntityError);
      expect(server.passagesOf(agentId)).toHaveLength(0);
    });

    it('slowApplyNext: the client times out but the write is still applied', async () => {
      server.slowApplyNext(1, 600, 'messages.create');
      const impatient = new Letta({ baseURL: server.baseURL, apiKey: API_KEY, maxRetries: 0, timeout: 150 });
      const err = await impatient.agents.messages
        .create(agentId, { messages: [{ role: 'user', content: 'did this land?', otid: randomUUID() }] })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(APIConnectionTimeoutError);
      expect(server.userMessagesOf(agentId).map((m) => m.text)).toEqual(['did this land?']);
      await server.idle();
      expect(server.messagesOf(agentId).some((m) => m.messageType === 'assistant_message')).toBe(true);
    });

    it('dropAfterApplyNext: the connection dies after the write landed', async () => {
      server.dropAfterApplyNext(1, 'passages.create');
      const err = await client.agents.passages.create(agentId, { text: 'landed' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(APIConnectionError);
      expect(server.passagesOf(agentId).map((p) => p.text)).toEqual(['landed']);
    });

    it('failMidStream: the stream breaks but Letta finishes the turn anyway', async () => {
      server.failMidStream(3);
      const stream = await client.agents.messages.create(agentId, {
        messages: [{ role: 'user', content: 'cut me off' }],
        streaming: true,
        stream_tokens: true,
      });
      const received: LettaStreamingResponse[] = [];
      const err = await (async () => {
        for await (const item of stream) received.push(item);
      })().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      // The initial ping is not a data item for the fault count (pings excluded).
      expect(received.filter((item) => item.message_type !== 'ping')).toHaveLength(3);
      await server.idle();
      expect(server.messagesOf(agentId).some((m) => m.messageType === 'assistant_message')).toBe(true);
    });

    it('failMidStream error-event: the SDK raises an APIError from the SSE error event', async () => {
      server.failMidStream(1, { mode: 'error-event' });
      const stream = await client.agents.messages.create(agentId, {
        messages: [{ role: 'user', content: 'x' }],
        streaming: true,
      });
      const received: LettaStreamingResponse[] = [];
      const err = await (async () => {
        for await (const item of stream) received.push(item);
      })().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      // Letta 0.16.8 order: the failing stop_reason first, then the error_message event (then [DONE]).
      expect(received.at(-1)).toEqual({ message_type: 'stop_reason', stop_reason: 'llm_api_error' });
      expect((err as { error?: unknown }).error).toMatchObject({ message_type: 'error_message', error_type: 'llm_error' });
    });

    it('refuse() gives connection errors; accept() serves again on the same port', async () => {
      const baseURL = server.baseURL;
      await server.refuse();
      expect(server.accepting).toBe(false);
      const err = await client.agents.retrieve(agentId).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(APIConnectionError);

      await server.accept();
      expect(server.baseURL).toBe(baseURL);
      await expect(client.agents.retrieve(agentId)).resolves.toMatchObject({ id: agentId });
    });

    it('tracks the maximum number of concurrent message requests per agent', async () => {
      const send = (content: string) => client.agents.messages.create(agentId, { input: content });
      await send('one');
      await send('two');
      expect(server.maxConcurrentPerAgent(agentId)).toBe(1);

      await Promise.all([send('three'), send('four')]);
      expect(server.maxConcurrentPerAgent(agentId)).toBe(2);
      expect(server.maxConcurrentPerAgent(agentId, 'writes')).toBe(2);
      expect(server.inFlight(agentId)).toBe(0);
    });

    it('records the order of stored messages across requests', async () => {
      await client.agents.messages.create(agentId, { input: 'first' });
      await client.agents.messages.create(agentId, { input: 'second' });
      const users = server.userMessagesOf(agentId);
      expect(users.map((m) => m.text)).toEqual(['first', 'second']);
      expect(users[0].seq).toBeLessThan(users[1].seq);
      expect(users[0].receivedAt).toBeLessThan(users[1].receivedAt);
    });
  });
});
