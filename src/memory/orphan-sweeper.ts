import { inspectDataDir } from './journal/inspect-data-dir.js';
import type { MemoryLogger } from './logger.js';
import type { MemoryQueue } from './memory-queue.js';

export interface OrphanSweeperOptions {
  dataDir: string;
  /** Opens a journal-backed queue; opening adopts the turns of slots whose process is gone. */
  openQueue: () => Promise<MemoryQueue>;
  intervalMs: number;
  /** How long one sweep keeps delivering before it leaves the rest journaled for the next sweep. */
  deadlineMs: number;
  logger: MemoryLogger;
}

export interface OrphanSweeper {
  /** One sweep now; resolves with how many adopted turns were still undelivered at its end. */
  sweep(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Each call runs in its own job process, which exits after a bounded drain. Turns it could not deliver stay in its
 * journal slot; the long-lived worker process sweeps such slots so they reach Letta without waiting for the next call.
 */
export function startOrphanSweeper(options: OrphanSweeperOptions): OrphanSweeper {
  let running: Promise<number> | undefined;
  let stopped = false;

  const sweepOnce = async (): Promise<number> => {
    const report = await inspectDataDir(options.dataDir);
    const orphaned = report.slots.filter((slot) => slot.worker.state !== 'running' && slot.pending.length > 0);
    if (orphaned.length === 0) return 0;
    const queue = await options.openQueue();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([queue.whenIdle(), new Promise((resolve) => (timer = setTimeout(resolve, options.deadlineMs)))]);
    clearTimeout(timer);
    const { written, pending } = await queue.close({ deadlineMs: 1_000 });
    options.logger.info({ slots: orphaned.length, written, left: pending.length }, 'memory sweeper delivered turns left by finished calls');
    return pending.length;
  };

  const sweep = (): Promise<number> => {
    running ??= sweepOnce()
      .catch((err: unknown) => {
        options.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'memory sweep failed; retrying at the next interval');
        return -1;
      })
      .finally(() => (running = undefined));
    return running;
  };

  const timer = setInterval(() => {
    if (!stopped) void sweep();
  }, options.intervalMs);
  timer.unref();

  return {
    sweep,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
