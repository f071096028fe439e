import type { Registry } from 'prom-client';
import type { SnapshotPush } from './metrics-server.js';

export interface SnapshotPusherOptions {
  registry: Registry;
  pushUrl: string;
  /** Identifies this process's snapshot; a later push replaces the earlier one. */
  source: string;
  /** Must stay well below the server's staleAfterMs. */
  intervalMs?: number;
  onError?: (err: unknown) => void;
}

export interface SnapshotPusher {
  /** Pushes now (e.g. right after a turn, so a scrape sees it without waiting for the interval). */
  pushNow(): Promise<void>;
  /** Stops the timer and sends a final snapshot: the server keeps its counters and drops its gauges at once. */
  stop(): Promise<void>;
}

/** Sends a job process's metrics to the main worker process, which serves the combined endpoint. */
export function startSnapshotPusher(options: SnapshotPusherOptions): SnapshotPusher {
  let stopped = false;
  const push = async (final: boolean): Promise<void> => {
    const body: SnapshotPush = { source: options.source, final, metrics: await options.registry.getMetricsAsJSON() };
    try {
      const res = await fetch(options.pushUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(2_000),
      });
      if (!res.ok) throw new Error(`metrics push to ${options.pushUrl} answered ${res.status}`);
    } catch (err) {
      // Metrics never break a call: a main process without an endpoint (older version, METRICS_PORT off there) is only reported.
      options.onError?.(err);
    }
  };
  const timer = setInterval(() => void push(false), options.intervalMs ?? 5_000);
  timer.unref();
  return {
    pushNow: () => (stopped ? Promise.resolve() : push(false)),
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      await push(true);
    },
  };
}
