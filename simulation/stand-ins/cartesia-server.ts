// A local stand-in for Cartesia's TTS API speaking its real wire protocol, so the real
// @livekit/agents-plugin-cartesia can be driven against it:
//
//  - WebSocket /tts/websocket, credentials in `X-API-Key` + `Cartesia-Version` headers
//    (or the browser form: `api_key` / `cartesia_version` query parameters).
//    Client sends generation requests `{ model_id, transcript, voice, output_format,
//    language, context_id, continue, add_timestamps, flush? }` and `{ context_id, cancel }`.
//    Server answers per context with `chunk` (base64 PCM), `timestamps`, `flush_done`,
//    `done` and `error` messages. Several contexts may share one socket.
//  - POST /tts/bytes: one generation, raw PCM streamed as the HTTP response body.
//
// The audio is real speech from espeak-ng for the requested text at the requested
// sample rate, delivered after a configurable time-to-first-byte and paced at a
// configurable fraction of real time.
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { FaultQueue, waitForRecord } from './faults.js';
import { synthesize } from '../harness/espeak.js';
import { pcmToBuffer, pcmToF32leBuffer, speechBounds } from '../harness/pcm.js';

export interface CartesiaServerOptions {
  host?: string;
  /** Default 0 (random free port). */
  port?: number;
  /** Accept only this key. Default: any non-empty key. */
  apiKey?: string;
  /** Delay from receiving a transcript to its first audio chunk. Default 0. */
  ttfbMs?: number;
  /**
   * Generation speed as a fraction of the audio's duration: 0.5 sends one second of audio
   * every half second; 0 sends everything as fast as possible. Default 0.
   */
  realTimeFactor?: number;
  /** Audio per chunk message, in ms. Default 40. */
  chunkMs?: number;
  /** espeak-ng voice used for every Cartesia voice id. Default 'en-us'. */
  espeakVoice?: string;
  wordsPerMinute?: number;
  /** Serve HTTPS/WSS (the plugin's /tts/bytes client always uses node:https). */
  tls?: { key: string | Buffer; cert: string | Buffer };
}

/**
 * Failures as real Cartesia delivers them (docs.cartesia.ai/use-the-api/concurrency-limits-and-timeouts and
 * docs.cartesia.ai/use-the-api/api-errors):
 *  - `reject-upgrade`: over the plan's WebSocket connection limit (10x the concurrency limit) the *upgrade* is
 *    answered with an HTTP error status, 429 ("you will receive a 429 Too Many Requests error on trying to open a
 *    new WebSocket connection"). The plugin sees `unexpected-response` and raises APIStatusError(429)
 *    (node_modules/@livekit/agents-plugin-cartesia/dist/tts.js, waitForWsOpen).
 *  - `context-error`: over the generation concurrency limit the socket stays open and the context gets one
 *    terminal error event, `{type: "error", done: true, status_code: 429, error_code: "concurrency_limited", ...}`;
 *    a 5xx arrives the same way. No audio follows for that context.
 *  - `drop-socket`: the TCP connection dies after `afterChunks` audio chunks of the context (a dropped network
 *    path or a server restart; the client sees close code 1006 without a close frame).
 */
export type CartesiaFault =
  | { kind: 'reject-upgrade'; status: number }
  | { kind: 'context-error'; status: number }
  | { kind: 'drop-socket'; afterChunks: number };

type CartesiaFaultRoute = 'upgrade' | 'context';

const ERROR_TEXT: Record<number, { code: string | null; title: string; message: string }> = {
  429: {
    code: 'concurrency_limited',
    title: 'Too many concurrent requests',
    message: "You have exceeded your plan's concurrency limit.",
  },
};

function errorText(status: number): { code: string | null; title: string; message: string } {
  return ERROR_TEXT[status] ?? { code: null, title: http.STATUS_CODES[status] ?? 'Error', message: `Request failed with status ${status}.` };
}

