import type Letta from '@letta-ai/letta-client';
import type { Message } from '@letta-ai/letta-client/resources/agents/messages';
import { describeLettaError } from '../letta/errors.js';
import type { MemoryBlock } from '../letta/memory-blocks.js';
import { WRITE_BEHIND_NOTE } from '../memory/letta-turn-writer.js';

export interface RecentLine {
  role: 'user' | 'assistant';
  text: string;
}

/** The label under which earlier calls appear in the fast path's prompt (rendered like a core-memory block). */
export const RECENT_CONVERSATION_LABEL = 'recent_conversation';
/** Listed history also holds reasoning, tool calls and notes: read a few times more than we keep. */
const READ_FACTOR = 4;
/** The agent's one-word answer to a write-behind note is bookkeeping, not conversation. */
const NOTED = /^\s*noted[.!]?\s*$/i;
const NOTE_PREFIX = WRITE_BEHIND_NOTE.slice(0, WRITE_BEHIND_NOTE.indexOf(']') + 1);

/**
 * The caller's last `limit` spoken lines from earlier calls, oldest first, read from their agent's history, so "what
 * did we talk about last time?" works before Letta has put anything in core memory. Write-behind notes and the
 * agent's "noted" replies to them are left out.
 */
export async function loadRecentConversation(client: Letta, agentId: string, limit: number, baseURL: string): Promise<RecentLine[]> {
  if (limit <= 0) return [];
  let items: Message[];
  try {
    const page = await client.agents.messages.list(agentId, { limit: Math.min(100, limit * READ_FACTOR), order: 'desc' });
    items = page.items;
  } catch (err) {
    throw describeLettaError(`read recent messages of agent ${agentId}`, baseURL, err);
  }
  const lines: RecentLine[] = [];
  // Chronologically: after a write-behind note the agent's answer is bookkeeping nobody heard, until the next user line.
  let answeringNote = false;
  for (const message of [...items].reverse()) {
    const text = 'content' in message ? textOf(message.content).trim() : '';
    if (text.startsWith(NOTE_PREFIX)) {
      answeringNote = true;
      continue;
    }
    if (message.message_type === 'user_message') answeringNote = false;
    if (message.message_type !== 'user_message' && message.message_type !== 'assistant_message') continue;
    if (text === '' || (message.message_type === 'assistant_message' && (answeringNote || NOTED.test(text)))) continue;
    lines.push({ role: message.message_type === 'user_message' ? 'user' : 'assistant', text });
  }
  return lines.slice(-limit);
}

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((part: unknown) => (typeof part === 'object' && part !== null && 'text' in part && typeof part.text === 'string' ? part.text : ''))
    .join('');
}

/** Earlier calls as a prompt section next to core memory; none when there is nothing to recall. */
export function recentConversationBlock(lines: readonly RecentLine[]): MemoryBlock | undefined {
  if (lines.length === 0) return undefined;
  const body = lines.map((l) => `${l.role === 'user' ? 'Caller' : 'You'}: ${l.text}`).join('\n');
  return { label: RECENT_CONVERSATION_LABEL, value: `The end of your previous conversation with this caller (earlier calls):\n${body}` };
}
