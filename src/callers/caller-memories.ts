import type Letta from '@letta-ai/letta-client';
import type { Config } from '../config.js';
import { LettaAgentMemory, type AgentMemoryLogger } from '../letta/agent-memory.js';
import type { MemoryBlock } from '../letta/memory-blocks.js';
import type { CallMemory } from './call-memory.js';
import { ArchivalRecall } from './archival-recall.js';
import { CallerAgentDirectory } from './caller-agent.js';
import { loadRecentConversation, recentConversationBlock } from './recent-conversation.js';

export interface CallerMemoriesOptions {
  client: Letta;
  letta: Config['letta'];
  /** AGENT_NAME: the deployment every caller agent is tagged with. */
  appName: string;
  logger: AgentMemoryLogger;
  retryDelayMs?: number;
  /** RECALL_RECENT_MESSAGES: lines of earlier calls read at session start (0 = off). */
  recentMessages?: number;
  /** RECALL_SEARCH*: archival search with interim transcripts; off when undefined or disabled. */
  search?: { enabled: boolean; debounceMs: number; topK: number };
}

/** A search answer later than this is of no use even for the next turn's prompt. */
const SEARCH_TIMEOUT_MS = 5_000;

/**
 * One memory per caller identity in this process (LETTA_MEMORY_SCOPE=caller). Each wraps a LettaAgentMemory bound
 * to that caller's own agent, so block cache, agent id and the queue lane (keyed by agent id) are the caller's alone.
 */
export class CallerMemories {
  readonly directory: CallerAgentDirectory;
  private readonly byIdentity = new Map<string, CallerMemory>();

  constructor(private readonly options: CallerMemoriesOptions) {
    const { client, letta, appName, logger } = options;
    this.directory = new CallerAgentDirectory({ client, appName, baseURL: letta.baseURL, model: letta.model, embedding: letta.embedding, logger });
  }

  memoryFor(identity: string): CallerMemory {
    let memory = this.byIdentity.get(identity);
    if (!memory) {
      const { client, letta, logger, retryDelayMs } = this.options;
      const inner = new LettaAgentMemory({ client, letta, logger, retryDelayMs, resolveAgent: () => this.directory.resolve(identity) });
      const recent = (agentId: string) => loadRecentConversation(client, agentId, this.options.recentMessages ?? 0, letta.baseURL);
      const search = this.options.search;
      const archival = search?.enabled
        ? new ArchivalRecall({
            client,
            agentId: () => inner.agentId,
            debounceMs: search.debounceMs,
            topK: search.topK,
            timeoutMs: Math.min(SEARCH_TIMEOUT_MS, letta.timeoutMs),
            onError: (err) => logger.warn({ callerIdentity: identity, err: err.message }, 'archival search failed; the reply goes on without it'),
          })
        : undefined;
      memory = new CallerMemory(identity, inner, this.directory, logger, letta.timeoutMs, recent, archival);
      this.byIdentity.set(identity, memory);
    }
    return memory;
  }

  /** The memory whose agent is `agentId`, for routing write acknowledgements to the right block cache. */
  ofAgent(agentId: string): LettaAgentMemory | undefined {
    for (const memory of this.byIdentity.values()) if (memory.agentId === agentId) return memory.inner;
    return undefined;
  }

  close(): void {
    for (const memory of this.byIdentity.values()) memory.close();
  }
}

/**
 * A caller's memory. A returning caller's core memory is read within the session-start budget, as in shared scope.
 * A first-time caller has nothing to remember, so the call does not wait for their agent to be created: creation
 * runs while the call goes on (replies use empty memory until then) and turns wait for the id as they do whenever
 * Letta has not answered yet.
 */
export class CallerMemory implements CallMemory {
  private recall: MemoryBlock | undefined;
  /** The read of earlier calls, for tests and settled(). */
  private recallRead: Promise<void> = Promise.resolve();

  constructor(
    readonly identity: string,
    readonly inner: LettaAgentMemory,
    private readonly directory: CallerAgentDirectory,
    private readonly logger: AgentMemoryLogger,
    private readonly creationTimeoutMs: number,
    private readonly loadRecent: (agentId: string) => Promise<Awaited<ReturnType<typeof loadRecentConversation>>>,
    readonly archival?: ArchivalRecall,
  ) {}

  get agentId(): string | undefined {
    return this.inner.agentId;
  }

  /** Core memory, then what was said in earlier calls (once read), then archival matches that arrived in time. */
  get blocks(): readonly MemoryBlock[] {
    const extra = [this.recall, this.archival?.block].filter((b): b is MemoryBlock => b !== undefined);
    return extra.length === 0 ? this.inner.blocks : [...this.inner.blocks, ...extra];
  }

  onTranscript(text: string): void {
    this.archival?.onTranscript(text);
  }

  close(): void {
    this.archival?.close();
    this.inner.close();
  }

  whenAgent(): Promise<string> {
    return this.inner.whenAgent();
  }

  async refreshAtSessionStart(timeoutMs: number): Promise<boolean> {
    const started = performance.now();
    const lookup = await raceTimeout(this.directory.lookup(this.identity), timeoutMs);
    if (lookup.kind === 'done' && lookup.value === undefined) {
      this.logger.info({ callerIdentity: this.identity }, 'first call from this caller: creating their Letta agent while the call goes on');
      void this.inner.refreshAtSessionStart(this.creationTimeoutMs);
      return true;
    }
    const remainingMs = Math.max(0, timeoutMs - (performance.now() - started));
    // A returning caller: earlier calls are read next to core memory, within the same budget; an answer that comes
    // later still lands, for the turns after it.
    const recalled = lookup.kind === 'done' && lookup.value ? this.recallEarlierCalls(lookup.value.id, remainingMs) : Promise.resolve();
    // Found, failed or slow: the usual bounded read (it retries in the background when Letta does not answer).
    const [available] = await Promise.all([this.inner.refreshAtSessionStart(remainingMs), recalled]);
    return available;
  }

  /** Resolves once the earlier calls were read (or failed), or after `waitMs`. */
  private async recallEarlierCalls(agentId: string, waitMs: number): Promise<void> {
    const read = this.loadRecent(agentId).then(
      (lines) => {
        this.recall = recentConversationBlock(lines);
      },
      (err: unknown) => this.logger.warn({ callerIdentity: this.identity, err: (err as Error).message }, 'could not read earlier calls; replying with core memory only'),
    );
    this.recallRead = read;
    await raceTimeout(read, waitMs);
  }

  refreshInBackground(): void {
    this.inner.refreshInBackground();
  }

  async settled(): Promise<void> {
    await this.recallRead;
    await this.archival?.settled();
    await this.inner.settled();
  }
}

type Raced<T> = { kind: 'done'; value: T } | { kind: 'failed' } | { kind: 'timeout' };

async function raceTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<Raced<T>> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Raced<T>>((resolve) => (timer = setTimeout(resolve, timeoutMs, { kind: 'timeout' })));
  try {
    return await Promise.race([promise.then((value): Raced<T> => ({ kind: 'done', value }), (): Raced<T> => ({ kind: 'failed' })), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
