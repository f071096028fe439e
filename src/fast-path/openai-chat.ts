import OpenAI from 'openai';
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import type { llm } from '@livekit/agents';
import type { Config } from '../config.js';
import { renderMemoryBlocks, type MemoryBlock } from '../letta/memory-blocks.js';
import type { StreamEnd } from '../replies/source-stream.js';

/**
 * One client per process: the SDK keeps HTTP connections alive across requests, so each turn skips the
 * TCP/TLS handshake. SDK retries are off because a retry after a failure costs more than the Letta fallback.
 */
export function createChatClient(openai: Config['openai']): OpenAI {
  return new OpenAI({ apiKey: openai.apiKey, baseURL: openai.baseURL, maxRetries: 0, timeout: 30_000 });
}

/**
 * The fast path's prompt: the conversation's system instructions with the Letta agent's core memory appended,
 * then the conversation itself from the session's chat context.
 */
export function buildChatMessages(chatCtx: llm.ChatContext, memory: readonly MemoryBlock[]): ChatCompletionMessageParam[] {
  const memoryText = renderMemoryBlocks(memory);
  const messages: ChatCompletionMessageParam[] = [];
  let memoryPlaced = memoryText === '';
  for (const item of chatCtx.items) {
    if (item.type !== 'message') continue;
    const text = item.textContent ?? '';
    if (item.role === 'system' || item.role === 'developer') {
      if (!memoryPlaced) {
        messages.push({ role: 'system', content: `${text}\n\n${memoryText}` });
        memoryPlaced = true;
      } else {
        messages.push({ role: 'system', content: text });
      }
    } else if (text !== '') {
      messages.push({ role: item.role, content: text });
    }
  }
  if (!memoryPlaced) messages.unshift({ role: 'system', content: memoryText });
  return messages;
}

/**
 * Streams reply text as the model produces it, so TTS can start on the first sentence. Returns how the stream
 * ended: only `finish_reason: "stop"` is a complete reply; `length` and `content_filter` cut it, and a stream that
 * ends without any finish_reason was cut on the way (the SDK ends its iteration quietly when the body just stops).
 */
export async function* streamChatReply(
  client: OpenAI,
  model: string,
  messages: ChatCompletionMessageParam[],
  signal: AbortSignal,
): AsyncGenerator<string, StreamEnd> {
  const stream = await client.chat.completions.create({ model, messages, stream: true }, { signal });
  let finishReason: string | undefined;
  for await (const chunk of stream) {
    const choice = chunk.choices[0];
    const delta = choice?.delta?.content;
    if (delta) yield delta;
    if (choice?.finish_reason) finishReason = choice.finish_reason;
  }
  if (signal.aborted) return { complete: false, reason: 'aborted' };
  if (finishReason === undefined) return { complete: false, reason: 'stream ended without finish_reason' };
  return finishReason === 'stop' ? { complete: true } : { complete: false, reason: `finish_reason ${finishReason}` };
}
