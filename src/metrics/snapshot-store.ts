import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue, type Registry } from 'prom-client';

export type MetricSnapshot = MetricObjectWithValues<MetricValue<string>>[];

type Held = { metrics: MetricSnapshot; receivedAt: number };

export interface SnapshotStoreOptions {
  /** A process whose last snapshot is older than this is gone (a call ended, or it crashed). */
  staleAfterMs: number;
  now?: () => number;
}

/**
 * The latest metrics snapshot of every job process, combined with AggregatorRegistry.aggregate (counters and
 * histograms summed, gauges by their own aggregator). When a process goes away its gauges go with it, but its
 * counters and histograms are kept (retired), so totals never run backwards because a call ended.
 */
export class SnapshotStore {
  private readonly live = new Map<string, Held>();
  private retired: MetricSnapshot[] = [];
  private readonly now: () => number;

  constructor(private readonly options: SnapshotStoreOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Replaces a process's snapshot; `final` retires it at once (the process is exiting). */
  put(source: string, metrics: MetricSnapshot, final = false): void {
    if (final) {
      this.live.delete(source);
      this.retire(metrics);
      return;
    }
    this.live.set(source, { metrics, receivedAt: this.now() });
  }

  get liveSources(): number {
    this.expire();
    return this.live.size;
  }

  /** The live snapshots, the retired totals and `extra` (e.g. the main process's own registry) as one registry. */
  async aggregate(extra: MetricSnapshot[] = []): Promise<Registry> {
    this.expire();
    if (this.retired.length > 1) this.retired = [await AggregatorRegistry.aggregate(this.retired).getMetricsAsJSON()];
    return AggregatorRegistry.aggregate([...this.retired, ...[...this.live.values()].map((held) => held.metrics), ...extra]);
  }

  private expire(): void {
    const cutoff = this.now() - this.options.staleAfterMs;
    for (const [source, held] of this.live) {
      if (held.receivedAt >= cutoff) continue;
      this.live.delete(source);
      this.retire(held.metrics);
    }
  }

  private retire(metrics: MetricSnapshot): void {
    // At run time `type` is the exposition name ('gauge'); prom-client's typings declare a numeric enum instead.
    const lasting = metrics.filter((metric) => String(metric.type) !== 'gauge');
    if (lasting.length > 0) this.retired.push(lasting);
  }
}
