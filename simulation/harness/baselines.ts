// Agents the benchmarks compare the worker against. Each runs in the same AgentSession wiring as the worker
// (same VAD, STT, TTS and turn handling); only where the reply text comes from differs.
import { ReadableStream } from 'node:stream/web';
import type Letta from '@letta-ai/letta-client';
import { voice, type llm, type tts } from '@livekit/agents';
import * as cartesia from '@livekit/agents-plugin-cartesia';
import * as deepgram from '@livekit/agents-plugin-deepgram';
import * as openai from '@livekit/agents-plugin-openai';
import { DEFAULT_INSTRUCTIONS } from '../../src/agent.js';
import type { Config } from '../../src/config.js';

/** Text of the newest user message in the chat context. */
export function lastUserText(chatCtx: llm.ChatContext): string | undefined {
  for (let i = chatCtx.items.length - 1; i >= 0; i--) {
    const item = chatCtx.items[i];
    if (item?.type === 'message' && item.role === 'user' && item.textContent) return item.textContent;
  }
  return undefined;
}

export interface BlockingLettaAgentOptions {
  client: Letta;
  /** The Letta agent id (resolved by the worker's services at session start). */
  agentId: () => string | undefined;
  instructions?: string;
  /** Called with request start → reply text available, for the benchmark's own bookkeeping. */
  onReply?: (ms: number) => void;
}

/**
 * The seeds' original design: send the user's words to Letta, wait for its whole (non-streaming) answer, then
 * speak it. Every spoken word waits for Letta's complete agent loop, memory edits included.
 */
export class BlockingLettaAgent extends voice.Agent {
  readonly #options: BlockingLettaAgentOptions;

  constructor(options: BlockingLettaAgentOptions) {
    super({ instructions: options.instructions ?? DEFAULT_INSTRUCTIONS });
    this.#options = options;
  }

  override async llmNode(chatCtx: llm.ChatContext): Promise<ReadableStream<string>> {
    const { client, agentId, onReply } = this.#options;
    const id = agentId();
    const userText = lastUserText(chatCtx);
    if (!id || !userText) throw new Error('blocking Letta baseline: no Letta agent or no user message');
    const started = performance.now();
    const response = await client.agents.messages.create(id, { messages: [{ role: 'user', content: userText }] });
    const text = response.messages
      .flatMap((m) => (m.message_type === 'assistant_message' ? [assistantText(m.content)] : []))
      .join(' ')
      .trim();
    onReply?.(performance.now() - started);
    return new ReadableStream<string>({
      start(controller) {
        if (text) controller.enqueue(text);
        controller.close();
      },
    });
  }
}

function assistantText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((part: unknown) => (part && typeof part === 'object' && 'text' in part && typeof part.text === 'string' ? part.text : '')).join('');
}

/**
 * A stock LiveKit pipeline LLM: the OpenAI plugin on the same endpoint and model as the worker's fast path, with
 * its own client (as a project without our wiring would build it). Used with a plain `voice.Agent`.
 */
export function createStockLlm(config: Config): openai.LLM {
  return new openai.LLM({ model: config.openai.model, baseURL: config.openai.baseURL, apiKey: config.openai.apiKey });
}

/** A plain agent: no memory, no custom llmNode; the session's LLM answers. */
export function createStockAgent(instructions = DEFAULT_INSTRUCTIONS): voice.Agent {
  return new voice.Agent({ instructions });
}

/**
 * The stock TTS plugin as a project without our wiring would build it from the same settings: no first-clause flush
 * (src/tts/first-clause-tts.ts) and no fallback wrapper, so the plugin's own sentence tokenizer decides what to send.
 */
/** The Deepgram plugin with its own defaults (100 ms audio chunks), on the same endpoint and model as the worker. */
export function createStockStt(config: Config): deepgram.STT {
  const { apiKey, baseUrl, model } = config.deepgram;
  return new deepgram.STT({ apiKey, model, ...(baseUrl ? { baseUrl } : {}) });
}

export function createStockTts(config: Config): tts.TTS {
  const s = config.tts;
  if (s.provider === 'cartesia') {
    return new cartesia.TTS({ apiKey: s.apiKey, model: s.model, ...(s.voice ? { voice: s.voice } : {}), ...(s.baseUrl ? { baseUrl: s.baseUrl } : {}) });
  }
  return new openai.TTS({ apiKey: s.apiKey, baseURL: s.baseURL, model: s.model, voice: s.voice as openai.TTSVoices });
}
