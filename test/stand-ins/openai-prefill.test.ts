/** OpenAI stand-in: time to first token grows with the prompt (prefillMsPerKTokens), through the real SDK. */
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { startOpenAIServer, type OpenAIServer } from '../../simulation/stand-ins/openai-server.js';

let server: OpenAIServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function firstTokenMs(client: OpenAI, system: string): Promise<number> {
  const started = performance.now();
  const stream = await client.chat.completions.create({
    model: 'gpt-4o-mini',
    stream: true,
    messages: [
      { role: 'system', content: system },
      { role: 'user', content: 'Hello?' },
    ],
  });
  let at = 0;
  for await (const chunk of stream) if (at === 0 && chunk.choices[0]?.delta?.content) at = performance.now() - started;
  return at;
}

describe('prefill time', () => {
  it('adds prefillMsPerKTokens per 1,000 prompt tokens to the time to first token', async () => {
    server = await startOpenAIServer({ apiKey: null, ttftMs: 50, prefillMsPerKTokens: 200 });
    const client = new OpenAI({ apiKey: 'unused', baseURL: server.baseURL, maxRetries: 0 });
    const short = await firstTokenMs(client, 'Be brief.');
    const long = await firstTokenMs(client, 'word '.repeat(4_000)); // ~4,000 prompt tokens: ~800 ms of prefill
    expect(short).toBeLessThan(400);
    expect(long - short).toBeGreaterThan(600);
    expect(long - short).toBeLessThan(2_000);
  });

  it('adds nothing by default', async () => {
    server = await startOpenAIServer({ apiKey: null, ttftMs: 50 });
    const client = new OpenAI({ apiKey: 'unused', baseURL: server.baseURL, maxRetries: 0 });
    expect(await firstTokenMs(client, 'word '.repeat(4_000))).toBeLessThan(400);
  });
});
