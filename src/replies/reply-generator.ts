import { randomUUID } from 'node:crypto';
import type OpenAI from 'openai';
import type Letta from '@letta-ai/letta-client';
import type { llm } from '@livekit/agents';
import { buildChatMessages, streamChatReply } from '../fast-path/openai-chat.js';
import { streamLettaReply } from '../letta/letta-reply.js';
import type { MemoryBlock } from '../letta/memory-blocks.js';
import { isBlankUtterance } from './blank-turn.js';
import { guardSourceStream, type GuardedEnd, type SourceStream, type StreamDeadlines } from './source-stream.js';

export type ReplyMode = 'hybrid' | 'letta';
/** Which backend produced the words the user heard; 'none' for a blank turn that gets no reply. */
export type ReplySource = 'openai' | 'letta' | 'apology' | 'none';
/**
 * How the reply ended: as its source meant it to, cut by the caller (interrupted), by a silent source (stalled),
 * by the source itself (cut: no finish/stop reason, `length`, `content_filter`, a dropped stream), or not started
 * because the user's turn was blank.
 */
export type ReplyEnd = 'complete' | 'interrupted' | 'stalled' | 'cut' | 'blank';

export const APOLOGY = "Sorry, I'm having trouble answering right now. Please try again in a moment.";

export interface ReplyTiming {
  mode: ReplyMode;
  source: ReplySource;
  /** Request start to first text chunk, undefined if nothing was produced. */
  ttftMs?: number;
  totalMs: number;
  /** Why earlier sources in the chain were skipped, e.g. "openai: 503 ...". */
  failures: string[];
  end: ReplyEnd;
  /** Why the reply did not end complete, e.g. "finish_reason length". */
  endReason?: string;
}

export interface ReplyDeadlines {
  /** Fast path: request to first speakable text. */
  fastPathFirstWordMs: number;
  /** Letta: from asking for the agent (including waiting out a write or a stopping run) to first speakable text. */
  lettaFirstWordMs: number;
  /** Either source: longest silence once text has started. */
  stallMs: number;
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
    /** Cancels a run whose reply was abandoned and resolves once it stopped (or a bound passed). */
    stopRun: (agentId: string, runId: string) => Promise<unknown>;
  };
  /** Core memory as last known; read synchronously, never fetched here. */
  memory: () => readonly MemoryBlock[];
  deadlines: ReplyDeadlines;
}

export interface ReplyRequest {
  mode: ReplyMode;
  chatCtx: llm.ChatContext;
  signal: AbortSignal;
  onDone?: (timing: ReplyTiming) => void;
}

type SourceOpener = (signal: AbortSignal) => SourceStream;

/**
 * Produces one reply as a text stream. Hybrid tries the fast path, then Letta; Letta mode the reverse. A source
 * that fails, or gives no speakable text within its first-word deadline, hands over to the next; if all fail the
 * user hears a short apology, at most the sum of the first-word deadlines after the request. Once text has been
 * spoken, a failure or a stall just ends the reply: switching sources mid-sentence would be worse.
 */
