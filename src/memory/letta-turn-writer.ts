import { APIError } from '@letta-ai/letta-client';
import type Letta from '@letta-ai/letta-client';
import { createHash } from 'node:crypto';
import { classifyLettaError } from './letta-errors.js';
import { TurnWriteError } from './turn-writer.js';
import { INTERRUPTED_NOTE, formatTurnTranscript } from './transcript.js';
import type { PendingTurn } from './turn.js';
import type { TurnWriter, WriteOutcome } from './turn-writer.js';

export type WriteStrategy = 'agent' | 'archival';

export type LettaTurnWriterOptions = {
  strategy: WriteStrategy;
  /** Per-request timeout; a write that timed out is checked against the server before anything is resent. */
  requestTimeoutMs?: number;
};

export const ARCHIVAL_TAG = 'voice-turn';
export const turnTag = (turn: PendingTurn): string => `turn:${turn.id}`;
/** Also in the passage text, so a plain text search can find the turn where tags are not searchable. */
export const turnMarker = (turn: PendingTurn): string => `[${turn.id}]`;

/**
 * Told to the agent after each write-behind batch: the exchange already happened, so its reply to this
 * request is never spoken; it should only keep what is worth remembering.
 */
export const WRITE_BEHIND_NOTE =
  '[voice call] The exchange above already happened on a live call: the user said the user lines and heard exactly the assistant lines. ' +
  'Nothing you write now is spoken to anyone. Save what is worth remembering with your memory tools, then answer with one word: noted.';

/** Text Letta accepts where a side said nothing (it rejects empty content with 400). */
const SILENCE = '(nothing)';

/**
 * The otid of the assistant half of a turn: a UUID derived from the turn's otid (stable across retries and
 * restarts, since only the turn's otid is journaled).
 */
