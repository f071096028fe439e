/**
 * The worker's load limit, configurable and visible.
 *
 * @livekit/agents 1.8.1 (dist/worker.js) measures CPU load every 2.5 s with `ServerOptions.loadFunc` and, at or above
 * `loadThreshold`, reports WS_FULL to LiveKit. livekit-server then offers the job to another worker or, with none,
 * drops it (v1.13.5 pkg/service/agentservice.go selectWorkerWeightedByLoad: "no workers with sufficient capacity").
 * The framework logs the change at info level only, so on a busy box a caller simply waits for an agent that never
 * comes. This wrapper keeps the framework's measurement and comparison and says so as a warning.
 */
import type { ServerOptions } from '@livekit/agents';
import type { Logger } from './logging.js';

export type LoadFunc = ServerOptions['loadFunc'];

/** worker.js `Default.loadThreshold`: 0.7 in production (`start`), no limit in development (`dev`). */
export function frameworkLoadThreshold(production: boolean): number {
  return production ? 0.7 : Infinity;
}

/** The framework decides the mode from the CLI command (cli.js: `start` runs with production: true). */
export function isProductionCommand(argv: readonly string[]): boolean {
  return argv.slice(2).includes('start');
}

export interface LoadWatchOptions {
  /** 0..1 (fraction of the CPU); Infinity = never full. */
  threshold: number;
  /** The framework's CPU measurement (`new ServerOptions(...).loadFunc`). */
  measure: LoadFunc;
  logger: Pick<Logger, 'warn' | 'info'>;
  /** While the worker stays full, the warning repeats this often. Default 60 s. */
  remindEveryMs?: number;
  now?: () => number;
}

/** The two ServerOptions fields that set the load limit. */
export interface LoadLimit {
  loadThreshold: number;
  loadFunc: LoadFunc;
}

export function watchLoad(options: LoadWatchOptions): LoadLimit {
  const { threshold, measure, logger } = options;
  const remindEveryMs = options.remindEveryMs ?? 60_000;
  const now = options.now ?? Date.now;
  let full = false;
  let warnedAt = 0;
  return {
    // ServerOptions reads 0 as "unset" (`loadThreshold || Default.loadThreshold(production)`, also when cli.js
    // rebuilds the options), so 0 travels as the smallest positive number and no reported load is below it:
    // the worker stays full, which is what 0 asks for.
    loadThreshold: Math.max(threshold, Number.MIN_VALUE),
    loadFunc: async (worker) => {
      const load = Math.max(await measure(worker), Number.MIN_VALUE);
      const isFull = load >= threshold; // worker.js compares the same way
      const fields = { load: Number(load.toFixed(2)), loadThreshold: threshold };
      if (isFull && (!full || now() - warnedAt >= remindEveryMs)) {
        warnedAt = now();
        logger.warn(
          fields,
          `worker is full (CPU load ${fields.load} >= WORKER_LOAD_THRESHOLD ${threshold}): LiveKit sends it no new jobs, ` +
            'so callers joining now get no agent; raise WORKER_LOAD_THRESHOLD or add CPU/workers',
        );
      } else if (!isFull && full) {
        logger.info(fields, 'worker is below its load threshold again: LiveKit sends it jobs');
      }
      full = isFull;
      return load;
    },
  };
}