export async function* generateReply(request: ReplyRequest, deps: ReplyDependencies): AsyncGenerator<string> {
  const started = performance.now();
  const timing: ReplyTiming = { mode: request.mode, source: 'apology', totalMs: 0, failures: [], end: 'complete' };
  const { deadlines } = deps;
  const chain: Array<[Exclude<ReplySource, 'apology' | 'none'>, SourceOpener, StreamDeadlines]> = [
    ['openai', (signal) => fastPath(request.chatCtx, deps, signal), { firstTextMs: deadlines.fastPathFirstWordMs, stallMs: deadlines.stallMs }],
    ['letta', (signal) => lettaPath(request.chatCtx, deps, signal), { firstTextMs: deadlines.lettaFirstWordMs, stallMs: deadlines.stallMs }],
  ];
  if (request.mode === 'letta') chain.reverse();

  try {
    if (lastMessageIsBlankUser(request.chatCtx)) {
      timing.source = 'none';
      timing.end = 'blank';
      return;
    }
    for (const [source, open, sourceDeadlines] of chain) {
      let produced = false;
      try {
        const stream = guardSourceStream(open, request.signal, sourceDeadlines);
        let next: IteratorResult<string, GuardedEnd> | undefined;
        try {
          for (next = await stream.next(); !next.done; next = await stream.next()) {
            if (!produced) {
              produced = true;
              timing.source = source;
              timing.ttftMs = performance.now() - started;
            }
            yield next.value;
          }
        } finally {
          // The consumer stopped reading mid-reply (interruption): close the source and its request.
          if (next?.done !== true) void stream.return({ complete: false, reason: 'abandoned' }).catch(() => undefined);
        }
        if (request.signal.aborted) return markInterrupted(timing, produced);
        if (produced) return markEnd(timing, next.value);
        timing.failures.push(`${source}: ${next.value.complete ? 'empty reply' : `no text (${next.value.reason})`}`);
      } catch (err) {
        if (request.signal.aborted) return markInterrupted(timing, produced);
        const reason = err instanceof Error ? err.message : String(err);
        if (produced) {
          timing.failures.push(`${source}: ${reason} (after partial reply)`);
          timing.end = 'cut';
          timing.endReason = reason;
          return;
        }
        timing.failures.push(`${source}: ${reason}`);
      }
    }
    if (request.signal.aborted) return markInterrupted(timing, false);
    timing.source = 'apology';
    timing.ttftMs = performance.now() - started;
    yield APOLOGY;
  } finally {
    timing.totalMs = performance.now() - started;
    request.onDone?.(timing);
  }
}

function markEnd(timing: ReplyTiming, end: GuardedEnd): void {
  if (end.complete) return;
  timing.end = 'stalled' in end ? 'stalled' : 'cut';
  timing.endReason = end.reason;
}

function markInterrupted(timing: ReplyTiming, produced: boolean): void {
  timing.end = 'interrupted';
  if (!produced) timing.source = 'none';
}

function fastPath(chatCtx: llm.ChatContext, deps: ReplyDependencies, signal: AbortSignal): SourceStream {
  return streamChatReply(deps.chat.client, deps.chat.model, buildChatMessages(chatCtx, deps.memory()), signal);
}

async function* lettaPath(chatCtx: llm.ChatContext, deps: ReplyDependencies, signal: AbortSignal): SourceStream {
  const agentId = deps.letta.agentId();
  if (!agentId) throw new Error('Letta agent unavailable (Letta was unreachable at session start)');
  const userText = lastUserText(chatCtx);
  if (!userText) throw new Error('no user message to send to Letta');
  // Letta gives undefined results for concurrent requests to one agent: wait out any memory write or stopping run.
  const release = await deps.letta.acquireAgent(agentId);
  if (signal.aborted) {
    release();
    return { complete: false, reason: 'aborted while waiting for the Letta agent' };
  }
  let runId: string | undefined;
  let finished = false;
  try {
    const end = yield* streamLettaReply({
      client: deps.letta.client,
      agentId,
      baseURL: deps.letta.baseURL,
      userText,
      otid: randomUUID(),
      signal,
      onRunId: (id) => (runId = id),
    });
    finished = end.complete;
    return end;
  } finally {
    // A run whose stream was left before Letta ended it goes on on the server: stop it, and keep the agent
    // (replies and memory writes alike) until it has stopped or the bound passed.
    if (!finished && runId !== undefined) void deps.letta.stopRun(agentId, runId).finally(release);
    else release();
  }
}

function lastUserText(chatCtx: llm.ChatContext): string | undefined {
  for (let i = chatCtx.items.length - 1; i >= 0; i--) {
    const item = chatCtx.items[i];
    if (item?.type === 'message' && item.role === 'user' && item.textContent) return item.textContent;
  }
  return undefined;
}

/** The reply answers a user message that has nothing in it (the greeting and other instructions-only replies do not). */
function lastMessageIsBlankUser(chatCtx: llm.ChatContext): boolean {
  for (let i = chatCtx.items.length - 1; i >= 0; i--) {
    const item = chatCtx.items[i];
    if (item?.type !== 'message') continue;
    if (item.role === 'system' || item.role === 'developer') continue;
    return item.role === 'user' && isBlankUtterance(item.textContent ?? '');
  }
  return false;
}
