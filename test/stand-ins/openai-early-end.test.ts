import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { startOpenAIServer, type OpenAIServer } from '../../simulation/stand-ins/openai-server.js';

let server: OpenAIServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function streamOnce(fault: (s: OpenAIServer) => void) {
  server = await startOpenAIServer({ reply: () => 'one two three four five' });
  fault(server);
  const client = new OpenAI({ baseURL: server.baseURL, apiKey: 'k', maxRetries: 0 });
  const stream = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }], stream: true });
  let text = '';
  const finishReasons: string[] = [];
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content ?? '';
    if (chunk.choices[0]?.finish_reason) finishReasons.push(chunk.choices[0].finish_reason);
  }
  return { text, finishReasons };
}

describe('OpenAI stand-in: streams that end early', () => {
  it.each(['length', 'content_filter'] as const)('ends with finish_reason %s and [DONE]', async (reason) => {
    const { text, finishReasons } = await streamOnce((s) => s.endStreamEarly(2, reason));
    expect(text).toBe('one two');
    expect(finishReasons).toEqual([reason]);
    expect(server!.responses[0]).toMatchObject({ completed: true, endedEarly: true, contentChunks: 2 });
  });

  it('ends the body without finish_reason, which the SDK does not notice', async () => {
    const { text, finishReasons } = await streamOnce((s) => s.endStreamEarly(3, null));
    expect(text).toBe('one two three');
    expect(finishReasons).toEqual([]);
    expect(server!.responses[0]).toMatchObject({ completed: false, endedEarly: true });
  });

  it('a normal stream still finishes with stop', async () => {
    const { text, finishReasons } = await streamOnce(() => undefined);
    expect(text).toBe('one two three four five');
    expect(finishReasons).toEqual(['stop']);
  });
});
