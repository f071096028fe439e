import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Gauge, Registry } from 'prom-client';
import { SnapshotStore, type MetricSnapshot } from './snapshot-store.js';

export const SCRAPE_PATH = '/metrics';
export const PUSH_PATH = '/push';
/** A snapshot is a few kB; anything far larger is not one of ours. */
const MAX_PUSH_BYTES = 1_000_000;

export interface MetricsServerLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface MetricsServerOptions {
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  /** Job processes push about every few seconds; older snapshots are from processes that are gone. */
  staleAfterMs?: number;
  logger?: MetricsServerLogger;
}

export interface MetricsServer {
  /** Where job processes push their snapshots (always loopback). */
  readonly pushUrl: string;
  readonly scrapeUrl: string;
  readonly store: SnapshotStore;
  /**
   * Serves a registry of this process (the main process's own memory queue) with every scrape, combined with the
   * job processes' snapshots, until the returned function is called.
   */
  addLocalRegistry(registry: Registry): () => void;
  close(): Promise<void>;
}

/** Body of a push: one job process's registry.getMetricsAsJSON(). */
export interface SnapshotPush {
  source: string;
  final?: boolean;
  metrics: MetricSnapshot;
}

/**
 * The main worker process's Prometheus endpoint: GET /metrics serves every job process's metrics combined;
 * POST /push takes a job process's snapshot, from loopback only (the scrape port may be bound wider: nobody else may forge them).
 */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const store = new SnapshotStore({ staleAfterMs: options.staleAfterMs ?? 30_000 });
  const own = new Registry();
  const locals = new Set<Registry>();
  new Gauge({
    name: 'letta_metrics_job_processes',
    help: 'Job processes (calls) whose metrics are currently reported.',
    registers: [own],
    collect() {
      this.set(store.liveSources);
    },
  });

  const server = createServer((req, res) => {
    handle(req, res, store, [own, ...locals]).catch((err: unknown) => {
      options.logger?.warn({ err: err instanceof Error ? err.message : String(err), path: req.url }, 'metrics request failed');
      if (!res.headersSent) res.writeHead(500).end();
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // The endpoint never keeps a process alive on its own (e.g. `download-files` exits when done).
  server.unref();
  const { port } = server.address() as AddressInfo;
  const scrapeHost = options.host.includes(':') ? `[${options.host}]` : options.host;
  options.logger?.info({ host: options.host, port }, 'Prometheus metrics endpoint listening');
  return {
    pushUrl: pushUrlFor({ host: options.host, port }),
    scrapeUrl: `http://${scrapeHost}:${port}${SCRAPE_PATH}`,
    store,
    addLocalRegistry(registry) {
      locals.add(registry);
      return () => locals.delete(registry);
    },
    close: () => closeServer(server),
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, store: SnapshotStore, local: readonly Registry[]): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  if (req.method === 'GET' && path === SCRAPE_PATH) {
    const combined = await store.aggregate(await Promise.all(local.map((registry) => registry.getMetricsAsJSON())));
    const body = await combined.metrics();
    res.writeHead(200, { 'content-type': combined.contentType }).end(body);
    return;
  }
  if (req.method === 'POST' && path === PUSH_PATH) {
    if (!fromThisMachine(req)) {
      res.writeHead(403).end('pushes are accepted from this machine only\n');
      return;
    }
    const push = parsePush(await readBody(req));
    if (!push) {
      res.writeHead(400).end('expected {"source": string, "metrics": [...]}\n');
      return;
    }
    store.put(push.source, push.metrics, push.final === true);
    res.writeHead(204).end();
    return;
  }
  res.writeHead(404).end(`scrape ${SCRAPE_PATH}\n`);
}

function parsePush(body: string): SnapshotPush | undefined {
  try {
    const value = JSON.parse(body) as Partial<SnapshotPush>;
    if (typeof value.source !== 'string' || !Array.isArray(value.metrics)) return undefined;
    const wellFormed = value.metrics.every((m) => typeof m?.name === 'string' && typeof m?.type === 'string' && Array.isArray(m?.values));
    return wellFormed ? (value as SnapshotPush) : undefined;
  } catch {
    return undefined;
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_PUSH_BYTES) throw new Error(`metrics push larger than ${MAX_PUSH_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Loopback, or the bound address itself (METRICS_HOST set to one of this machine's addresses). */
function fromThisMachine(req: IncomingMessage): boolean {
  const address = req.socket.remoteAddress;
  return address === req.socket.localAddress || address === '::1' || address?.startsWith('127.') === true || address?.startsWith('::ffff:127.') === true;
}

/** Where a job process on this machine reaches the endpoint bound to host:port. */
export function pushUrlFor({ host, port }: { host: string; port: number }): string {
  return `http://${loopbackFor(host)}:${port}${PUSH_PATH}`;
}

/** Job processes run on this machine: a wildcard bind is reached on loopback. */
function loopbackFor(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === 'localhost') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((err) => (err ? reject(err) : resolve()));
    server.closeAllConnections();
  });
}
