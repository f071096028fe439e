// The OpenAI stand-in as the model behind a Letta agent: memory tool calls (whole and streamed) and embeddings,
// through the real `openai` SDK.
import OpenAI from 'openai';
import type { ChatCompletionTool } from 'openai/resources/chat/completions';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startOpenAIServer, type OpenAIServer } from '../../simulation/stand-ins/openai-server.js';

const memoryInsert: ChatCompletionTool = {
  type: 'function',
  function: { name: 'memory_insert', parameters: { type: 'object', properties: { label: { type: 'string' }, new_string: { type: 'string' } } } },
};

let server: OpenAIServer;
let client: OpenAI;
beforeEach(async () => {
  server = await startOpenAIServer({ apiKey: 'sk-test' });
  client = new OpenAI({ baseURL: server.baseURL, apiKey: 'sk-test', maxRetries: 0 });
});
afterEach(async () => {
  await server.close();
});

describe('OpenAI stand-in playing the model behind Letta', () => {
  // Letta wraps user text as JSON (letta/system.py package_user_message at 0.16.8).
  const wrapped = JSON.stringify({ type: 'user_message', message: 'I am Sam', time: 'now' });

  it('answers a fresh user turn with a memory tool call, and the tool result with text', async () => {
    const first = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: wrapped }], tools: [memoryInsert], tool_choice: 'auto' });
    expect(first.choices[0].finish_reason).toBe('tool_calls');
    const call = first.choices[0].message.tool_calls?.[0];
    expect(call?.type === 'function' ? call.function.name : '').toBe('memory_insert');
    expect(JSON.parse(call?.type === 'function' ? call.function.arguments : '{}')).toEqual({ label: 'human', new_string: 'User said: I am Sam', insert_line: -1 });

    const second = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: wrapped }, first.choices[0].message, { role: 'tool', tool_call_id: call?.id ?? '', content: 'ok' }],
      tools: [memoryInsert],
    });
    expect(second.choices[0].finish_reason).toBe('stop');
    expect(second.choices[0].message.content).toContain('I am Sam');
  });

  it('streams a tool call as the SDK expects: header, argument pieces, finish_reason tool_calls', async () => {
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'remember the blue door' }], tools: [memoryInsert], stream: true, stream_options: { include_usage: true } });
    let args = '';
    let name = '';
    let finish: string | null = null;
    let usage = false;
    for await (const chunk of stream) {
      for (const choice of chunk.choices) {
        for (const tc of choice.delta.tool_calls ?? []) {
          name += tc.function?.name ?? '';
          args += tc.function?.arguments ?? '';
        }
        finish = choice.finish_reason ?? finish;
      }
      usage ||= chunk.usage != null;
    }
    expect(name).toBe('memory_insert');
    expect(JSON.parse(args)).toMatchObject({ new_string: 'User said: remember the blue door' });
    expect(finish).toBe('tool_calls');
    expect(usage).toBe(true);
  });

  it('answers with text without tools, or with tool_choice none', async () => {
    const none = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], tools: [memoryInsert], tool_choice: 'none' });
    expect(none.choices[0].message.tool_calls ?? []).toEqual([]);
    const plain = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    expect(plain.choices[0].message.content).toContain('hi');
  });

  it('serves deterministic embeddings of the requested size, as floats or base64', async () => {
    const a = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['green tea', 'green tea', 'parking ticket'], encoding_format: 'float' });
    expect(a.data).toHaveLength(3);
    expect(a.data[0].embedding).toHaveLength(1536);
    expect(a.data[0].embedding).toEqual(a.data[1].embedding);
    const dot = (x: number[], y: number[]) => x.reduce((sum, v, i) => sum + v * y[i], 0);
    expect(dot(a.data[0].embedding, a.data[0].embedding)).toBeCloseTo(1, 5);
    expect(dot(a.data[0].embedding, a.data[2].embedding)).toBeLessThan(0.5);
    // The SDK's default is base64, decoded to floats on the client.
    const b = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'green tea', dimensions: 64 });
    expect(b.data[0].embedding).toHaveLength(64);
    const bad = await client.embeddings.create({ model: 'text-embedding-3-small', input: [] }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
  });
});
