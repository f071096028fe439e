import type Letta from '@letta-ai/letta-client';
import type { Config } from '../config.js';
import type { WriteOutcome } from '../memory/turn-writer.js';
import { onceLettaAgent, type ResolvedAgent } from './agent-bootstrap.js';
import { MemoryBlockCache, type MemoryBlock } from './memory-blocks.js';

export interface AgentMemoryLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface LettaAgentMemoryOptions {
  client: Letta;
  letta: Config['letta'];
  logger: AgentMemoryLogger;
  /** Which agent this memory belongs to; default: the deployment's shared agent (LETTA_AGENT_ID / LETTA_AGENT_NAME). */
  resolveAgent?: () => Promise<ResolvedAgent>;
  /** Delay between background attempts to reach Letta after it was down. */
  retryDelayMs?: number;
  /** Acknowledged writes within this window share one core-memory read. Default 250 ms. */
  refreshCoalesceMs?: number;
}

/** How turns are written to Letta (MEMORY_WRITE_STRATEGY): only the agent's own step can edit core memory. */
export type MemoryWriteStrategy = 'agent' | 'archival';

/**
 * The process's view of its Letta agent: which agent it is and its core memory as last known.
 * Letta being down never blocks a call: the agent is resolved in the background until it answers,
 * and turns wait (in the memory queue's hands, see `whenAgent`) rather than being dropped.
 */
export class LettaAgentMemory {
  private readonly resolveAgent: () => Promise<{ id: string; name: string; created: boolean }>;
  private cache: MemoryBlockCache | undefined;
  private currentAgentId: string | undefined;
  private resolved: Promise<string>;
  private settleResolved!: (agentId: string) => void;
  private retryTimer: NodeJS.Timeout | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly options: LettaAgentMemoryOptions) {
    this.resolveAgent = options.resolveAgent ?? onceLettaAgent(options.client, options.letta);
    this.resolved = new Promise((resolve) => (this.settleResolved = resolve));
  }

  /** Undefined until Letta has answered once. */
  get agentId(): string | undefined {
    return this.currentAgentId;
  }

  get blocks(): readonly MemoryBlock[] {
    return this.cache?.current ?? [];
  }

  /** Resolves with the agent id once Letta has been reached (immediately if it already was). */
  whenAgent(): Promise<string> {
    return this.resolved;
  }

  /**
   * Called at session start: resolves the agent (first time) and reads its core memory, within `timeoutMs`.
   * Returns false when Letta could not be reached in time; the call then runs without memory context and
   * a background loop keeps trying.
   */
  async refreshAtSessionStart(timeoutMs: number): Promise<boolean> {
    const attempt = this.connectOnce();
    const timedOut = new Promise<'timeout'>((resolve) => setTimeout(resolve, timeoutMs, 'timeout').unref());
    const outcome = await Promise.race([attempt.then(() => 'ok' as const, (err: unknown) => err as Error), timedOut]);
    if (outcome === 'ok') return true;
    const reason = outcome === 'timeout' ? `no answer within ${timeoutMs} ms` : outcome.message;
    this.options.logger.warn(
      { lettaBaseUrl: this.options.letta.baseURL, reason, knownBlocks: this.blocks.length },
      this.blocks.length > 0
        ? 'Letta unavailable at session start: using the core memory read earlier; writes stay queued'
        : 'Letta unavailable at session start: replying without memory context; writes stay queued until it returns',
    );
    this.retryInBackground();
    return false;
  }

  /** Re-reads core memory without waiting. */
  refreshInBackground(): void {
    this.cache?.refreshInBackground();
  }

  /**
   * Letta acknowledged written turns. Core memory can only have changed if the agent itself processed them (agent
   * strategy) and its step called a tool that may edit blocks (the writer reads that off Letta's answer; when it
   * cannot tell, it may have). Archival inserts never touch it. Acknowledgements that arrive close together (a batch
   * drained after Letta was down, several lanes) share one read.
   */
  afterWritesAcknowledged(strategy: MemoryWriteStrategy, outcome: WriteOutcome = {}): void {
    if (strategy !== 'agent' || outcome.coreMemoryMayHaveChanged === false || this.refreshTimer || this.closed) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = undefined;
      this.refreshInBackground();
    }, this.options.refreshCoalesceMs ?? 250);
    this.refreshTimer.unref();
  }

  /** Resolves when no refresh is scheduled or running (tests and shutdown). */
  async settled(): Promise<void> {
    while (this.refreshTimer) await new Promise((resolve) => setTimeout(resolve, 10));
    await this.cache?.settled();
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
  }

  private async connectOnce(): Promise<void> {
    const agent = await this.resolveAgent();
    if (!this.cache) {
      this.currentAgentId = agent.id;
      this.cache = new MemoryBlockCache({
        client: this.options.client,
        agentId: agent.id,
        baseURL: this.options.letta.baseURL,
        onRefreshError: (err) => this.options.logger.warn({ err: err.message }, 'core memory refresh failed; keeping the last known blocks'),
      });
      this.options.logger.info({ lettaAgentId: agent.id, lettaAgentName: agent.name, created: agent.created }, 'Letta agent ready');
      this.settleResolved(agent.id);
    }
    await this.cache.load();
  }

  private retryInBackground(): void {
    if (this.retryTimer || this.closed) return;
    const delay = this.options.retryDelayMs ?? 5_000;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.connectOnce().then(
        () => this.options.logger.info({ blocks: this.blocks.length }, 'Letta reachable again: core memory loaded'),
        () => this.retryInBackground(),
      );
    }, delay);
    this.retryTimer.unref();
  }
}
