import type Letta from '@letta-ai/letta-client';
import { describeLettaError } from './errors.js';

export interface MemoryBlock {
  label: string;
  value: string;
}

export interface MemoryBlockCacheOptions {
  client: Letta;
  agentId: string;
  baseURL: string;
  /** Called when a background refresh fails; the previous blocks stay in use. */
  onRefreshError?: (err: Error) => void;
}

/**
 * The Letta agent's core memory as last known. The fast path reads it synchronously on every turn;
 * it is fetched at session start and refreshed in the background after writes, never awaited per turn.
 */
export class MemoryBlockCache {
  private blocks: readonly MemoryBlock[] = [];
  private inFlight: Promise<void> | undefined;
  private refreshAgain = false;

  constructor(private readonly options: MemoryBlockCacheOptions) {}

  get current(): readonly MemoryBlock[] {
    return this.blocks;
  }

  /** Fetches the blocks now; rejects with a LettaAccessError so session start can log why memory is missing. */
  async load(): Promise<readonly MemoryBlock[]> {
    const { client, agentId, baseURL } = this.options;
    try {
      const page = await client.agents.blocks.list(agentId);
      this.blocks = page.items
        .filter((b) => typeof b.label === 'string' && b.label.length > 0)
        .map((b) => ({ label: b.label as string, value: b.value }));
      return this.blocks;
    } catch (err) {
      throw describeLettaError(`read core memory of agent ${agentId}`, baseURL, err);
    }
  }

  /**
   * Schedules a background refresh. Requests that arrive while one is running coalesce into a single
   * follow-up, so a burst of acknowledged writes costs at most two reads.
   */
  refreshInBackground(): void {
    if (this.inFlight) {
      this.refreshAgain = true;
      return;
    }
    this.inFlight = this.load()
      .then(
        () => undefined,
        (err: unknown) => this.options.onRefreshError?.(err as Error),
      )
      .finally(() => {
        this.inFlight = undefined;
        if (this.refreshAgain) {
          this.refreshAgain = false;
          this.refreshInBackground();
        }
      });
  }

  /** Resolves when no refresh is running (tests and shutdown). */
  async settled(): Promise<void> {
    while (this.inFlight) await this.inFlight;
  }
}

/** Renders core memory for the system prompt, in the block order Letta returns. */
export function renderMemoryBlocks(blocks: readonly MemoryBlock[]): string {
  if (blocks.length === 0) return '';
  const sections = blocks.map((b) => `<${b.label}>\n${b.value.trim()}\n</${b.label}>`);
  return `<memory_blocks>\nThe following is your long-term core memory about yourself and the person you are talking to.\n${sections.join('\n')}\n</memory_blocks>`;
}