export function assistantOtid(turn: Pick<PendingTurn, 'otid'>): string {
  const hex = createHash('sha256').update(`${turn.otid}:assistant`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${((Number.parseInt(hex[16], 16) & 0x3) | 0x8).toString(16)}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** Where a listed message's date is compared with our clock: server clocks drift, so look back a bit further. */
const CLOCK_SKEW_MS = 10 * 60_000;
/** Upper bound on how much history one exactly-once check reads (pages of 100). */
const MAX_HISTORY_PAGES = 20;
/**
 * An active run older than this is taken for one the server lost track of (a server that died mid-run leaves its
 * run "running" in the database) and does not hold writes back.
 */
const STALE_RUN_MS = 5 * 60_000;
/**
 * An active run at least this old while a batch that may have landed is being resent is taken for our own
 * abandoned attempt (its client gave up, the settle wait passed), not for a reply being spoken, and is cancelled
 * so the history can tell what landed. (Seen on letta 0.16.8: a request that stops making progress after its
 * last LLM call and stays "running".)
 */
const ABANDONED_RUN_MS = 60_000;

/**
 * Writes turns to a Letta agent, exactly once without relying on server de-duplication.
 *
 * 'agent': each turn becomes the user message (what the caller said, with the turn's otid) and the assistant
 *   message (what they heard) in the agent's history, followed by one system note; the agent then runs a step
 *   and decides what to keep with its memory tools. Letta 0.16.8 accepts role `assistant` in MessageCreate
 *   (letta/schemas/message.py MessageCreate.role; letta/helpers/message_helper.py stores it unwrapped).
 * 'archival': one archival passage per turn, no LLM step; tagged with the turn id.
 *
 * Retries: Letta does not drop a message whose otid it has seen on POST /v1/agents/{id}/messages (letta 0.16.8:
 * otid de-duplication exists only for background streaming with Redis, letta/services/streaming_service.py).
 * So before resending a batch that may have landed (any attempt after the first, and every replay after a
 * restart), the writer reads the agent's recent user messages (they keep the otid we sent) or searches the
 * passages by tag, and sends only the turns that are missing.
 */
export class LettaTurnWriter implements TurnWriter {
  private readonly requestTimeoutMs: number | undefined;
  private tagSearchSupported = true;
  private runListSupported = true;

  constructor(
    private readonly client: Letta,
    private readonly options: LettaTurnWriterOptions,
  ) {
    this.requestTimeoutMs = options.requestTimeoutMs;
  }

  get strategy(): WriteStrategy {
    return this.options.strategy;
  }

  async write(agentId: string, turns: readonly PendingTurn[], signal: AbortSignal): Promise<WriteOutcome> {
    if (turns.length === 0) return { coreMemoryMayHaveChanged: false };
    try {
      if (this.options.strategy === 'agent') return await this.sendAsMessages(agentId, turns, signal);
      await this.storeAsPassages(agentId, turns, signal);
      return { coreMemoryMayHaveChanged: false }; // archival inserts never touch blocks
    } catch (error) {
      throw classifyLettaError(error);
    }
  }

  private requestOptions(signal: AbortSignal) {
    return { signal, maxRetries: 0, ...(this.requestTimeoutMs === undefined ? {} : { timeout: this.requestTimeoutMs }) };
  }

  private async sendAsMessages(agentId: string, turns: readonly PendingTurn[], signal: AbortSignal): Promise<WriteOutcome> {
    let missing: readonly PendingTurn[] = turns;
    if (turns.some(mayHaveLanded)) {
      await this.notWhileARunIsActive(agentId, signal);
      missing = await this.turnsNotInHistory(agentId, turns, signal);
    }
    // Turns an earlier attempt delivered were processed by a step whose answer we never saw.
    const earlierStepUnseen = missing.length < turns.length;
    if (missing.length === 0) return { coreMemoryMayHaveChanged: true };
    const response = await this.client.agents.messages.create(agentId, { messages: writeBehindMessages(missing) }, this.requestOptions(signal));
    return { coreMemoryMayHaveChanged: earlierStepUnseen || mayHaveEditedBlocks(response.messages) };
  }

  /**
   * Letta stores a request's input messages only when its first step ends (letta 0.16.8,
   * letta/agents/letta_agent_v3.py), so while an earlier attempt still runs (for instance across a worker
   * restart, where the queue's settle wait does not reach) the history cannot tell. An active, recent run of the
   * agent makes this attempt wait like a busy answer would.
   */
  private async notWhileARunIsActive(agentId: string, signal: AbortSignal): Promise<void> {
    if (!this.runListSupported) return;
    let active: { id: string; created_at?: string }[];
    try {
      const page = await this.client.runs.list({ agent_id: agentId, active: true, limit: 10 }, this.requestOptions(signal));
      active = page.getPaginatedItems();
    } catch (error) {
      if (!(error instanceof APIError && (error.status === 404 || error.status === 405))) throw error;
      this.runListSupported = false;
      return;
    }
    const now = Date.now();
    const ageOf = (run: { created_at?: string }) => (run.created_at === undefined ? 0 : now - Date.parse(run.created_at));
    const running = active.filter((run) => ageOf(run) < STALE_RUN_MS);
    const abandoned = running.filter((run) => ageOf(run) >= ABANDONED_RUN_MS);
    if (abandoned.length > 0) {
      await this.client.agents.messages.cancel(agentId, { run_ids: abandoned.map((run) => run.id) }, this.requestOptions(signal));
    }
    if (running.length > 0) {
      throw new TurnWriteError(`Letta run ${running[0].id} of agent ${agentId} is still active; waiting before checking what landed`, {
        retryable: true,
        outcomeUnknown: true,
      });
    }
  }

  /** The turns whose user message (found by its otid) is not in the agent's history since they were queued. */
  private async turnsNotInHistory(agentId: string, turns: readonly PendingTurn[], signal: AbortSignal): Promise<PendingTurn[]> {
    const wanted = new Set(turns.map((turn) => turn.otid));
    const cutoff = Math.min(...turns.map((turn) => turn.enqueuedAt)) - CLOCK_SKEW_MS;
    let before: string | undefined;
    for (let page = 0; page < MAX_HISTORY_PAGES && wanted.size > 0; page++) {
      const listed = await this.client.agents.messages.list(
        agentId,
        { limit: 100, order: 'desc', include_return_message_types: ['user_message'], ...(before === undefined ? {} : { before }) },
        this.requestOptions(signal),
      );
      const items = listed.getPaginatedItems();
      for (const message of items) if (message.otid) wanted.delete(message.otid);
      const oldest = items[items.length - 1];
      if (oldest === undefined || !listed.hasNextPage() || Date.parse(oldest.date) < cutoff) break;
      before = oldest.id;
    }
    return turns.filter((turn) => wanted.has(turn.otid));
  }

  private async storeAsPassages(agentId: string, turns: readonly PendingTurn[], signal: AbortSignal): Promise<void> {
    for (const turn of turns) {
      if (mayHaveLanded(turn) && (await this.passageExists(agentId, turn, signal))) continue;
      await this.client.agents.passages.create(
        agentId,
        {
          text: `${formatTurnTranscript(turn)}\n${turnMarker(turn)}`,
          created_at: new Date(turn.userAt).toISOString(),
          tags: [ARCHIVAL_TAG, turnTag(turn), ...(turn.sessionId ? [`session:${turn.sessionId}`] : [])],
        },
        this.requestOptions(signal),
      );
    }
  }

  /**
   * Tag search is exact on Letta (hybrid search with a tag filter). Servers without the search
   * route (older builds) answer 404/405; then list with a text search and check the tag ourselves.
   */
  private async passageExists(agentId: string, turn: PendingTurn, signal: AbortSignal): Promise<boolean> {
    const tag = turnTag(turn);
    if (this.tagSearchSupported) {
      try {
        const found = await this.client.agents.passages.search(
          agentId,
          { query: turn.id, tags: [tag], tag_match_mode: 'all', top_k: 1 },
          this.requestOptions(signal),
        );
        return found.results.some((result) => result.tags?.includes(tag));
      } catch (error) {
        if (!(error instanceof APIError && (error.status === 404 || error.status === 405))) throw error;
        this.tagSearchSupported = false;
      }
    }
    const listed = await this.client.agents.passages.list(agentId, { search: turn.id, limit: 50 }, this.requestOptions(signal));
    return listed.some((passage) => passage.tags?.includes(tag) || passage.text.includes(turnMarker(turn)));
  }
}

/**
 * Tools of letta 0.16.8 that never edit the agent's memory blocks (letta/constants.py: BASE_TOOLS, BUILTIN_TOOLS
 * without run_code_with_tools, the read-only FILES_TOOLS, BASE_VOICE_SLEEPTIME_CHAT_TOOLS). Every other tool may:
 * the memory tools (BASE_MEMORY_TOOLS, _V2, _V3, BASE_SLEEPTIME_TOOLS), custom tools, tools that call tools.
 */
const TOOLS_THAT_LEAVE_BLOCKS_ALONE = new Set([
  'send_message',
  'conversation_search',
  'archival_memory_insert',
  'archival_memory_search',
  'run_code',
  'web_search',
  'fetch_webpage',
  'grep_files',
  'semantic_search_files',
  'search_memory',
]);

interface ToolCallLike {
  message_type?: string;
  tool_call?: { name?: string | null } | null;
  tool_calls?: unknown;
}

/**
 * Whether a step's messages show a tool call that may have edited core memory. A tool call whose name cannot be
 * read counts as one that may have.
 */
export function mayHaveEditedBlocks(messages: readonly ToolCallLike[]): boolean {
  for (const message of messages) {
    if (message.message_type !== 'tool_call_message' && message.message_type !== 'approval_request_message') continue;
    const calls = Array.isArray(message.tool_calls) && message.tool_calls.length > 0 ? (message.tool_calls as ToolCallLike['tool_call'][]) : [message.tool_call];
    if (calls.some((call) => !call?.name || !TOOLS_THAT_LEAVE_BLOCKS_ALONE.has(call.name))) return true;
  }
  return false;
}

/**
 * The queue counts an attempt before making it (memory-queue.ts) and a replayed turn starts at one
 * (journal-store.ts), so more than one attempt means an earlier request may have reached Letta.
 */
function mayHaveLanded(turn: PendingTurn): boolean {
  return turn.attempts > 1;
}

/** What caller said and heard, as the agent's history should show it, then the note that nothing is spoken. */
export function writeBehindMessages(turns: readonly PendingTurn[]) {
  const messages: { role: 'user' | 'assistant' | 'system'; content: string; otid?: string }[] = [];
  for (const turn of turns) {
    messages.push({ role: 'user', content: turn.userText.trim() || SILENCE, otid: turn.otid });
    const heard = turn.assistantText.trim() || SILENCE;
    messages.push({ role: 'assistant', content: turn.interrupted ? `${heard} ${INTERRUPTED_NOTE}` : heard, otid: assistantOtid(turn) });
  }
  messages.push({ role: 'system', content: WRITE_BEHIND_NOTE });
  return messages;
}
