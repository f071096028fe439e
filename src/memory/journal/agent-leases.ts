import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DataDirLock, DataDirLockedError } from './data-dir-lock.js';

const POLL_MS = 15;

/**
 * Cross-process "one request per agent at a time": every job process writing to, or replying
 * through, the same Letta agent takes this file lease first. A lease of a dead process is
 * taken over, so a crash never blocks an agent.
 */
export class AgentLeases {
  private readonly created = new Set<string>();

  constructor(private readonly dir: string) {}

  async acquire(agentId: string, signal?: AbortSignal): Promise<() => Promise<void>> {
    const dir = join(this.dir, createHash('sha256').update(agentId).digest('hex').slice(0, 32));
    if (!this.created.has(dir)) {
      await mkdir(dir, { recursive: true });
      this.created.add(dir);
    }
    for (;;) {
      signal?.throwIfAborted();
      try {
        const lock = await DataDirLock.acquire(dir, { durable: false });
        return () => lock.release();
      } catch (error) {
        if (!(error instanceof DataDirLockedError)) throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }
}
