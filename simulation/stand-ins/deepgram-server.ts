// A local stand-in for Deepgram's live transcription API (`wss://api.deepgram.com/v1/listen`),
// speaking the real wire protocol so the real @livekit/agents-plugin-deepgram can talk to it:
//
//  - WebSocket upgrade on /v1/listen, `Authorization: Token <key>` (or `Bearer`, or the
//    browser form `Sec-WebSocket-Protocol: token, <key>`); 401 without credentials.
//  - Query: encoding (linear16 only), sample_rate, channels, interim_results, endpointing
//    (ms or false), utterance_end_ms, vad_events, punctuate, smart_format, ...
//  - Client sends binary PCM and JSON control messages KeepAlive / Finalize / CloseStream.
//  - Server sends Results (is_final / speech_final / from_finalize), SpeechStarted,
//    UtteranceEnd and, on CloseStream, Metadata before closing.
//  - The prerecorded REST form (POST /v1/listen with a WAV body) is answered too.
//
// It cannot recognise speech, so it "knows the script": the test queues the text of each
// line the caller will say (`expectUtterance`). Speech is detected from the PCM energy in
// 10 ms windows on the audio timeline (what Deepgram sees, not the wall clock), and the
// scripted words are revealed as interim results and finalised at endpoints.
import { createHash, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { waitForRecord } from './faults.js';
import { parseStreamingWav } from '../harness/espeak.js';
import { DEFAULT_SPEECH_THRESHOLD, bufferToPcm, rms } from '../harness/pcm.js';

export interface ScriptLine {
  text: string;
  /**
   * Duration of the voiced part of the line as it will be played (e.g.
   * `speechEndSeconds - speechStartSeconds` from espeak). With it, a line that contains
   * pauses longer than the endpointing silence is split across several finals at the
   * right words, like real Deepgram; without it the whole line is finalised at the first
   * endpoint.
   */
  durationSeconds?: number;
}

export interface DeepgramServerOptions {
  /** Interface to bind. Default 127.0.0.1. */
  host?: string;
  /** Port. Default 0 (random free port). */
  port?: number;
  /** Accept only this key. Default: any non-empty key. */
  apiKey?: string;
  /** Lines the caller will say, in order. More can be queued with `expectUtterance`. */
  script?: Array<string | ScriptLine>;
  /** Added before every result/event the server sends (models recognition latency). Default 0. */
  recognitionDelayMs?: number;
  /**
   * Floor for the silence that ends a speech segment, in ms. An energy detector sees the
   * 10-50 ms gaps between espeak's words as silence, whereas Deepgram's model does not;
   * with the plugin's default `endpointing=25` this floor is what actually applies.
   * Effective endpoint silence = max(endpointing, minEndpointingMs). Default 100.
   */
  minEndpointingMs?: number;
  /** Audio time between interim results while speech continues. Default 300 ms. */
  interimIntervalMs?: number;
  /** Normalised RMS above which a 10 ms window is speech. Default 0.01. */
  speechThreshold?: number;
  /** Reveal rate for interim words when a line has no durationSeconds. Default 2.9 (175 wpm). */
  wordsPerSecond?: number;
  /** Close an idle stream (no audio or text message) like Deepgram's NET-0001. Default 10000; 0 disables. */
  idleTimeoutMs?: number;
}

/** One Results message as sent, with the timing the harness needs. */
export interface DeepgramResultRecord {
  connectionId: number;
  requestId: string;
  transcript: string;
  isFinal: boolean;
  speechFinal: boolean;
  fromFinalize: boolean;
  /** Audio-timeline window of the result, in seconds since the stream started. */
  start: number;
  duration: number;
  /** Index of the scripted line these words came from, or null for unscripted speech. */
  lineIndex: number | null;
  /** performance.now() when the message was written to the socket. */
  sentAt: number;
}

/** One scripted line as it went through recognition. Times are performance.now() ms. */
export interface DeepgramUtteranceRecord {
  lineIndex: number;
  text: string;
  connectionId: number;
  /** Estimated wall time the first voiced audio of the line was captured by the client. */
  speechStartAt: number;
  /** Estimated wall time the last voiced audio of the line was captured (updated as audio arrives). */
  speechEndAt: number;
  firstInterimAt?: number;
  /** When the final result carrying the line's last word was sent. */
  finalAt?: number;
  /** When a speech_final result for the line was sent (same as finalAt unless Finalize/CloseStream was used). */
  speechFinalAt?: number;
  /** Words finalised so far. */
  finalTranscript: string;
  done: boolean;
}

export interface DeepgramConnectionRecord {
  id: number;
  requestId: string;
  path: string;
  query: URLSearchParams;
  authorization: string;
  openedAt: number;
  closedAt?: number;
  /** Seconds of audio received. */
  audioSeconds: number;
  /** Binary (audio) messages received. */
  audioMessages: number;
  /** Control message types received, in order (KeepAlive, Finalize, CloseStream, ...). */
  controlMessages: string[];
}

interface Word {
  punctuated: string;
  plain: string;
  /** Fraction of the line's duration where the word starts/ends (by character weight). */
  from: number;
  to: number;
}

interface LineState {
  index: number;
  line: ScriptLine;
  words: Word[];
  next: number;
  /** Audio time (s) of the line's first voiced window. */
  speechStart: number;
  record: DeepgramUtteranceRecord;
}

interface Segment {
  start: number;
  lastSpeechEnd: number;
}

const MODEL_UUID = '1dbdfb4d-85b2-4659-9cac-d8f1a0a8a4e5';
const WINDOW_SECONDS = 0.01;

/** Extra weight (in characters) for the pause a TTS voice makes after punctuation. */
function pauseWeight(token: string): number {
  if (/[.?!]["')\]]*$/.test(token)) return 6;
  if (/[,;:]["')\]]*$/.test(token)) return 3;
  return 0;
}

function endsClause(token: string): boolean {
  return pauseWeight(token) > 0;
}

function splitWords(text: string): Word[] {
  const tokens = text.split(/\s+/).filter((t) => t.length > 0);
  // Weight words by length plus the pause that follows punctuation, so time fractions
  // line up with where a speaker actually is in the line.
  const weights = tokens.map((t) => t.length + 1 + pauseWeight(t));
  const total = weights.reduce((a, b) => a + b, 0);
  let acc = 0;
  return tokens.map((tok, i) => {
    const from = acc / total;
    acc += weights[i];
    return {
      punctuated: tok,
      plain: tok.toLowerCase().replace(/[^\p{L}\p{N}']+/gu, ''),
      from,
      to: acc / total,
    };
  });
}

function boolParam(q: URLSearchParams, name: string, dflt: boolean): boolean {
  const v = q.get(name);
  if (v === null) return dflt;
  return v === 'true';
}

function numberParam(q: URLSearchParams, name: string): number | null {
  const v = q.get(name);
  if (v === null || v === '' || v === 'false' || v === 'null') return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** Credentials the way Deepgram accepts them: header `Token`/`Bearer`, or `token` subprotocol. */
function credentialFrom(req: http.IncomingMessage): string | null {
  const auth = req.headers.authorization;
  if (auth) {
    const m = /^(Token|Bearer)\s+(.+)$/i.exec(auth.trim());
    return m ? m[2].trim() : null;
  }
  const proto = req.headers['sec-websocket-protocol'];
  if (proto) {
    const parts = proto.split(',').map((p) => p.trim());
    if (parts[0]?.toLowerCase() === 'token' && parts[1]) return parts[1];
  }
  return null;
}

export class DeepgramServer extends EventEmitter {
  readonly results: DeepgramResultRecord[] = [];
  readonly utterances: DeepgramUtteranceRecord[] = [];
  readonly connections: DeepgramConnectionRecord[] = [];
  /** Every JSON message sent (Results, SpeechStarted, UtteranceEnd, Metadata), in order. */
  readonly sent: Array<{ connectionId: number; type: string; sentAt: number }> = [];
  /** Speech segments that arrived with no scripted line pending (transcript left empty). */
  unscriptedSegments = 0;
  recognitionDelayMs: number;

  readonly #opts: Required<Omit<DeepgramServerOptions, 'apiKey' | 'script' | 'recognitionDelayMs'>> & {
    apiKey?: string;
  };
  readonly #queue: ScriptLine[] = [];
  #lineCounter = 0;
  #http: http.Server;
  #wss: WebSocketServer;
  #sessions = new Set<ListenSession>();
  #port = 0;

  private constructor(opts: DeepgramServerOptions) {
    super();
    this.#opts = {
      host: opts.host ?? '127.0.0.1',
      port: opts.port ?? 0,
      apiKey: opts.apiKey,
      minEndpointingMs: opts.minEndpointingMs ?? 100,
      interimIntervalMs: opts.interimIntervalMs ?? 300,
      speechThreshold: opts.speechThreshold ?? DEFAULT_SPEECH_THRESHOLD,
      wordsPerSecond: opts.wordsPerSecond ?? 2.9,
      idleTimeoutMs: opts.idleTimeoutMs ?? 10_000,
    };
    this.recognitionDelayMs = opts.recognitionDelayMs ?? 0;
    for (const line of opts.script ?? []) this.expectUtterance(line);
    this.#http = http.createServer((req, res) => void this.#onHttp(req, res));
    this.#wss = new WebSocketServer({ noServer: true });
    this.#http.on('upgrade', (req, socket, head) => this.#onUpgrade(req, socket, head));
  }

  static async start(opts: DeepgramServerOptions = {}): Promise<DeepgramServer> {
    const server = new DeepgramServer(opts);
    await new Promise<void>((resolve, reject) => {
      server.#http.once('error', reject);
      server.#http.listen(server.#opts.port, server.#opts.host, () => resolve());
    });
    server.#port = (server.#http.address() as AddressInfo).port;
    return server;
  }

  /** Base URL for `new deepgram.STT({ baseUrl })` (the plugin appends /v1/listen). */
  get url(): string {
    return `ws://${this.#opts.host}:${this.#port}`;
  }

  get httpUrl(): string {
    return `http://${this.#opts.host}:${this.#port}`;
  }

  /** Queue the text of the next line the caller will say. */
  expectUtterance(line: string | ScriptLine, opts: { durationSeconds?: number } = {}): void {
    this.#queue.push(typeof line === 'string' ? { text: line, ...opts } : { ...line, ...opts });
  }

  /** Scripted lines not yet started. */
  get pendingLines(): number {
    return this.#queue.length;
  }

  /** @internal used by sessions */
  nextLine(): { index: number; line: ScriptLine } | null {
    const line = this.#queue.shift();
    return line ? { index: this.#lineCounter++, line } : null;
  }

  /** @internal */
  get options() {
    return this.#opts;
  }

  /** Resolve with the next final result matching `predicate` (already-sent ones count). */
  waitForFinal(
    predicate: (r: DeepgramResultRecord) => boolean = () => true,
    timeoutMs = 15_000,
  ): Promise<DeepgramResultRecord> {
    const isMatch = (r: DeepgramResultRecord) => r.isFinal && predicate(r);
    return waitForRecord(this, 'result', this.results, isMatch, timeoutMs, `no matching Deepgram final result within ${timeoutMs} ms`);
  }

  async close(): Promise<void> {
    for (const s of this.#sessions) s.terminate();
    this.#sessions.clear();
    await new Promise<void>((resolve) => {
      this.#wss.close(() => resolve());
    });
    this.#http.closeAllConnections();
    await new Promise<void>((resolve) => this.#http.close(() => resolve()));
  }

  #authorized(req: http.IncomingMessage): boolean {
    const key = credentialFrom(req);
    if (!key) return false;
    return this.#opts.apiKey === undefined || key === this.#opts.apiKey;
  }

  #onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const reject = (status: number, message: string) => {
      const body = JSON.stringify({ err_code: status === 401 ? 'INVALID_AUTH' : 'Bad Request', err_msg: message });
      socket.end(
        `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    };
    if (url.pathname !== '/v1/listen') return reject(404, `no such endpoint ${url.pathname}`);
    if (!this.#authorized(req)) return reject(401, 'Invalid credentials.');
    const encoding = url.searchParams.get('encoding');
    if (encoding !== null && encoding !== 'linear16') {
      return reject(400, `this stand-in only decodes linear16, got ${encoding}`);
    }
    if (encoding !== null && numberParam(url.searchParams, 'sample_rate') === null) {
      return reject(400, 'sample_rate is required when encoding is set');
    }
    const requestId = randomUUID();
    const onHeaders = (headers: string[]) => {
      headers.push(`dg-request-id: ${requestId}`);
    };
    this.#wss.once('headers', onHeaders);
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      this.#wss.off('headers', onHeaders);
      const record: DeepgramConnectionRecord = {
        id: this.connections.length,
        requestId,
        path: url.pathname,
        query: url.searchParams,
        authorization: req.headers.authorization ?? '',
        openedAt: performance.now(),
        audioSeconds: 0,
        audioMessages: 0,
        controlMessages: [],
      };
      this.connections.push(record);
      const session = new ListenSession(this, ws, record);
      this.#sessions.add(session);
      ws.on('close', () => {
        record.closedAt = performance.now();
        this.#sessions.delete(session);
      });
      this.emit('connection', record);
    });
  }

  /** Prerecorded REST transcription: returns the next scripted line for the whole file. */
  async #onHttp(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'POST' || url.pathname !== '/v1/listen') {
      res.writeHead(404).end();
      return;
    }
    if (!this.#authorized(req)) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ err_code: 'INVALID_AUTH', err_msg: 'Invalid credentials.' }));
      return;
    }
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let seconds = 0;
    try {
      const wav = parseStreamingWav(Buffer.concat(chunks));
      seconds = wav.pcm.length / wav.sampleRate;
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ err_code: 'Bad Request', err_msg: 'could not decode audio (send 16-bit mono WAV)' }));
      return;
    }
    const next = this.nextLine();
    const words = next ? splitWords(next.line.text) : [];
    const requestId = randomUUID();
    const body = {
      metadata: {
        transaction_key: 'deprecated',
        request_id: requestId,
        sha256: createHash('sha256').update(Buffer.concat(chunks)).digest('hex'),
        created: new Date().toISOString(),
        duration: round3(seconds),
        channels: 1,
        models: [MODEL_UUID],
        model_info: { [MODEL_UUID]: { name: 'general-nova-3', version: '2025-01-01.0', arch: 'nova-3' } },
      },
      results: {
        channels: [
          {
            alternatives: [
              {
                transcript: words.map((w) => w.punctuated).join(' '),
                confidence: 0.99,
                words: words.map((w) => ({
                  word: w.plain,
                  start: round3(w.from * seconds),
                  end: round3(w.to * seconds),
                  confidence: 0.99,
                  punctuated_word: w.punctuated,
                })),
              },
            ],
          },
        ],
      },
    };
    res.writeHead(200, { 'content-type': 'application/json', 'dg-request-id': requestId });
    res.end(JSON.stringify(body));
  }

  /** @internal */
  recordResult(r: DeepgramResultRecord): void {
    this.results.push(r);
    this.emit('result', r);
  }
}

/** One /v1/listen WebSocket: audio timeline, energy VAD, and the scripted line in progress. */
class ListenSession {
  readonly #server: DeepgramServer;
  readonly #ws: WebSocket;
  readonly #record: DeepgramConnectionRecord;
  readonly #sampleRate: number;
  readonly #channels: number;
  readonly #interim: boolean;
  readonly #vadEvents: boolean;
  readonly #punctuated: boolean;
  /** null when endpointing=false. */
  readonly #endpointingMs: number | null;
  readonly #utteranceEndMs: number | null;
  readonly #windowSamples: number;

  #pending = new Int16Array(0);
  #oddByte: number | null = null;
  /** Samples (per channel) processed into windows so far. */
  #processed = 0;
  #silenceMs = 0;
  #segment: Segment | null = null;
  #line: LineState | null = null;
  /** Audio time up to which results have been finalised (Deepgram tiles the timeline). */
  #finalCursor = 0;
  #lastInterimAt = 0;
  #lastFinalWordEnd: number | null = null;
  #utteranceEndDue = false;
  /** Wall-clock mapping for the chunk being processed: arrival time and its audio end. */
  #chunkArrival = 0;
  #chunkEndAudio = 0;
  /** Outgoing messages are serialised so recognitionDelayMs never reorders them. */
  #sendChain: Promise<void> = Promise.resolve();
  #lastSendDue = 0;
  #idleTimer: NodeJS.Timeout | undefined;
  #closing = false;

  constructor(server: DeepgramServer, ws: WebSocket, record: DeepgramConnectionRecord) {
    this.#server = server;
    this.#ws = ws;
    this.#record = record;
    const q = record.query;
    this.#sampleRate = numberParam(q, 'sample_rate') ?? 16000;
    this.#channels = Math.max(1, numberParam(q, 'channels') ?? 1);
    this.#interim = boolParam(q, 'interim_results', false);
    this.#vadEvents = boolParam(q, 'vad_events', false);
    this.#punctuated = boolParam(q, 'punctuate', false) || boolParam(q, 'smart_format', false);
    // Deepgram's default endpointing is 10 ms; `endpointing=false` disables it.
    this.#endpointingMs = q.get('endpointing') === 'false' ? null : (numberParam(q, 'endpointing') ?? 10);
    this.#utteranceEndMs = numberParam(q, 'utterance_end_ms');
    this.#windowSamples = Math.max(1, Math.round(this.#sampleRate * WINDOW_SECONDS));
    ws.on('message', (data, isBinary) => this.#onMessage(data, isBinary));
    ws.on('close', () => clearTimeout(this.#idleTimer));
    ws.on('error', () => {
      // A client that vanishes mid-stream is not an error for the stand-in.
    });
    this.#touch();
  }

  terminate(): void {
    clearTimeout(this.#idleTimer);
    this.#ws.terminate();
  }

  get #now(): number {
    return this.#processed / this.#sampleRate;
  }

  #touch(): void {
    clearTimeout(this.#idleTimer);
    const ms = this.#server.options.idleTimeoutMs;
    if (ms > 0) {
      this.#idleTimer = setTimeout(() => {
        this.#ws.close(1011, 'NET-0001: no audio data or text message received within the timeout window');
      }, ms);
    }
  }

  #onMessage(data: RawData, isBinary: boolean): void {
    if (this.#closing) return;
    this.#touch();
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    if (!isBinary) {
      let type = '';
      try {
        type = String((JSON.parse(buf.toString()) as { type?: unknown }).type ?? '');
      } catch {
        type = 'invalid-json';
      }
      this.#record.controlMessages.push(type);
      if (type === 'Finalize') this.#finalize(true, false);
      else if (type === 'CloseStream') this.#closeStream();
      // KeepAlive only resets the idle timer, which happened above.
      return;
    }
    this.#onAudio(buf);
  }

  #onAudio(buf: Buffer): void {
    let bytes: Uint8Array = buf;
    if (this.#oddByte !== null) {
      bytes = Buffer.concat([Buffer.from([this.#oddByte]), buf]);
      this.#oddByte = null;
    }
    if (bytes.byteLength & 1) {
      this.#oddByte = bytes[bytes.byteLength - 1];
      bytes = bytes.subarray(0, bytes.byteLength - 1);
    }
    let samples = bufferToPcm(bytes);
    if (this.#channels > 1) {
      // Recognition here is single-speaker: listen to the first channel only.
      const mono = new Int16Array(Math.floor(samples.length / this.#channels));
      for (let i = 0; i < mono.length; i++) mono[i] = samples[i * this.#channels];
      samples = mono;
    }
    const all = new Int16Array(this.#pending.length + samples.length);
    all.set(this.#pending);
    all.set(samples, this.#pending.length);
    this.#record.audioSeconds += samples.length / this.#sampleRate;
    this.#record.audioMessages += 1;
    this.#chunkArrival = performance.now();
    this.#chunkEndAudio = (this.#processed + all.length) / this.#sampleRate;
    let at = 0;
    for (; at + this.#windowSamples <= all.length; at += this.#windowSamples) {
      this.#processWindow(all, at);
    }
    this.#pending = all.slice(at);
  }

  /** Wall time (performance.now) at which the client captured audio time `t`. */
  #wallAt(t: number): number {
    return this.#chunkArrival - (this.#chunkEndAudio - t) * 1000;
  }

  #processWindow(pcm: Int16Array, at: number): void {
    const start = this.#now;
    this.#processed += this.#windowSamples;
    const end = this.#now;
    const voiced = rms(pcm, at, at + this.#windowSamples) > this.#server.options.speechThreshold;
    if (voiced) {
      this.#silenceMs = 0;
      this.#utteranceEndDue = false;
      if (!this.#segment) this.#startSegment(start);
      const seg = this.#segment as Segment | null;
      if (seg) seg.lastSpeechEnd = end;
      if (this.#line) this.#line.record.speechEndAt = this.#wallAt(end);
    } else {
      this.#silenceMs += WINDOW_SECONDS * 1000;
      const threshold = Math.max(this.#endpointingMs ?? 0, this.#server.options.minEndpointingMs);
      if (this.#segment && this.#silenceMs >= threshold - 1e-6) {
        // With endpointing=false Deepgram still finalises at its own boundaries, just
        // never marks speech_final.
        this.#finalize(false, this.#endpointingMs !== null);
      }
    }
    if (this.#segment && this.#interim && end - this.#lastInterimAt >= this.#server.options.interimIntervalMs / 1000) {
      this.#sendInterim();
    }
    if (
      this.#utteranceEndDue &&
      this.#utteranceEndMs !== null &&
      this.#lastFinalWordEnd !== null &&
      !this.#segment &&
      (end - this.#lastFinalWordEnd) * 1000 >= this.#utteranceEndMs
    ) {
      this.#utteranceEndDue = false;
      this.#send({ type: 'UtteranceEnd', channel: [0, this.#channels], last_word_end: round3(this.#lastFinalWordEnd) });
    }
  }

  #startSegment(start: number): void {
    this.#segment = { start, lastSpeechEnd: start };
    this.#lastInterimAt = start;
    if (this.#vadEvents) this.#send({ type: 'SpeechStarted', channel: [0], timestamp: round3(start) });
    if (!this.#line) {
      const next = this.#server.nextLine();
      if (next) {
        const record: DeepgramUtteranceRecord = {
          lineIndex: next.index,
          text: next.line.text,
          connectionId: this.#record.id,
          speechStartAt: this.#wallAt(start),
          speechEndAt: this.#wallAt(start),
          finalTranscript: '',
          done: false,
        };
        this.#server.utterances.push(record);
        this.#line = { index: next.index, line: next.line, words: splitWords(next.line.text), next: 0, speechStart: start, record };
      } else {
        this.#server.unscriptedSegments++;
        this.#server.emit('unscripted', { connectionId: this.#record.id, audioTime: start });
      }
    }
  }

  /** Words of the current line heard by audio time `t` (not yet finalised). */
  #wordsHeard(t: number, all: boolean): Word[] {
    const line = this.#line;
    if (!line) return [];
    const remaining = line.words.slice(line.next);
    if (all) return remaining;
    const d = line.line.durationSeconds;
    const elapsed = t - line.speechStart;
    if (d === undefined || d <= 0) {
      const n = Math.floor(elapsed * this.#server.options.wordsPerSecond) - line.next;
      return remaining.slice(0, Math.max(0, Math.min(remaining.length, n)));
    }
    return remaining.filter((w) => (w.from + w.to) / 2 <= elapsed / d);
  }

  /**
   * Words to finalise at a mid-line endpoint. Speakers pause at punctuation, so when a
   * clause end lies within two words of the time-based estimate, cut there instead.
   */
  #wordsAtEndpoint(t: number): Word[] {
    const estimate = this.#wordsHeard(t, false);
    const line = this.#line;
    if (!line) return estimate;
    const remaining = line.words.slice(line.next);
    let best = -1;
    for (let j = 0; j < remaining.length - 1; j++) {
      if (!endsClause(remaining[j].punctuated)) continue;
      const dist = Math.abs(j + 1 - estimate.length);
      if (dist <= 2 && (best < 0 || dist < Math.abs(best + 1 - estimate.length))) best = j;
    }
    return best >= 0 ? remaining.slice(0, best + 1) : estimate;
  }

  #wordTimes(words: Word[], seg: Segment): Array<{ start: number; end: number }> {
    const line = this.#line;
    const d = line?.line.durationSeconds;
    if (line && d !== undefined && d > 0) {
      return words.map((w) => ({ start: line.speechStart + w.from * d, end: line.speechStart + w.to * d }));
    }
    // Spread the words over the voiced span by character weight.
    const span = Math.max(seg.lastSpeechEnd - seg.start, 0.01);
    const total = words.reduce((n, w) => n + w.to - w.from, 0) || 1;
    let acc = 0;
    return words.map((w) => {
      const s = seg.start + (acc / total) * span;
      acc += w.to - w.from;
      return { start: s, end: seg.start + (acc / total) * span };
    });
  }

  #resultMessage(words: Word[], times: Array<{ start: number; end: number }>, isFinal: boolean, speechFinal: boolean, fromFinalize: boolean) {
    const transcript = words.map((w) => (this.#punctuated ? w.punctuated : w.plain)).join(' ');
    const start = this.#finalCursor;
    const msg: Record<string, unknown> = {
      type: 'Results',
      channel_index: [0, this.#channels],
      duration: round3(Math.max(0, this.#now - start)),
      start: round3(start),
      is_final: isFinal,
      speech_final: speechFinal,
      channel: {
        alternatives: [
          {
            transcript,
            confidence: words.length ? 0.99 : 0,
            words: words.map((w, i) => ({
              word: w.plain,
              start: round3(times[i].start),
              end: round3(times[i].end),
              confidence: 0.99,
              punctuated_word: w.punctuated,
            })),
          },
        ],
      },
      metadata: {
        request_id: this.#record.requestId,
        model_info: { name: 'general-nova-3', version: '2025-01-01.0', arch: 'nova-3' },
        model_uuid: MODEL_UUID,
      },
    };
    if (isFinal) msg.from_finalize = fromFinalize;
    return { msg, transcript, start };
  }

  #sendInterim(): void {
    const seg = this.#segment;
    if (!seg) return;
    this.#lastInterimAt = this.#now;
    const words = this.#wordsHeard(seg.lastSpeechEnd, false);
    if (words.length === 0) return;
    const { msg, transcript, start } = this.#resultMessage(words, this.#wordTimes(words, seg), false, false, false);
    const duration = this.#now - start;
    const line = this.#line;
    this.#send(msg, (sentAt) => {
      if (line && line.record.firstInterimAt === undefined) line.record.firstInterimAt = sentAt;
      this.#server.recordResult({
        connectionId: this.#record.id,
        requestId: this.#record.requestId,
        transcript,
        isFinal: false,
        speechFinal: false,
        fromFinalize: false,
        start,
        duration,
        lineIndex: line?.index ?? null,
        sentAt,
      });
    });
  }

  /**
   * Finalise the open segment. `fromFinalize` marks a client Finalize (finalise what was
   * heard so far, no endpoint); otherwise this is an endpoint (or end of stream).
   */
  #finalize(fromFinalize: boolean, speechFinal: boolean): void {
    const seg = this.#segment;
    const line = this.#line;
    if (!seg) {
      if (fromFinalize) {
        // Nothing pending: Deepgram still answers a Finalize with an empty final.
        const { msg } = this.#resultMessage([], [], true, false, true);
        this.#finalCursor = this.#now;
        this.#send(msg);
      }
      return;
    }
    // At an endpoint the speaker is done with this stretch: take the words the timeline
    // says were spoken, or all of them when the line is (nearly) over or has no duration.
    const d = line?.line.durationSeconds;
    const lineOver = !line || d === undefined || d <= 0 || seg.lastSpeechEnd - line.speechStart >= d * 0.9 - 0.05;
    const words = lineOver || fromFinalize ? this.#wordsHeard(seg.lastSpeechEnd, true) : this.#wordsAtEndpoint(seg.lastSpeechEnd);
    const times = this.#wordTimes(words, seg);
    const { msg, transcript, start } = this.#resultMessage(words, times, true, speechFinal, fromFinalize);
    const duration = this.#now - start;
    this.#finalCursor = this.#now;
    this.#segment = null;
    if (times.length) this.#lastFinalWordEnd = times[times.length - 1].end;
    else this.#lastFinalWordEnd = seg.lastSpeechEnd;
    this.#utteranceEndDue = this.#interim && this.#utteranceEndMs !== null;
    if (line) {
      line.next += words.length;
      line.record.finalTranscript = [line.record.finalTranscript, ...words.map((w) => w.punctuated)].filter(Boolean).join(' ');
    }
    const lineDone = line !== null && line.next >= line.words.length;
    if (lineDone) this.#line = null;
    this.#send(msg, (sentAt) => {
      if (line && lineDone) {
        line.record.finalAt ??= sentAt;
        line.record.done = true;
      }
      if (line && speechFinal) line.record.speechFinalAt ??= sentAt;
      this.#server.recordResult({
        connectionId: this.#record.id,
        requestId: this.#record.requestId,
        transcript,
        isFinal: true,
        speechFinal,
        fromFinalize,
        start,
        duration,
        lineIndex: line?.index ?? null,
        sentAt,
      });
      if (line && lineDone) this.#server.emit('utterance', line.record);
    });
  }

  #closeStream(): void {
    this.#finalize(false, false);
    this.#closing = true;
    const metadata = {
      type: 'Metadata',
      transaction_key: 'deprecated',
      request_id: this.#record.requestId,
      sha256: createHash('sha256').update(this.#record.requestId).digest('hex'),
      created: new Date().toISOString(),
      duration: round3(this.#record.audioSeconds),
      channels: this.#channels,
      models: [MODEL_UUID],
      model_info: { [MODEL_UUID]: { name: 'general-nova-3', version: '2025-01-01.0', arch: 'nova-3' } },
    };
    this.#send(metadata, () => this.#ws.close(1000));
  }

  /** Send `msg` after recognitionDelayMs, in order; `onSent` gets the send time. */
  #send(msg: object, onSent?: (sentAt: number) => void): void {
    const delay = this.#server.recognitionDelayMs;
    const due = Math.max(performance.now() + delay, this.#lastSendDue);
    this.#lastSendDue = due;
    const payload = JSON.stringify(msg);
    this.#sendChain = this.#sendChain.then(async () => {
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (this.#ws.readyState !== this.#ws.OPEN) return;
      this.#ws.send(payload);
      const sentAt = performance.now();
      this.#server.sent.push({ connectionId: this.#record.id, type: String((msg as { type?: unknown }).type), sentAt });
      onSent?.(sentAt);
    });
  }
}
