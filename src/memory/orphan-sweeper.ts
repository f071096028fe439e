import { watch, type FSWatcher } from 'node:fs';
import { inspectDataDir } from './journal/inspect-data-dir.js';
import { HANDOVER_PREFIX } from './journal/journal-store.js';
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
 * journal slot; the long-lived worker process sweeps such slots so they reach Letta without waiting for the next call:
 * at once when a closing call signals the hand-over (a running call may adopt them first), else every intervalMs.
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
  const watcher = watchHandovers(options.dataDir, () => {
    if (!stopped) void sweep();
  });

  return {
    sweep,
    async stop() {
      stopped = true;
      clearInterval(timer);
      watcher?.close();
      await running;
    },
  };
}

/** Best effort (no inotify, or no data dir yet: the interval still sweeps). */
function watchHandovers(dataDir: string, onHandover: () => void): FSWatcher | undefined {
  try {
    const watcher = watch(dataDir, (_event, name) => {
      // Our own sweep's queue signals too when it leaves turns behind; that must not start the next sweep at once.
      if (typeof name === 'string' && name.startsWith(HANDOVER_PREFIX) && !name.includes(`-${process.pid}-`)) onHandover();
    });
    watcher.on('error', () => watcher.close());
    watcher.unref();
    return watcher;
  } catch {
    return undefined;
  }
}