export interface CartesiaTranscriptRecord {
  text: string;
  receivedAt: number;
  firstChunkAt?: number;
  lastChunkAt?: number;
  audioSeconds: number;
}

/** One generation: a WebSocket context or one /tts/bytes request. Times are performance.now() ms. */
export interface CartesiaRequestRecord {
  kind: 'websocket' | 'bytes';
  connectionId: number;
  contextId: string;
  modelId: string;
  voice: unknown;
  language?: string;
  sampleRate: number;
  encoding: string;
  addTimestamps: boolean;
  transcripts: CartesiaTranscriptRecord[];
  /** First request message of the context. */
  startedAt: number;
  firstChunkAt?: number;
  doneAt?: number;
  cancelled: boolean;
  audioSeconds: number;
  /** All transcript text received, concatenated. */
  text: string;
  /** Injected: the context was answered with this error status instead of audio. */
  failedWith?: number;
  /** Injected: the socket was cut while this context was generating. */
  droppedSocket?: boolean;
}

export interface CartesiaConnectionRecord {
  id: number;
  apiKey: string;
  version: string;
  openedAt: number;
  closedAt?: number;
}

interface GenerationRequest {
  context_id?: unknown;
  transcript?: unknown;
  continue?: unknown;
  cancel?: unknown;
  flush?: unknown;
  model_id?: unknown;
  voice?: unknown;
  language?: unknown;
  add_timestamps?: unknown;
  output_format?: { container?: unknown; encoding?: unknown; sample_rate?: unknown };
}

interface OutputFormat {
  encoding: 'pcm_s16le' | 'pcm_f32le';
  sampleRate: number;
}

class RequestError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

function parseFormat(req: GenerationRequest): OutputFormat {
  const f = req.output_format;
  if (!f || typeof f !== 'object') throw new RequestError(400, 'output_format is required');
  if (f.container !== 'raw') throw new RequestError(400, `unsupported container ${String(f.container)} (stand-in serves raw)`);
  if (f.encoding !== 'pcm_s16le' && f.encoding !== 'pcm_f32le') {
    throw new RequestError(400, `unsupported encoding ${String(f.encoding)}`);
  }
  const rate = Number(f.sample_rate);
  if (!Number.isInteger(rate) || rate < 8000 || rate > 48000) throw new RequestError(400, 'invalid sample_rate');
  return { encoding: f.encoding, sampleRate: rate };
}

