import type { TurnReport } from '../call/turn-recorder.js';
import type { MemoryQueue } from '../memory/memory-queue.js';
import { JobMetrics } from './job-metrics.js';
import { pushUrlFor } from './metrics-server.js';
import { startSnapshotPusher } from './snapshot-pusher.js';

export interface JobReporting {
  observeTurn(report: TurnReport): void;
  /** Final push: the main process keeps this call's counters and histograms and drops its gauges. */
  stop(): Promise<void>;
}

/**
 * A job process's side of the metrics endpoint: records its queue and turns and pushes them to the main worker
 * process (which serves METRICS_HOST:METRICS_PORT). Returns undefined when metrics are off.
 */
export function startJobReporting(
  endpoint: { host: string; port: number } | null,
  queue: MemoryQueue,
  logger: { warn(obj: object, msg: string): void },
): JobReporting | undefined {
  if (!endpoint) return undefined;
  const metrics = new JobMetrics();
  const unwatch = metrics.watchQueue(queue);
  let warned = false;
  const pusher = startSnapshotPusher({
    registry: metrics.registry,
    pushUrl: pushUrlFor(endpoint),
    source: `job-${process.pid}`,
    onError: (err) => {
      if (warned) return;
      warned = true;
      logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not push metrics to the main worker process (reported once per call)');
    },
  });
  return {
    observeTurn(report) {
      metrics.observeTurn(report);
      void pusher.pushNow();
    },
    async stop() {
      await pusher.stop();
      unwatch();
    },
  };
}
