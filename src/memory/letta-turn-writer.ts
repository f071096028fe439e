import { APIError } from '@letta-ai/letta-client';
import type Letta from '@letta-ai/letta-client';
import { classifyLettaError } from './letta-errors.js';
import { formatTurnTranscript } from './transcript.js';
import type { PendingTurn } from './turn.js';
import type { TurnWriter } from './turn-writer.js';

export type WriteStrategy = 'agent' | 'archival';

export type LettaTurnWriterOptions = {
  strategy: WriteStrategy;
  /** Per-request timeout; a timed-out write is retried with the same otid. */
  requestTimeoutMs?: number;
};

export const ARCHIVAL_TAG = 'voice-turn';
export const turnTag = (turn: PendingTurn): string => `turn:${turn.id}`;
/** Also in the passage text, so a plain text search can find the turn where tags are not searchable. */
export const turnMarker = (turn: PendingTurn): string => `[${turn.id}]`;

/**
 * Writes turns to a Letta agent.
 * 'agent': the turns become user messages so the agent itself decides what to remember
 *   (one LLM step per batch; Letta dedupes by otid).
 * 'archival': one archival passage per turn, no LLM step; tagged with the turn id so a
 *   retry can see that an earlier attempt already landed.
 */
export class LettaTurnWriter implements TurnWriter {
  private readonly requestTimeoutMs: number | undefined;
  private tagSearchSupported = true;

  constructor(
    private readonly client: Letta,
    private readonly options: LettaTurnWriterOptions,
  ) {
    this.requestTimeoutMs = options.requestTimeoutMs;
  }

  get strategy(): WriteStrategy {
    return this.options.strategy;
  }

  async write(agentId: string, turns: readonly PendingTurn[], signal: AbortSignal): Promise<void> {
    if (turns.length === 0) return;
    try {
      if (this.options.strategy === 'agent') await this.sendAsMessages(agentId, turns, signal);
      else await this.storeAsPassages(agentId, turns, signal);
    } catch (error) {
      throw classifyLettaError(error);
    }
  }

  private requestOptions(signal: AbortSignal) {
    return { signal, maxRetries: 0, ...(this.requestTimeoutMs === undefined ? {} : { timeout: this.requestTimeoutMs }) };
  }

  private async sendAsMessages(agentId: string, turns: readonly PendingTurn[], signal: AbortSignal): Promise<void> {
    await this.client.agents.messages.create(
      agentId,
      {
        messages: turns.map((turn) => ({ role: 'user' as const, content: formatTurnTranscript(turn), otid: turn.otid })),
      },
      this.requestOptions(signal),
    );
  }

  private async storeAsPassages(agentId: string, turns: readonly PendingTurn[], signal: AbortSignal): Promise<void> {
    for (const turn of turns) {
      // Only a turn that may have been sent before can already exist; skip the lookup otherwise.
      if (turn.attempts > 0 && (await this.passageExists(agentId, turn, signal))) continue;
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
   * route (older builds, the local test server) answer 404/405; then list with a text search
   * and check the tag ourselves.
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
