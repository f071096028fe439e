import type Letta from '@letta-ai/letta-client';
import type { LettaStreamingResponse } from '@letta-ai/letta-client/resources/agents/messages';
import type { StreamEnd } from '../replies/source-stream.js';
import { describeLettaError, LettaAccessError } from './errors.js';

export interface LettaReplyOptions {
  client: Letta;
  agentId: string;
  baseURL: string;
  userText: string;
  /** Idempotency key of the user message, so a retried request is not stored twice. */
  otid: string;
  signal?: AbortSignal;
  /** Called with the run id as soon as the stream names it (Letta's first ping carries it), so the run can be cancelled. */
  onRunId?: (runId: string) => void;
}

const FAILED_STOPS: ReadonlySet<string> = new Set(['error', 'llm_api_error', 'invalid_llm_response']);
/** The one stop reason of a reply that ended as the agent meant it to (others: max_steps, cancelled, …). */
const COMPLETE_STOP = 'end_turn';

/**
 * The full Letta path: Letta runs its agent loop and streams the reply. Only `assistant_message` content is
 * speech; reasoning, tool calls and returns, pings, stop reasons and usage are skipped. Works whether the
 * server streams tokens (many chunks per message id) or whole messages (one chunk per message).
 */
export async function* streamLettaReply(options: LettaReplyOptions): AsyncGenerator<string, StreamEnd> {
  const { client, agentId, baseURL, userText, otid, signal, onRunId } = options;
  let events: AsyncIterable<LettaStreamingResponse>;
  try {
    events = await client.agents.messages.create(
      agentId,
      { messages: [{ role: 'user', content: userText, otid }], streaming: true, stream_tokens: true, include_pings: true },
      { signal },
    );
  } catch (err) {
    throw describeLettaError(`stream a reply from agent ${agentId}`, baseURL, err);
  }

  let currentMessageId: string | undefined;
  let lastText = '';
  let runId: string | undefined;
  let stopReason: string | undefined;
  try {
    for await (const event of events) {
      if (runId === undefined && 'run_id' in event && typeof event.run_id === 'string') {
        runId = event.run_id;
        onRunId?.(runId);
      }
      if (event.message_type === 'error_message') {
        throw new LettaAccessError(`stream a reply from agent ${agentId}`, 'server_error', `${event.error_type}: ${event.message}`);
      }
      if (event.message_type === 'stop_reason' && FAILED_STOPS.has(event.stop_reason)) {
        throw new LettaAccessError(`stream a reply from agent ${agentId}`, 'server_error', `the agent stopped with ${event.stop_reason}`);
      }
      if (event.message_type === 'stop_reason') stopReason = event.stop_reason;
      if (event.message_type !== 'assistant_message') continue;
      const text = assistantText(event.content);
      if (!text) continue;
      // Separate consecutive assistant messages so their sentences do not run together. Token chunks of one message
      // share id and otid; a step's messages share the id but not the otid (letta 0.16.8,
      // letta/interfaces/openai_streaming_interface.py: the otid index moves on when the message type changes).
      const messageKey = `${event.id}/${event.otid ?? ''}`;
      if (currentMessageId !== undefined && messageKey !== currentMessageId && lastText && !/\s$/.test(lastText) && !/^\s/.test(text)) {
        yield ' ';
      }
      currentMessageId = messageKey;
      lastText = text;
      yield text;
    }
  } catch (err) {
    if (err instanceof LettaAccessError) throw err;
    throw describeLettaError(`stream a reply from agent ${agentId}`, baseURL, err);
  }
  // The SDK ends the iteration quietly both on abort and when the body ends without [DONE].
  if (signal?.aborted) return { complete: false, reason: 'aborted' };
  if (stopReason === undefined) return { complete: false, reason: 'stream ended without stop_reason' };
  return stopReason === COMPLETE_STOP ? { complete: true } : { complete: false, reason: `stop_reason ${stopReason}` };
}

function assistantText(content: string | ReadonlyArray<{ type?: string; text?: string }>): string {
  if (typeof content === 'string') return content;
  return content.map((part) => (typeof part.text === 'string' ? part.text : '')).join('');
}
