/**
 * What the OpenAI stand-in needs to play the model behind a Letta agent: tool calls and embeddings.
 *
 * Tool calls (Chat Completions wire format, openai 6.x types): with `tools` and `tool_choice` other than "none",
 * a real model answers a fresh user turn with a function call (`finish_reason: "tool_calls"`, `content: null`;
 * streamed as `delta.tool_calls[{index, id, type, function:{name, arguments}}]` with the arguments in pieces),
 * and after the tool result (a `role: "tool"` message last) with text. Letta's `letta_v1_agent` (letta 0.16.8,
 * letta/agents/letta_agent_v3.py) sends its memory tools with `tool_choice: "auto"`: a tool call continues the
 * loop, text ends the turn. `memoryToolCall` calls whichever memory tool the request offers
 * (letta/functions/function_sets/base.py at 0.16.8: memory_insert(label, new_string, insert_line),
 * core_memory_append(label, content), memory(command="insert", path, insert_text, insert_line)).
 *
 * Embeddings (POST /v1/embeddings): `{object:"list", data:[{object:"embedding", index, embedding}], model, usage}`;
 * the Python SDK asks for `encoding_format: "base64"` by default (openai-python, resources/embeddings.py) and
 * decodes little-endian float32, so both encodings are served. Vectors are deterministic bags of hashed words,
 * normalised, of the requested `dimensions` (else the model's default), so similar texts are near each other.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionCreateParams } from 'openai/resources/chat/completions';
import { isPlainObject } from './faults.js';

export interface PlannedToolCall {
  name: string;
  /** JSON text of the arguments, as the model would write it. */
  arguments: string;
}

type ChatBody = ChatCompletionCreateParams;

function offeredToolNames(body: ChatBody): string[] {
  return (body.tools ?? []).flatMap((tool) => (tool.type === 'function' ? [tool.function.name] : []));
}

function lastMessageText(body: ChatBody, role: 'user'): string {
  const last = [...body.messages].reverse().find((m) => m.role === role);
  if (last === undefined) return '';
  const content = last.content;
  const text = typeof content === 'string' ? content : Array.isArray(content) ? content.map((p) => ('text' in p ? p.text : '')).join('') : '';
  // Letta wraps user text as JSON {"type":"user_message","message":...} (letta/system.py package_user_message).
  try {
    const parsed: unknown = JSON.parse(text);
    if (isPlainObject(parsed) && typeof parsed.message === 'string') return parsed.message;
  } catch {
    // plain text
  }
  return text;
}

/** A memory tool call for a fresh user turn; null once the last message is a tool result, or with no memory tool. */
export function memoryToolCall(body: ChatBody): PlannedToolCall | null {
  if (body.tool_choice === 'none') return null;
  const last = body.messages[body.messages.length - 1];
  if (last === undefined || last.role === 'tool') return null;
  const userText = lastMessageText(body, 'user').trim();
  if (userText === '') return null;
  const fact = `User said: ${userText}`;
  const tools = offeredToolNames(body);
  if (tools.includes('memory_insert')) return { name: 'memory_insert', arguments: JSON.stringify({ label: 'human', new_string: fact, insert_line: -1 }) };
  if (tools.includes('core_memory_append')) return { name: 'core_memory_append', arguments: JSON.stringify({ label: 'human', content: fact }) };
  if (tools.includes('memory')) return { name: 'memory', arguments: JSON.stringify({ command: 'insert', path: '/memories/human', insert_text: fact, insert_line: -1 }) };
  return null;
}

const callId = () => `call_${randomUUID().replace(/-/g, '').slice(0, 24)}`;

export function toolCallCompletion(body: ChatBody, call: PlannedToolCall, systemFingerprint: string): ChatCompletion {
  return {
    id: `chatcmpl-${randomUUID().replace(/-/g, '')}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: body.model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: null, refusal: null, annotations: [], tool_calls: [{ id: callId(), type: 'function', function: { name: call.name, arguments: call.arguments } }] },
        logprobs: null,
        finish_reason: 'tool_calls',
      },
    ],
    usage: { prompt_tokens: 10, completion_tokens: 10, total_tokens: 20 },
    service_tier: 'default',
    system_fingerprint: systemFingerprint,
  };
}

/** The chunks of a streamed tool call: the role, the call header, the arguments in pieces, the finish. */
export function toolCallChunks(body: ChatBody, call: PlannedToolCall, systemFingerprint: string): ChatCompletionChunk[] {
  const base = {
    id: `chatcmpl-${randomUUID().replace(/-/g, '')}`,
    object: 'chat.completion.chunk' as const,
    created: Math.floor(Date.now() / 1000),
    model: body.model,
    service_tier: 'default' as const,
    system_fingerprint: systemFingerprint,
  };
  const includeUsage = body.stream === true && body.stream_options?.include_usage === true;
  const chunk = (delta: ChatCompletionChunk.Choice['delta'], finish: ChatCompletionChunk.Choice['finish_reason'] = null): ChatCompletionChunk => ({
    ...base,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    ...(includeUsage ? { usage: null } : {}),
  });
  const pieces = call.arguments.match(/.{1,16}/gs) ?? [];
  const chunks = [
    chunk({ role: 'assistant', content: null, refusal: null, tool_calls: [{ index: 0, id: callId(), type: 'function', function: { name: call.name, arguments: '' } }] }),
    ...pieces.map((piece) => chunk({ tool_calls: [{ index: 0, function: { arguments: piece } }] })),
    chunk({}, 'tool_calls'),
  ];
  if (includeUsage) chunks.push({ ...base, choices: [], usage: { prompt_tokens: 10, completion_tokens: pieces.length, total_tokens: 10 + pieces.length } });
  return chunks;
}

const DEFAULT_DIMENSIONS: Record<string, number> = { 'text-embedding-3-large': 3072 };

function embed(text: string, dimensions: number): Float32Array {
  const vector = new Float32Array(dimensions);
  for (const word of text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []) {
    const digest = createHash('sha256').update(word).digest();
    vector[digest.readUInt32LE(0) % dimensions] += digest[4] & 1 ? 1 : -1;
  }
  let norm = Math.hypot(...vector);
  if (norm === 0) {
    vector[0] = 1;
    norm = 1;
  }
  return vector.map((x) => x / norm);
}

/** Answers POST /v1/embeddings; returns [status, body] (400 in OpenAI's error shape for a bad body). */
export function embeddingsResponse(body: unknown): [number, unknown] {
  const input = isPlainObject(body) ? body.input : undefined;
  const texts = typeof input === 'string' ? [input] : Array.isArray(input) && input.every((x) => typeof x === 'string') ? (input as string[]) : null;
  if (!isPlainObject(body) || typeof body.model !== 'string' || texts === null || texts.length === 0) {
    return [400, { error: { message: "'input' must be a non-empty string or array of strings, and 'model' is required", type: 'invalid_request_error', param: 'input', code: null } }];
  }
  const dimensions = typeof body.dimensions === 'number' && body.dimensions > 0 ? body.dimensions : (DEFAULT_DIMENSIONS[body.model] ?? 1536);
  const base64 = body.encoding_format === 'base64';
  const tokens = texts.reduce((sum, text) => sum + (text.match(/\S+/g)?.length ?? 0), 0);
  return [
    200,
    {
      object: 'list',
      data: texts.map((text, index) => {
        const vector = embed(text, dimensions);
        return { object: 'embedding', index, embedding: base64 ? Buffer.from(vector.buffer).toString('base64') : Array.from(vector) };
      }),
      model: body.model,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    },
  ];
}