function validateGeneration(req: GenerationRequest): OutputFormat {
  if (typeof req.model_id !== 'string' || !req.model_id) throw new RequestError(400, 'model_id is required');
  if (!req.voice || typeof req.voice !== 'object') throw new RequestError(400, 'voice is required');
  if (typeof req.transcript !== 'string') throw new RequestError(400, 'transcript must be a string');
  return parseFormat(req);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

/** Word start/end times (s) across the voiced span of `pcm`, by character weight. */
function wordTimestamps(text: string, pcm: Int16Array, sampleRate: number, offset: number) {
  const words = text.split(/\s+/).filter(Boolean);
  const bounds = speechBounds(pcm, sampleRate) ?? { start: 0, end: pcm.length };
  const s0 = bounds.start / sampleRate;
  const span = (bounds.end - bounds.start) / sampleRate;
  const total = words.reduce((n, w) => n + w.length + 1, 0) || 1;
  const start: number[] = [];
  const end: number[] = [];
  let acc = 0;
  for (const w of words) {
    start.push(offset + s0 + (acc / total) * span);
    acc += w.length + 1;
    end.push(offset + s0 + ((acc - 1) / total) * span);
  }
  return { words, start, end };
}

export class CartesiaServer extends EventEmitter {
  readonly requests: CartesiaRequestRecord[] = [];
  readonly connections: CartesiaConnectionRecord[] = [];
  ttfbMs: number;
  realTimeFactor: number;
  chunkMs: number;

  readonly #host: string;
  readonly #portOpt: number;
  readonly #apiKey?: string;
  readonly #voice: string;
  readonly #wpm?: number;
  readonly #tls: boolean;
  readonly #server: http.Server;
  readonly #wss = new WebSocketServer({ noServer: true });
  readonly #sockets = new Set<WebSocket>();
  readonly #faults = new FaultQueue<CartesiaFaultRoute, CartesiaFault>();
  #port = 0;

  private constructor(opts: CartesiaServerOptions) {
    super();
    this.#host = opts.host ?? '127.0.0.1';
    this.#portOpt = opts.port ?? 0;
    this.#apiKey = opts.apiKey;
    this.ttfbMs = opts.ttfbMs ?? 0;
    this.realTimeFactor = opts.realTimeFactor ?? 0;
    this.chunkMs = opts.chunkMs ?? 40;
    this.#voice = opts.espeakVoice ?? 'en-us';
    this.#wpm = opts.wordsPerMinute;
    this.#tls = opts.tls !== undefined;
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => void this.#onHttp(req, res);
    this.#server = opts.tls ? https.createServer({ key: opts.tls.key, cert: opts.tls.cert }, handler) : http.createServer(handler);
    this.#server.on('upgrade', (req, socket, head) => this.#onUpgrade(req, socket, head));
  }

  static async start(opts: CartesiaServerOptions = {}): Promise<CartesiaServer> {
    const server = new CartesiaServer(opts);
    await new Promise<void>((resolve, reject) => {
      server.#server.once('error', reject);
      server.#server.listen(server.#portOpt, server.#host, () => resolve());
    });
    server.#port = (server.#server.address() as AddressInfo).port;
    return server;
  }

  /** Base URL for `new cartesia.TTS({ baseUrl })` (http(s)://host:port). */
  get url(): string {
    return `${this.#tls ? 'https' : 'http'}://${this.#host}:${this.#port}`;
  }

  /** Resolve when a generation matching `predicate` has sent `done` (past ones count). */
  waitForDone(
    predicate: (r: CartesiaRequestRecord) => boolean = () => true,
    timeoutMs = 15_000,
  ): Promise<CartesiaRequestRecord> {
    const isDone = (r: CartesiaRequestRecord) => r.doneAt !== undefined && predicate(r);
    return waitForRecord(this, 'done', this.requests, isDone, timeoutMs, `no matching Cartesia generation finished within ${timeoutMs} ms`);
  }

  /** The next `n` WebSocket upgrades are refused with HTTP `status` (the connection-limit 429 by default). */
  rejectNextUpgrades(n: number, status = 429): void {
    this.#faults.push(n, { kind: 'reject-upgrade', status }, 'upgrade');
  }

  /** The next `n` generation contexts get a terminal error event (the concurrency-limit 429 by default) and no audio. */
  failNextContexts(n: number, status = 429): void {
    this.#faults.push(n, { kind: 'context-error', status }, 'context');
  }

  /** The socket carrying each of the next `n` contexts is cut after `afterChunks` audio chunks of that context. */
  dropSocketOnNextContexts(n: number, afterChunks = 0): void {
    this.#faults.push(n, { kind: 'drop-socket', afterChunks }, 'context');
  }

  /** @internal The fault for the next context, if one is queued. */
  takeContextFault(): CartesiaFault | undefined {
    return this.#faults.take('context');
  }

  async close(): Promise<void> {
    for (const ws of this.#sockets) ws.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #credentials(req: http.IncomingMessage): { apiKey: string; version: string } | RequestError {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const apiKey = String(req.headers['x-api-key'] ?? url.searchParams.get('api_key') ?? url.searchParams.get('access_token') ?? '');
    const version = String(req.headers['cartesia-version'] ?? url.searchParams.get('cartesia_version') ?? '');
    if (!apiKey || (this.#apiKey !== undefined && apiKey !== this.#apiKey)) return new RequestError(401, 'Invalid API key');
    if (!version) return new RequestError(400, 'Cartesia-Version header is required');
    return { apiKey, version };
  }

  #onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    let creds = url.pathname === '/tts/websocket' ? this.#credentials(req) : new RequestError(404, 'not found');
    const fault = creds instanceof RequestError ? undefined : this.#faults.take('upgrade');
    if (fault?.kind === 'reject-upgrade') creds = new RequestError(fault.status, errorText(fault.status).message);
    if (creds instanceof RequestError) {
      const body = JSON.stringify({ error: creds.message });
      socket.end(
        `HTTP/1.1 ${creds.statusCode} ${http.STATUS_CODES[creds.statusCode]}\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
      return;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      const record: CartesiaConnectionRecord = {
        id: this.connections.length,
        apiKey: creds.apiKey,
        version: creds.version,
        openedAt: performance.now(),
      };
      this.connections.push(record);
      this.#sockets.add(ws);
      const conn = new TtsConnection(this, ws, record.id);
      ws.on('close', () => {
        record.closedAt = performance.now();
        this.#sockets.delete(ws);
        conn.closeAll();
      });
      this.emit('connection', record);
    });
  }

  async #onHttp(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'POST' || url.pathname !== '/tts/bytes') {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'not found' }));
      return;
    }
    const creds = this.#credentials(req);
    if (creds instanceof RequestError) {
      res.writeHead(creds.statusCode, { 'content-type': 'application/json' }).end(JSON.stringify({ error: creds.message }));
      return;
    }
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let body: GenerationRequest;
    let format: OutputFormat;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString()) as GenerationRequest;
      format = validateGeneration(body);
    } catch (e) {
      const status = e instanceof RequestError ? e.statusCode : 400;
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ error: (e as Error).message }));
      return;
    }
    const receivedAt = performance.now();
    const record = this.newRecord('bytes', -1, randomUUID(), body, format, receivedAt);
    const transcript = record.transcripts[0];
    let aborted = false;
    res.on('close', () => {
      if (!res.writableFinished) aborted = true;
    });
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    await this.generate(String(body.transcript), format, receivedAt, transcript, record, () => !aborted, (audio) => {
      res.write(audio);
    });
    record.cancelled = aborted;
    record.doneAt = performance.now();
    res.end();
    this.emit('done', record);
  }

  /** @internal */
  newRecord(
    kind: CartesiaRequestRecord['kind'],
    connectionId: number,
    contextId: string,
    req: GenerationRequest,
    format: OutputFormat,
    now: number,
  ): CartesiaRequestRecord {
    const record: CartesiaRequestRecord = {
      kind,
      connectionId,
      contextId,
      modelId: String(req.model_id),
      voice: req.voice,
      language: typeof req.language === 'string' ? req.language : undefined,
      sampleRate: format.sampleRate,
      encoding: format.encoding,
      addTimestamps: req.add_timestamps === true,
      transcripts: [{ text: String(req.transcript), receivedAt: now, audioSeconds: 0 }],
      startedAt: now,
      cancelled: false,
      audioSeconds: 0,
      text: String(req.transcript),
    };
    this.requests.push(record);
    this.emit('request', record);
    return record;
  }

  /**
   * Synthesise `text` and deliver it in chunks: first chunk no earlier than
   * `receivedAt + ttfbMs`, then paced by realTimeFactor. Stops when `alive()` turns false.
   * Returns the PCM produced (for timestamps).
   */
  async generate(
    text: string,
    format: OutputFormat,
    receivedAt: number,
    tr: CartesiaTranscriptRecord,
    record: CartesiaRequestRecord,
    alive: () => boolean,
    deliver: (audio: Buffer, chunkIndex: number, pcm: Int16Array) => void,
    synth?: Promise<Int16Array>,
  ): Promise<Int16Array> {
    if (text.trim() === '') return new Int16Array(0);
    const pcm = await (synth ?? this.synth(text, format.sampleRate));
    await sleep(receivedAt + this.ttfbMs - performance.now());
    const perChunk = Math.max(1, Math.round((format.sampleRate * this.chunkMs) / 1000));
    const t0 = performance.now();
    for (let i = 0, at = 0; at < pcm.length; i++, at += perChunk) {
      if (this.realTimeFactor > 0) await sleep(t0 + (at / format.sampleRate) * 1000 * this.realTimeFactor - performance.now());
      if (!alive()) break;
      const slice = pcm.subarray(at, Math.min(pcm.length, at + perChunk));
      const bytes = format.encoding === 'pcm_f32le' ? pcmToF32leBuffer(slice) : Buffer.from(pcmToBuffer(slice));
      const now = performance.now();
      tr.firstChunkAt ??= now;
      record.firstChunkAt ??= now;
      tr.lastChunkAt = now;
      tr.audioSeconds += slice.length / format.sampleRate;
      record.audioSeconds += slice.length / format.sampleRate;
      deliver(bytes, i, pcm);
    }
    return pcm;
  }

  /** @internal start synthesis as soon as text arrives so it overlaps the TTFB wait. */
  synth(text: string, sampleRate: number): Promise<Int16Array> {
    return synthesize(text, { sampleRate, voice: this.#voice, wordsPerMinute: this.#wpm }).then((a) => a.pcm);
  }
}

interface ContextState {
  record: CartesiaRequestRecord;
  format: OutputFormat;
  chain: Promise<void>;
  ended: boolean;
  cancelled: boolean;
  /** Audio already generated in this context (s): the origin for timestamps. */
  offset: number;
  flushId: number;
  /** Injected fault: cut the socket after this many chunks of this context. */
  dropAfterChunks?: number;
  chunksSent?: number;
}

/** One /tts/websocket connection multiplexing generation contexts. */
class TtsConnection {
  readonly #server: CartesiaServer;
  readonly #ws: WebSocket;
  readonly #id: number;
  readonly #contexts = new Map<string, ContextState>();
  #open = true;

  constructor(server: CartesiaServer, ws: WebSocket, id: number) {
    this.#server = server;
    this.#ws = ws;
    this.#id = id;
    ws.on('message', (data, isBinary) => this.#onMessage(data, isBinary));
    ws.on('error', () => {
      // Client went away; closeAll() runs from the close handler.
    });
  }

  closeAll(): void {
    this.#open = false;
    for (const ctx of this.#contexts.values()) ctx.cancelled = true;
  }

  #send(msg: object): void {
    if (this.#open && this.#ws.readyState === this.#ws.OPEN) this.#ws.send(JSON.stringify(msg));
  }

  #sendError(contextId: string, status: number, message: string, title = message, errorCode: string | null = null): void {
    // `error` is the field the plugin's schema reads (API version 2025-04-16); `error_code`, `title`, `message` and
    // `request_id` are the structured fields of newer versions (docs.cartesia.ai/use-the-api/api-errors).
    this.#send({
      type: 'error',
      done: true,
      status_code: status,
      error: message,
      error_code: errorCode,
      title,
      message,
      request_id: randomUUID(),
      context_id: contextId,
    });
  }

  /** Cuts the TCP connection without a close frame, as a dropped network path does (client sees code 1006). */
  #drop(state: ContextState): void {
    state.cancelled = true;
    state.record.droppedSocket = true;
    this.closeAll();
    this.#ws.terminate();
  }

  #onMessage(data: RawData, isBinary: boolean): void {
    if (isBinary) return this.#sendError('', 400, 'binary messages are not supported');
    let req: GenerationRequest;
    try {
      const text = Array.isArray(data) ? Buffer.concat(data).toString() : Buffer.from(data as ArrayBuffer).toString();
      req = JSON.parse(text) as GenerationRequest;
    } catch {
      return this.#sendError('', 400, 'invalid JSON');
    }
    const contextId = typeof req.context_id === 'string' && req.context_id ? req.context_id : randomUUID();
    if (req.cancel === true) {
      // Cancelled contexts go silent: no further chunks and no done.
      const ctx = this.#contexts.get(contextId);
      if (ctx) {
        ctx.cancelled = true;
        ctx.record.cancelled = true;
      }
      return;
    }
    let format: OutputFormat;
    try {
      format = validateGeneration(req);
    } catch (e) {
      return this.#sendError(contextId, e instanceof RequestError ? e.statusCode : 400, (e as Error).message);
    }
    const now = performance.now();
    let ctx = this.#contexts.get(contextId);
    if (ctx?.cancelled) return;
    if (ctx?.ended) return this.#sendError(contextId, 400, `context ${contextId} has already been closed`);
    if (!ctx) {
      const record = this.#server.newRecord('websocket', this.#id, contextId, req, format, now);
      const fault = this.#server.takeContextFault();
      ctx = { record, format, chain: Promise.resolve(), ended: false, cancelled: false, offset: 0, flushId: 0 };
      this.#contexts.set(contextId, ctx);
      if (fault?.kind === 'context-error') {
        // Terminal for the context (done: true): later messages for it are ignored, nothing more is sent.
        const text = errorText(fault.status);
        ctx.cancelled = true;
        record.failedWith = fault.status;
        this.#sendError(contextId, fault.status, text.message, text.title, text.code);
        return;
      }
      if (fault?.kind === 'drop-socket') ctx.dropAfterChunks = fault.afterChunks;
    } else {
      ctx.record.transcripts.push({ text: String(req.transcript), receivedAt: now, audioSeconds: 0 });
      ctx.record.text += String(req.transcript);
    }
    const tr = ctx.record.transcripts[ctx.record.transcripts.length - 1];
    const text = String(req.transcript);
    // `continue` defaults to false: a request without it is the whole input of its context.
    const isLast = req.continue !== true;
    const wantsFlush = req.flush === true;
    if (isLast) ctx.ended = true;
    const synth = text.trim() ? this.#server.synth(text, format.sampleRate) : undefined;
    synth?.catch(() => undefined);
    const state = ctx;
    state.chain = state.chain.then(async () => {
      if (state.cancelled) return;
      try {
        const alive = () => !state.cancelled && this.#open;
        let sentStamps = false;
        if (state.dropAfterChunks === 0) return this.#drop(state);
        const pcm = await this.#server.generate(text, format, now, tr, state.record, alive, (audio, i, pcm) => {
          if (!alive()) return;
          this.#send({
            type: 'chunk',
            data: audio.toString('base64'),
            done: false,
            status_code: 206,
            step_time: Math.max(1, Math.round(this.#server.chunkMs * this.#server.realTimeFactor)),
            context_id: contextId,
          });
          if (i === 0 && state.record.addTimestamps && !sentStamps) {
            sentStamps = true;
            const ts = wordTimestamps(text, pcm, format.sampleRate, state.offset);
            if (ts.words.length) {
              this.#send({ type: 'timestamps', done: false, status_code: 206, context_id: contextId, word_timestamps: ts });
            }
          }
          state.chunksSent = (state.chunksSent ?? 0) + 1;
          if (state.chunksSent === state.dropAfterChunks) this.#drop(state);
        }, synth);
        state.offset += pcm.length / format.sampleRate;
      } catch (e) {
        this.#sendError(contextId, 500, `synthesis failed: ${(e as Error).message}`);
      }
      if (state.cancelled) return;
      if (wantsFlush) {
        state.flushId += 1;
        this.#send({ type: 'flush_done', done: false, flush_done: true, flush_id: state.flushId, status_code: 206, context_id: contextId });
      }
      if (isLast) {
        this.#send({ type: 'done', done: true, status_code: 206, context_id: contextId });
        state.record.doneAt = performance.now();
        this.#contexts.delete(contextId);
        this.#server.emit('done', state.record);
      }
    });
  }
}
