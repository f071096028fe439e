import { randomUUID } from 'node:crypto';
import type OpenAI from 'openai';
import type Letta from '@letta-ai/letta-client';
import type { llm } from '@livekit/agents';
import { buildChatMessages, streamChatReply } from '../fast-path/openai-chat.js';
import { streamLettaReply } from '../letta/letta-reply.js';
import type { MemoryBlock } from '../letta/memory-blocks.js';

export type ReplyMode = 'hybrid' | 'letta';
/** Which backend produced the words the user heard. */
export type ReplySource = 'openai' | 'letta' | 'apology';

export const APOLOGY = "Sorry, I'm having trouble answering right now. Please try again in a moment.";

export interface ReplyTiming {
  mode: ReplyMode;
  source: ReplySource;
  /** Request start to first text chunk, undefined if nothing was produced. */
  ttftMs?: number;
  totalMs: number;
  /** Why earlier sources in the chain were skipped, e.g. "openai: 503 ...". */
  failures: string[];
}

export interface ReplyDependencies {
  chat: { client: OpenAI; model: string };
  letta: {
    client: Letta;
    baseURL: string;
    /** Undefined while the Letta agent could not be resolved (Letta down at session start). */
    agentId: () => string | undefined;
    /** Holds off memory writes to the agent while Letta produces a reply; resolves to a release function. */
    acquireAgent: (agentId: string) => Promise<() => void>;
  };
  /** Core memory as last known; read synchronously, never fetched here. */
  memory: () => readonly MemoryBlock[];
}

export interface ReplyRequest {
  mode: ReplyMode;
  chatCtx: llm.ChatContext;
  signal: AbortSignal;
  onDone?: (timing: ReplyTiming) => void;
}

type SourceStream = (signal: AbortSignal) => AsyncGenerator<string>;

/**
 * Produces one reply as a text stream. Hybrid tries the fast path, then Letta; Letta mode the reverse. A source
 * that fails before its first chunk hands over to the next; if all fail the user hears a short apology.
 * Once text has been spoken, a failure just ends the reply: switching sources mid-sentence would be worse.
 */
export async function* generateReply(request: ReplyRequest, deps: ReplyDependencies): AsyncGenerator<string> {
  const started = performance.now();
  const timing: ReplyTiming = { mode: request.mode, source: 'apology', totalMs: 0, failures: [] };
  const chain: Array<[ReplySource, SourceStream]> = [
    ['openai', (signal) => fastPath(request.chatCtx, deps, signal)],
    ['letta', (signal) => lettaPath(request.chatCtx, deps, signal)],
  ];
  if (request.mode === 'letta') chain.reverse();

  try {
    for (const [source, open] of chain) {
      let produced = false;
      try {
        for await (const text of open(request.signal)) {
          if (!produced) {
            produced = true;
            timing.source = source;
            timing.ttftMs = performance.now() - started;
          }
          yield text;
        }
        if (produced) return;
        timing.failures.push(`${source}: empty reply`);
      } catch (err) {
        if (request.signal.aborted) return;
        const reason = `${source}: ${err instanceof Error ? err.message : String(err)}`;
        if (produced) {
          timing.failures.push(`${reason} (after partial reply)`);
          return;
        }
        timing.failures.push(reason);
      }
    }
    timing.source = 'apology';
    timing.ttftMs = performance.now() - started;
    yield APOLOGY;
  } finally {
    timing.totalMs = performance.now() - started;
    request.onDone?.(timing);
  }
}

function fastPath(chatCtx: llm.ChatContext, deps: ReplyDependencies, signal: AbortSignal): AsyncGenerator<string> {
  return streamChatReply(deps.chat.client, deps.chat.model, buildChatMessages(chatCtx, deps.memory()), signal);
}

async function* lettaPath(chatCtx: llm.ChatContext, deps: ReplyDependencies, signal: AbortSignal): AsyncGenerator<string> {
  const agentId = deps.letta.agentId();
  if (!agentId) throw new Error('Letta agent unavailable (Letta was unreachable at session start)');
  const userText = lastUserText(chatCtx);
  if (!userText) throw new Error('no user message to send to Letta');
  // Letta gives undefined results for concurrent requests to one agent: wait out any memory write in flight.
  const release = await deps.letta.acquireAgent(agentId);
  try {
    yield* streamLettaReply({ client: deps.letta.client, agentId, baseURL: deps.letta.baseURL, userText, otid: randomUUID(), signal });
  } finally {
    release();
  }
}

function lastUserText(chatCtx: llm.ChatContext): string | undefined {
  for (let i = chatCtx.items.length - 1; i >= 0; i--) {
    const item = chatCtx.items[i];
    if (item?.type === 'message' && item.role === 'user' && item.textContent) return item.textContent;
  }
  return undefined;
}
