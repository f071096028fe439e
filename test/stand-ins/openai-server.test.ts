/**
 * Drives the local OpenAI-compatible server through the real `openai` SDK to
 * prove it speaks the wire protocol the worker depends on.
 */
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, AuthenticationError, BadRequestError, InternalServerError, RateLimitError } from 'openai';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { performance } from 'node:perf_hooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startOpenAIServer, tokenize, type OpenAIServer } from '../../simulation/stand-ins/openai-server.js';

const API_KEY = 'sk-test-local';

interface Arrival {
  chunk: ChatCompletionChunk;
  at: number;
}

async function collect(stream: AsyncIterable<ChatCompletionChunk>): Promise<Arrival[]> {
  const out: Arrival[] = [];
  for await (const chunk of stream) out.push({ chunk, at: performance.now() });
  return out;
}

function contentOf(arrivals: Arrival[]): string {
  return arrivals.map((a) => a.chunk.choices[0]?.delta.content ?? '').join('');
}

describe('openai-server', () => {
  let server: OpenAIServer;
  let client: OpenAI;

  beforeEach(async () => {
    server = await startOpenAIServer({ apiKey: API_KEY });
    client = new OpenAI({ baseURL: server.baseURL, apiKey: API_KEY, maxRetries: 0 });
  });

  afterEach(async () => {
    await server.close();
  });

  it('exposes a /v1 baseURL on 127.0.0.1 with a random port', () => {
    expect(server.baseURL).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    expect(server.port).toBeGreaterThan(0);
  });

  it('streams chat.completion.chunk events in the real order, ending with finish_reason stop', async () => {
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Hello there' }],
      stream: true,
    });
    const arrivals = await collect(stream);
    const chunks = arrivals.map((a) => a.chunk);

    expect(chunks[0].object).toBe('chat.completion.chunk');
    expect(chunks[0].choices[0].delta).toMatchObject({ role: 'assistant', content: '' });
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    const last = chunks[chunks.length - 1];
    expect(last.choices[0].finish_reason).toBe('stop');
    expect(last.choices[0].delta).toEqual({});
    expect(chunks.every((c) => !('usage' in c))).toBe(true);
    expect(contentOf(arrivals)).toBe('You said "Hello there". That is noted. Anything else?');
    // One content chunk per word-ish token, between the role chunk and the stop chunk.
    expect(chunks.length).toBe(tokenize(contentOf(arrivals)).length + 2);
  });

  it('delivers the first content chunk well before the stream ends', async () => {
    server.options.ttftMs = 100;
    server.options.tokenDelayMs = 40;
    const started = performance.now();
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'one two three' }],
      stream: true,
    });
    const arrivals = await collect(stream);
    const firstContent = arrivals.find((a) => (a.chunk.choices[0]?.delta.content ?? '') !== '');
    const end = arrivals[arrivals.length - 1].at;

    expect(firstContent).toBeDefined();
    expect(firstContent!.at - started).toBeGreaterThanOrEqual(90);
    // ~9 tokens at 40 ms each: the first one is far ahead of the end.
    expect(end - firstContent!.at).toBeGreaterThan(200);

    const timing = server.responses[0];
    expect(timing.stream).toBe(true);
    expect(timing.completed).toBe(true);
    expect(timing.lastChunkAt! - timing.firstContentAt!).toBeGreaterThan(200);
  });

  it('appends a usage chunk with empty choices when stream_options.include_usage is set', async () => {
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'count me' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = (await collect(stream)).map((a) => a.chunk);
    const usageChunk = chunks[chunks.length - 1];

    expect(usageChunk.choices).toEqual([]);
    expect(usageChunk.usage?.completion_tokens).toBe(chunks.length - 3);
    expect(usageChunk.usage?.total_tokens).toBe((usageChunk.usage?.prompt_tokens ?? 0) + (usageChunk.usage?.completion_tokens ?? 0));
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
    expect(chunks[chunks.length - 2].choices[0].finish_reason).toBe('stop');
  });

  it('answers non-streaming requests with a chat.completion object', async () => {
    server.options.reply = () => 'Fixed reply.';
    const completion = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(completion.object).toBe('chat.completion');
    expect(completion.model).toBe('gpt-4o-mini');
    expect(completion.choices[0].message).toMatchObject({ role: 'assistant', content: 'Fixed reply.' });
    expect(completion.choices[0].finish_reason).toBe('stop');
    expect(completion.usage?.completion_tokens).toBe(2);
  });

  it('records request bodies, headers and arrival times', async () => {
    const before = performance.now();
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'record me' }] });
    const [req] = server.requests;
    expect(req.path).toBe('/v1/chat/completions');
    expect(req.headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect(req.receivedAt).toBeGreaterThanOrEqual(before);
    expect(server.chatRequests()[0].messages).toEqual([{ role: 'user', content: 'record me' }]);
  });

  it('rejects a wrong API key with 401 in the OpenAI error shape', async () => {
    const bad = new OpenAI({ baseURL: server.baseURL, apiKey: 'sk-wrong', maxRetries: 0 });
    const err = await bad.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthenticationError);
    expect((err as AuthenticationError).status).toBe(401);
    expect((err as AuthenticationError).code).toBe('invalid_api_key');
  });

  it('validates the body like the API (missing messages -> 400)', async () => {
    const res = await fetch(`${server.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini' }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { param: 'messages', code: 'missing_required_parameter' } });

    const err = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BadRequestError);
  });

  it('injects HTTP errors that surface as typed APIErrors, then recovers', async () => {
    server.failNext(1, { status: 500 });
    server.failNext(1, { status: 429 });
    const ask = () => client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] });

    const first = await ask().catch((e: unknown) => e);
    expect(first).toBeInstanceOf(InternalServerError);
    expect((first as InternalServerError).status).toBe(500);
    const second = await ask().catch((e: unknown) => e);
    expect(second).toBeInstanceOf(RateLimitError);
    expect((second as RateLimitError).code).toBe('rate_limit_exceeded');
    await expect(ask()).resolves.toMatchObject({ object: 'chat.completion' });
  });

  it('lets the SDK retry through a transient 503 when retries are on', async () => {
    const retrying = new OpenAI({ baseURL: server.baseURL, apiKey: API_KEY, maxRetries: 2 });
    server.failNext(1, { status: 503, headers: { 'retry-after-ms': '10' } });
    const completion = await retrying.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] });
    expect(completion.choices[0].message.content).toContain('"x"');
    expect(server.requests).toHaveLength(2);
  });

  it('drops the connection mid-stream after N content chunks', async () => {
    server.failMidStream(2);
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'long answer please' }],
      stream: true,
    });
    const received: string[] = [];
    const err = await (async () => {
      for await (const chunk of stream) received.push(chunk.choices[0]?.delta.content ?? '');
    })().catch((e: unknown) => e);

    expect(err).toBeInstanceOf(Error);
    expect(received.join('')).toBe('You said');
    expect(server.responses[0]).toMatchObject({ contentChunks: 2, completed: false, droppedByFault: true });

    // The fault was one-shot: the next stream is complete.
    const again = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'ok' }], stream: true });
    expect(contentOf(await collect(again))).toContain('"ok"');
  });

  it('hangs when asked, so client timeouts fire; close() still returns promptly', async () => {
    server.options.hang = true;
    const impatient = new OpenAI({ baseURL: server.baseURL, apiKey: API_KEY, maxRetries: 0, timeout: 150 });
    const err = await impatient.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }], stream: true })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(APIConnectionTimeoutError);
  });

  it('stalls mid-stream without ending the response', async () => {
    server.stallMidStream(1);
    const controller = new AbortController();
    const stream = await client.chat.completions.create(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }], stream: true },
      { signal: controller.signal },
    );
    const received: string[] = [];
    setTimeout(() => controller.abort(), 200);
    for await (const chunk of stream) received.push(chunk.choices[0]?.delta.content ?? '');
    expect(received.join('')).toBe('You');
    expect(server.responses[0].completed).toBe(false);
  });

  it('close() destroys keep-alive sockets and refuses new connections', async () => {
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] });
    const started = performance.now();
    await server.close();
    expect(performance.now() - started).toBeLessThan(500);
    const err = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(APIConnectionError);
  });
});
