/**
 * A local stand-in for OpenAI's text-to-speech endpoint, `POST /v1/audio/speech`, as the real
 * @livekit/agents-plugin-openai TTS calls it (node_modules/@livekit/agents-plugin-openai/dist/tts.js: the openai SDK's
 * `audio.speech.create({ input, model, voice, instructions, response_format: 'pcm', speed })`, body read whole).
 *
 * Wire format per the API reference (platform.openai.com/docs/api-reference/audio/createSpeech): JSON request with
 * `model`, `input` (at most 4096 characters) and `voice` required; `response_format: "pcm"` answers raw 24 kHz
 * 16-bit signed little-endian mono samples without a header. Errors use OpenAI's `{error: {message, type, param,
 * code}}` envelope. The audio is espeak-ng speech for `input`, after an injectable time to first byte.
 */
import http from 'node:http';
import { synthesize } from '../harness/espeak.js';
import { pcmToBuffer } from '../harness/pcm.js';
import {
  FaultQueue,
  isPlainObject,
  listen,
  now,
  ParseFailure,
  parseJson,
  readBody,
  sendJson,
  sleep,
  SocketTracker,
  stopListening,
} from './faults.js';

/** The sample rate of `response_format: "pcm"` (fixed by the API). */
export const OPENAI_PCM_SAMPLE_RATE = 24_000;
const MAX_INPUT_CHARS = 4096;

export interface OpenAISpeechServerOptions {
  /** Accept only this bearer key. Default: any. */
  apiKey?: string;
  /** Delay before the response starts. Default 0. */
  ttfbMs?: number;
}

export interface OpenAISpeechRequestRecord {
  model: string;
  voice: string;
  input: string;
  responseFormat: string;
  receivedAt: number;
  /** Status answered (200 with audio, or the injected/validation error). */
  status: number;
  audioSeconds: number;
}

function openAIError(message: string, type: string, param: string | null = null, code: string | null = null) {
  return { error: { message, type, param, code } };
}

export class OpenAISpeechServer {
  readonly requests: OpenAISpeechRequestRecord[] = [];
  ttfbMs: number;
  readonly #apiKey?: string;
  readonly #server: http.Server;
  readonly #sockets = new SocketTracker();
  readonly #faults = new FaultQueue<'speech', number>();
  #port = 0;

  private constructor(options: OpenAISpeechServerOptions) {
    this.#apiKey = options.apiKey;
    this.ttfbMs = options.ttfbMs ?? 0;
    this.#server = http.createServer((req, res) => void this.#handle(req, res));
    this.#sockets.attach(this.#server);
  }

  static async start(options: OpenAISpeechServerOptions = {}): Promise<OpenAISpeechServer> {
    const server = new OpenAISpeechServer(options);
    server.#port = await listen(server.#server);
    return server;
  }

  /** Base URL for the OpenAI SDK (`baseURL`), ending in /v1 like the real one. */
  get url(): string {
    return `http://127.0.0.1:${this.#port}/v1`;
  }

  /** The next `n` speech requests are answered with HTTP `status` and OpenAI's error body. */
  failNext(n: number, status: number): void {
    this.#faults.push(n, status);
  }

  close(): Promise<void> {
    return stopListening(this.#server, this.#sockets);
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (req.method !== 'POST' || path !== '/v1/audio/speech') {
      sendJson(res, 404, openAIError(`Invalid URL (${req.method} ${path})`, 'invalid_request_error'));
      return;
    }
    const auth = req.headers.authorization ?? '';
    if (this.#apiKey !== undefined && auth !== `Bearer ${this.#apiKey}`) {
      sendJson(res, 401, openAIError('Incorrect API key provided.', 'invalid_request_error', null, 'invalid_api_key'));
      return;
    }
    const body = parseJson(await readBody(req));
    if (body === ParseFailure || !isPlainObject(body)) {
      sendJson(res, 400, openAIError('We could not parse the JSON body of your request.', 'invalid_request_error'));
      return;
    }
    const record: OpenAISpeechRequestRecord = {
      model: String(body.model ?? ''),
      voice: String(body.voice ?? ''),
      input: typeof body.input === 'string' ? body.input : '',
      responseFormat: String(body.response_format ?? 'mp3'),
      receivedAt: now(),
      status: 200,
      audioSeconds: 0,
    };
    this.requests.push(record);
    const problem = this.#validate(body);
    const injected = this.#faults.take('speech');
    if (problem || injected !== undefined) {
      record.status = problem ? 400 : (injected ?? 500);
      const error = problem
        ? openAIError(problem.message, 'invalid_request_error', problem.param)
        : openAIError(`Injected failure with status ${record.status}.`, record.status >= 500 ? 'server_error' : 'requests');
      sendJson(res, record.status, error);
      return;
    }
    const speech = await synthesize(record.input, { sampleRate: OPENAI_PCM_SAMPLE_RATE });
    await sleep(record.receivedAt + this.ttfbMs - now());
    const audio = Buffer.from(pcmToBuffer(speech.pcm));
    record.audioSeconds = speech.pcm.length / OPENAI_PCM_SAMPLE_RATE;
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': audio.length });
    res.end(audio);
  }

  #validate(body: Record<string, unknown>): { message: string; param: string } | undefined {
    for (const param of ['model', 'input', 'voice']) {
      if (typeof body[param] !== 'string' || body[param] === '') {
        return { message: `Missing required parameter: '${param}'.`, param };
      }
    }
    if ((body.input as string).length > MAX_INPUT_CHARS) {
      return { message: `'input' must be at most ${MAX_INPUT_CHARS} characters.`, param: 'input' };
    }
    // The stand-in produces raw PCM only; the plugin always asks for it.
    if (body.response_format !== 'pcm') {
      return { message: `response_format ${String(body.response_format)} is not served by this stand-in`, param: 'response_format' };
    }
    return undefined;
  }
}
