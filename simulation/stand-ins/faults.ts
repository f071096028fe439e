/**
 * Shared plumbing for the local provider servers used by the tests
 * (`openai-server.ts`, `letta-server.ts`): listening on 127.0.0.1, tracking
 * sockets so `close()` really closes keep-alive connections, reading bodies,
 * JSON replies, an abortable `sleep`, and a small queue of one-shot faults.
 *
 * Times recorded by the servers come from `now()` (= `performance.now()`), so
 * a test can compare them with its own `performance.now()` readings.
 */
import type { EventEmitter } from 'node:events';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

/** Monotonic clock shared by the servers and the tests (milliseconds). */
export function now(): number {
  return performance.now();
}

/**
 * Resolves after `ms`, or early when `signal` aborts (it never rejects:
 * callers check their own "stopped" state afterwards, which keeps handlers
 * free of try/catch noise).
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0 || signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Resolves when `signal` aborts: used by "hang" faults that never answer. */
export function untilAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

/**
 * Keeps every open socket of an http.Server. `server.close()` alone waits for
 * keep-alive connections (the SDKs keep them open), so closing must destroy them.
 */
export class SocketTracker {
  private readonly sockets = new Set<Socket>();

  attach(server: Server): void {
    server.on('connection', (socket: Socket) => {
      // Streaming tests measure per-chunk timing: never let Nagle batch chunks.
      socket.setNoDelay(true);
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  destroyAll(): void {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  get size(): number {
    return this.sockets.size;
  }
}

/** Listens on 127.0.0.1 (port 0 = random) and returns the bound port. */
export function listen(server: Server, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', onError);
      const address = server.address();
      if (address === null || typeof address === 'string') {
        reject(new Error('server is not listening on a TCP port'));
        return;
      }
      resolve(address.port);
    });
  });
}

/** Stops accepting connections and destroys the open ones. */
export function stopListening(server: Server, sockets: SocketTracker): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      sockets.destroyAll();
      resolve();
      return;
    }
    server.close(() => resolve());
    sockets.destroyAll();
  });
}

/** Reads the whole request body as UTF-8 text. */
export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Parses JSON, returning `undefined` for an empty body and `ParseFailure` for bad JSON. */
export const ParseFailure = Symbol('ParseFailure');
export function parseJson(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return ParseFailure;
  }
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/** Starts an SSE response and pushes the headers out immediately. */
export function startSse(res: ServerResponse, headers: Record<string, string> = {}): void {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    ...headers,
  });
  res.flushHeaders();
}

/** Writes one SSE `data:` event; returns false when the client is gone. */
export function writeSseData(res: ServerResponse, data: string): boolean {
  if (res.destroyed || res.writableEnded) return false;
  res.write(`data: ${data}\n\n`);
  return true;
}

/**
 * Drops the connection under a response, as a dying proxy or server would:
 * bytes already written still reach the client (FIN after the write buffer
 * drains), then the socket is destroyed. The client sees a truncated body
 * (or no response at all) and its SDK raises a connection error.
 */
export function dropConnection(res: ServerResponse): void {
  const socket = res.socket;
  if (socket === null || socket.destroyed) return;
  socket.end();
  setTimeout(() => socket.destroy(), 50).unref();
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Copies request headers into a plain object (lower-case names, arrays joined). */
export function headersOf(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/** Which requests a queued fault applies to: any, one route, several, or a predicate. */
export type RouteFilter<R extends string> = R | readonly R[] | ((route: R) => boolean) | undefined;

function routeMatches<R extends string>(filter: RouteFilter<R>, route: R): boolean {
  if (filter === undefined) return true;
  if (typeof filter === 'function') return filter(route);
  if (typeof filter === 'string') return filter === route;
  return filter.includes(route);
}

interface QueuedFault<R extends string, F> {
  remaining: number;
  filter: RouteFilter<R>;
  fault: F;
}

/**
 * FIFO of "the next N matching requests get fault F". The first queued entry
 * whose filter matches the request's route is consumed (one use per request).
 */
export class FaultQueue<R extends string, F> {
  private entries: QueuedFault<R, F>[] = [];

  push(times: number, fault: F, filter?: RouteFilter<R>): void {
    if (!Number.isInteger(times) || times < 1) throw new Error(`fault count must be a positive integer, got ${times}`);
    this.entries.push({ remaining: times, filter, fault });
  }

  take(route: R): F | undefined {
    const entry = this.entries.find((e) => routeMatches(e.filter, route));
    if (entry === undefined) return undefined;
    entry.remaining -= 1;
    if (entry.remaining === 0) this.entries = this.entries.filter((e) => e !== entry);
    return entry.fault;
  }

  /** Number of fault uses still queued. */
  get pending(): number {
    return this.entries.reduce((sum, e) => sum + e.remaining, 0);
  }

  clear(): void {
    this.entries = [];
  }
}

/**
 * Resolves with the first record matching `predicate`: one already in `past`, else the next `event` the emitter
 * sends with one. Rejects with `failure` after `timeoutMs`.
 */
export function waitForRecord<T>(
  emitter: EventEmitter,
  event: string,
  past: readonly T[],
  predicate: (record: T) => boolean,
  timeoutMs: number,
  failure: string,
): Promise<T> {
  const found = past.find(predicate);
  if (found) return Promise.resolve(found);
  return new Promise((resolve, reject) => {
    const onRecord = (record: T) => {
      if (!predicate(record)) return;
      clearTimeout(timer);
      emitter.off(event, onRecord);
      resolve(record);
    };
    const timer = setTimeout(() => {
      emitter.off(event, onRecord);
      reject(new Error(failure));
    }, timeoutMs);
    emitter.on(event, onRecord);
  });
}
