import type Letta from '@letta-ai/letta-client';
import type { MemoryBlock } from '../letta/memory-blocks.js';

export interface ArchivalRecallOptions {
  client: Letta;
  /** The caller's agent id, once known. */
  agentId: () => string | undefined;
  /** Quiet time after the last interim transcript before searching (RECALL_SEARCH_DEBOUNCE_MS). */
  debounceMs: number;
  /** A search slower than this is abandoned (RECALL_SEARCH_TIMEOUT_MS). */
  timeoutMs: number;
  topK: number;
  /** Interim transcripts shorter than this many characters are not worth a search. */
  minQueryChars?: number;
  onError?: (err: Error) => void;
}

export const ARCHIVAL_RECALL_LABEL = 'archival_recall';

/**
 * Searches the caller's archival memory (`agents.passages.search`) with what they are saying while they say it
 * (interim transcripts, debounced), and offers the best matches as a prompt section. Nothing ever waits for it: the
 * reply request reads whatever has arrived when it starts; a result that comes later is kept for the next turn and
 * replaced by the next search. So recall costs no voice-to-voice latency, only prompt tokens when it made it in time.
 */
export class ArchivalRecall {
  private timer: NodeJS.Timeout | undefined;
  private latestQuery = '';
  private matches: readonly string[] = [];
  private inFlight: AbortController | undefined;
  private searching: Promise<void> = Promise.resolve();
  private closed = false;
  /** Searches started / answered in time to be used (a later one replaces them) / failed, for reports and tests. */
  readonly counts = { started: 0, answered: 0, failed: 0 };

  constructor(private readonly options: ArchivalRecallOptions) {}

  /** The matches of the latest finished search, as a prompt section (undefined when there are none). */
  get block(): MemoryBlock | undefined {
    if (this.matches.length === 0) return undefined;
    return { label: ARCHIVAL_RECALL_LABEL, value: `Possibly relevant things you stored about this caller earlier:\n${this.matches.map((m) => `- ${m}`).join('\n')}` };
  }

  /** Feed every interim (and final) transcript of the caller's current utterance. */
  onTranscript(text: string): void {
    const query = text.trim();
    if (this.closed || query.length < (this.options.minQueryChars ?? 12) || query === this.latestQuery) return;
    this.latestQuery = query;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.search(query);
    }, this.options.debounceMs);
    this.timer.unref();
  }

  /** Resolves when no search is scheduled or running (tests). */
  async settled(): Promise<void> {
    while (this.timer) await new Promise((resolve) => setTimeout(resolve, 5));
    await this.searching;
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.inFlight?.abort();
  }

  private search(query: string): void {
    const agentId = this.options.agentId();
    if (!agentId) return;
    // Only the newest utterance matters: a search still running for an older one is dropped.
    this.inFlight?.abort();
    const controller = new AbortController();
    this.inFlight = controller;
    this.counts.started += 1;
    this.searching = this.options.client.agents.passages
      .search(agentId, { query, top_k: this.options.topK }, { signal: controller.signal, timeout: this.options.timeoutMs, maxRetries: 0 })
      .then(
        (answer) => {
          if (controller.signal.aborted) return;
          this.matches = answer.results.map((r) => r.content.trim()).filter((c) => c !== '');
          this.counts.answered += 1;
        },
        (err: unknown) => {
          if (controller.signal.aborted) return;
          this.counts.failed += 1;
          this.options.onError?.(err instanceof Error ? err : new Error(String(err)));
        },
      );
  }
}
