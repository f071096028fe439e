/**
 * Local OpenAI-compatible Chat Completions server for tests.
 *
 * Speaks the real wire protocol that the `openai` SDK (6.x) and the LiveKit
 * OpenAI plugin consume, on 127.0.0.1 with a random port:
 *
 *   POST /v1/chat/completions
 *     stream: true  -> `text/event-stream`, one `data: <chat.completion.chunk>\n\n`
 *                      per event: first chunk `delta: {role:'assistant', content:''}`,
 *                      one chunk per word-ish content piece, a chunk with
 *                      `finish_reason: 'stop'` and an empty delta, then (only if
 *                      `stream_options.include_usage`) a usage chunk with
 *                      `choices: []` (every other chunk then carries `usage: null`),
 *                      then `data: [DONE]\n\n`.
 *     otherwise     -> one `chat.completion` JSON object.
 *   GET  /v1/models  -> `{object:'list', data:[...]}` (cheap, for clients that probe).
 *   POST /v1/embeddings -> deterministic vectors (openai-tools.ts), for a Letta server's archival memory.
 *   With `tools` offering Letta's memory tools, a fresh user turn is answered with a tool call and the
 *   tool result with text (`options.toolCall`, openai-tools.ts), as the model behind a Letta agent would.
 *   anything else   -> 404 `{"error":{"message":"Invalid URL (POST /v1/x)",...}}`.
 *
 * Errors use OpenAI's body shape `{"error":{"message","type","param","code"}}`
 * so the SDK raises its typed `APIError` subclasses with `.status`.
 *
 * ```ts
 * const server = await startOpenAIServer({ apiKey: 'sk-test' });
 * const client = new OpenAI({ baseURL: server.baseURL, apiKey: 'sk-test', maxRetries: 0 });
 * server.options.ttftMs = 500;              // options are live: change them any time
 * server.failNext(1, { status: 429 });      // next request -> 429 rate_limit_exceeded
 * server.failMidStream(3);                  // next stream: socket destroyed after 3 content chunks
 * server.stallMidStream(3);                 // next stream: stops writing after 3 chunks, never ends
 * server.stallMidStream(0);                 // next stream: headers and the role chunk, then nothing
 * server.endStreamEarly(3, 'length');       // next stream: 3 chunks, finish_reason "length", [DONE]
 * server.endStreamEarly(3, null);           // next stream: 3 chunks, then the body ends (no finish_reason, no [DONE])
 * server.options.hang = true;               // every request: never answered at all
 * server.requests[0].body.messages;         // what the client sent (+ headers, receivedAt)
 * server.responses[0].firstContentAt;       // when the first content chunk was written
 * await server.close();                     // also destroys keep-alive / hung sockets
 * ```
 *
 * Note: the SDK retries 408/409/429/5xx and dropped connections twice by
 * default; pass `maxRetries: 0` when a test wants to see a fault surface.
 * All times are `performance.now()` milliseconds (see `faults.ts#now`).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionCreateParams,
  ChatCompletionMessageParam,
} from 'openai/resources/chat/completions';
import type { CompletionUsage } from 'openai/resources/completions';
import { embeddingsResponse, memoryToolCall, toolCallChunks, toolCallCompletion, type PlannedToolCall } from './openai-tools.js';
import {
  FaultQueue,
  dropConnection,
  ParseFailure,
  SocketTracker,
  headersOf,
  isPlainObject,
  listen,
  now,
  parseJson,
  readBody,
  sendJson,
  sleep,
  startSse,
  stopListening,
  untilAborted,
  writeSseData,
} from './faults.js';

/** The request body as the server saw it (validated just enough to answer). */
export type ChatRequestBody = ChatCompletionCreateParams;

export interface OpenAIServerOptions {
  /** When set, `Authorization: Bearer <apiKey>` is required (401 otherwise). */
  apiKey: string | null;
  /** Text of the assistant reply. Default: derived from the last user message. */
  reply: (req: ChatRequestBody) => string;
  /** Delay between the role chunk and the first content chunk (streaming), or before answering (non-streaming). */
  ttftMs: number;
  /** Delay before each content chunk after the first. */
  tokenDelayMs: number;
  /**
   * Prefill: extra time to first token per 1,000 prompt tokens (the `usage.prompt_tokens` this server reports), added
   * to `ttftMs`. Default 0. A model's time to first token grows with the prompt it must read first; OpenAI's latency
   * guide ("Use fewer input tokens", platform.openai.com/docs/guides/latency-optimization) calls the effect small
   * but real, so benchmarks set a value here to see what memory in the prompt costs (see scripts/prompt-size.ts).
   */
  prefillMsPerKTokens: number;
  /** Never answer any request (no status line, no body) until `close()`. */
  hang: boolean;
  /** `system_fingerprint` echoed in every response. */
  systemFingerprint: string;
  /**
   * A function call to answer with instead of text (see openai-tools.ts); default: a memory tool call when the
   * request offers Letta's memory tools and the last message is not a tool result, as a model behind Letta would.
   */
  toolCall: (req: ChatRequestBody) => PlannedToolCall | null;
}

/** One request received by the server, in arrival order. */
export interface RecordedOpenAIRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  /** Parsed JSON body (`undefined` for no body, raw text if it was not JSON). */
  body: ChatRequestBody;
  rawBody: string;
  receivedAt: number;
}

/** Timing of one chat-completions response, in the order requests arrived. */
export interface ResponseTiming {
  /** Index into `server.requests`. */
  requestIndex: number;
  stream: boolean;
  status: number;
  /** When the status line + headers were written. */
  headersAt?: number;
  /** When the first chunk carrying non-empty `delta.content` was written. */
  firstContentAt?: number;
  /** When the last chunk (or the whole JSON body) was written. */
  lastChunkAt?: number;
  /** Content chunks written so far. */
  contentChunks: number;
  /** When each content chunk was written, with its text (benchmarks find which token a TTS request waited for). */
  contentChunkLog?: Array<{ at: number; text: string }>;
  /** The stream ended with `data: [DONE]` (or the JSON body was sent). */
  completed: boolean;
  /** The server dropped the connection on purpose (`failMidStream`). */
  droppedByFault: boolean;
  /** The stream ended before the whole reply on purpose (`endStreamEarly`). */
  endedEarly?: boolean;
  /** The client went away before the response was complete. */
  clientAborted: boolean;
}

export interface HttpFault {
  status: number;
  /** Response body. Default: OpenAI's own error JSON for that status. */
  body?: unknown;
  headers?: Record<string, string>;
}

/**
 * Finish reasons the API sends when a reply stops before the model was done (ChatCompletionChunk.Choice
 * `finish_reason` in node_modules/openai/resources/chat/completions/completions.d.ts: "length" when max_tokens or
 * the context ran out, "content_filter" when content was omitted by a filter), or none at all: the body simply ends,
 * as when a proxy or a crashing server closes the chunked response (the SDK's Stream then ends its iteration quietly,
 * node_modules/openai/core/streaming.js).
 */
export type EarlyEnd = 'length' | 'content_filter' | null;

type MidStreamFault =
  | { afterTokens: number; mode: 'destroy' | 'stall' }
  | { afterTokens: number; mode: 'end'; finishReason: EarlyEnd };

export interface OpenAIServer {
  /** `http://127.0.0.1:<port>/v1`, ready for `new OpenAI({ baseURL })`. */
  readonly baseURL: string;
  readonly port: number;
  /** Live options: mutate them between (or during) requests. */
  readonly options: OpenAIServerOptions;
  readonly requests: RecordedOpenAIRequest[];
  readonly responses: ResponseTiming[];
  /** Chat-completion request bodies only (convenience over `requests`). */
  chatRequests(): ChatRequestBody[];
  /** The next `n` chat requests fail with an HTTP error (before any streaming). */
  failNext(n: number, fault: HttpFault): void;
  /** The next `times` streams: the socket is destroyed after `afterTokens` content chunks. */
  failMidStream(afterTokens: number, times?: number): void;
  /** The next `times` streams: writing stops after `afterTokens` chunks; the response never ends. */
  stallMidStream(afterTokens: number, times?: number): void;
  /**
   * The next `times` streams end cleanly after `afterTokens` content chunks: with `finishReason` set, a chunk carrying
   * it, then [DONE] (what the API sends on max_tokens / a content filter); with null, the body just ends.
   */
  endStreamEarly(afterTokens: number, finishReason: EarlyEnd, times?: number): void;
  /** The next `n` chat requests are never answered (like `options.hang`, but one-shot). */
  hangNext(n: number): void;
  /** Drops queued faults and recordings (options are kept). */
  reset(): void;
  close(): Promise<void>;
}

type Route = 'chat.completions';

/** Word-ish pieces, each keeping its leading whitespace (like BPE tokens do). */
export function tokenize(text: string): string[] {
  return text.match(/\s*\S+/g) ?? (text === '' ? [] : [text]);
}

/** Text of a message's content, whether a string or an array of parts. */
function textOf(message: ChatCompletionMessageParam): string {
  const content = message.content;
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((part) => ('text' in part && typeof part.text === 'string' ? part.text : '')).join('');
}

export function lastUserText(req: ChatRequestBody): string {
  const users = req.messages.filter((m) => m.role === 'user');
  const last = users[users.length - 1];
  return last === undefined ? '' : textOf(last);
}

export function defaultReply(req: ChatRequestBody): string {
  return `You said "${lastUserText(req)}". That is noted. Anything else?`;
}

const defaultOptions: OpenAIServerOptions = {
  apiKey: null,
  reply: defaultReply,
  ttftMs: 0,
  prefillMsPerKTokens: 0,
  tokenDelayMs: 0,
  hang: false,
  systemFingerprint: 'fp_local_test',
  toolCall: memoryToolCall,
};

/** OpenAI's error envelope. */
function openAIError(message: string, type: string, code: string | null, param: string | null = null): unknown {
  return { error: { message, type, param, code } };
}

/** Body the real API sends for common statuses, so SDK error messages look familiar. */
function defaultErrorBody(status: number): unknown {
  switch (status) {
    case 400:
      return openAIError('Bad request.', 'invalid_request_error', null);
    case 401:
      return openAIError('Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key');
    case 403:
      return openAIError('You are not allowed to sample from this model', 'invalid_request_error', null);
    case 404:
      return openAIError('The model does not exist or you do not have access to it.', 'invalid_request_error', 'model_not_found');
    case 429:
      return openAIError('Rate limit reached for requests. Please try again in 1s.', 'requests', 'rate_limit_exceeded');
    case 503:
      return openAIError('The engine is currently overloaded, please try again later', 'server_error', null);
    default:
      return status >= 500
        ? openAIError('The server had an error while processing your request. Sorry about that!', 'server_error', null)
        : openAIError(`Request failed with status ${status}.`, 'invalid_request_error', null);
  }
}

/** Rough token count: good enough for usage numbers that only need to be plausible. */
function countTokens(text: string): number {
  return tokenize(text).length;
}

function usageFor(req: ChatRequestBody, pieces: string[]): CompletionUsage {
  const prompt = req.messages.reduce((sum, m) => sum + countTokens(textOf(m)) + 4, 0);
  return {
    prompt_tokens: prompt,
    completion_tokens: pieces.length,
    total_tokens: prompt + pieces.length,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: 0,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}

/** Validates the body the way the API does for the fields we rely on; returns an error body or null. */
function validateChatBody(body: unknown): { status: number; body: unknown } | null {
  if (body === ParseFailure || !isPlainObject(body)) {
    return {
      status: 400,
      body: openAIError(
        'We could not parse the JSON body of your request. (HINT: This likely means you aren\'t using your HTTP library correctly.)',
        'invalid_request_error',
        null,
      ),
    };
  }
  if (typeof body.model !== 'string' || body.model === '') {
    return { status: 400, body: openAIError('you must provide a model parameter', 'invalid_request_error', null) };
  }
  if (!Array.isArray(body.messages)) {
    return {
      status: 400,
      body: openAIError("Missing required parameter: 'messages'.", 'invalid_request_error', 'missing_required_parameter', 'messages'),
    };
  }
  if (body.messages.length === 0) {
    return {
      status: 400,
      body: openAIError("Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.", 'invalid_request_error', 'empty_array', 'messages'),
    };
  }
  return null;
}

class OpenAIServerImpl implements OpenAIServer {
  readonly options: OpenAIServerOptions;
  readonly requests: RecordedOpenAIRequest[] = [];
  readonly responses: ResponseTiming[] = [];
  port = 0;

  private readonly server: Server;
  private readonly sockets = new SocketTracker();
  private readonly stopped = new AbortController();
  private readonly httpFaults = new FaultQueue<Route, HttpFault | 'hang'>();
  private readonly midStreamFaults = new FaultQueue<Route, MidStreamFault>();

  constructor(options: OpenAIServerOptions) {
    this.options = options;
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        // A bug in the fake must not look like a provider error: make it loud.
        console.error('[openai-server] handler crashed', err);
        sendJson(res, 500, openAIError(String(err), 'server_error', null));
      });
    });
    this.sockets.attach(this.server);
  }

  get baseURL(): string {
    return `http://127.0.0.1:${this.port}/v1`;
  }

  async start(): Promise<void> {
    this.port = await listen(this.server, 0);
  }

  chatRequests(): ChatRequestBody[] {
    return this.requests.filter((r) => r.path === '/v1/chat/completions').map((r) => r.body);
  }

  failNext(n: number, fault: HttpFault): void {
    this.httpFaults.push(n, fault);
  }

  hangNext(n: number): void {
    this.httpFaults.push(n, 'hang');
  }

  failMidStream(afterTokens: number, times = 1): void {
    this.midStreamFaults.push(times, { afterTokens, mode: 'destroy' });
  }

  stallMidStream(afterTokens: number, times = 1): void {
    this.midStreamFaults.push(times, { afterTokens, mode: 'stall' });
  }

  endStreamEarly(afterTokens: number, finishReason: EarlyEnd, times = 1): void {
    this.midStreamFaults.push(times, { afterTokens, mode: 'end', finishReason });
  }

  reset(): void {
    this.httpFaults.clear();
    this.midStreamFaults.clear();
    this.requests.length = 0;
    this.responses.length = 0;
  }

  async close(): Promise<void> {
    this.stopped.abort();
    await stopListening(this.server, this.sockets);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const receivedAt = now();
    const rawBody = await readBody(req);
    const parsed = parseJson(rawBody);
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const method = req.method ?? 'GET';
    this.requests.push({
      method,
      path,
      headers: headersOf(req),
      // Recorded as sent; only chat requests that pass validation are guaranteed to be well-formed.
      body: (parsed === ParseFailure ? rawBody : parsed) as ChatRequestBody,
      rawBody,
      receivedAt,
    });
    const requestIndex = this.requests.length - 1;

    if (this.options.hang) return this.hangForever();
    if (!this.authorized(req, res)) return;

    if (method === 'GET' && path === '/v1/models') return this.listModels(res);
    if (method === 'POST' && path === '/v1/embeddings') return sendJson(res, ...embeddingsResponse(parsed));
    if (method !== 'POST' || path !== '/v1/chat/completions') {
      sendJson(res, 404, openAIError(`Invalid URL (${method} ${path})`, 'invalid_request_error', null));
      return;
    }

    const invalid = validateChatBody(parsed);
    if (invalid !== null) return sendJson(res, invalid.status, invalid.body);
    const body = parsed as ChatRequestBody;

    const fault = this.httpFaults.take('chat.completions');
    if (fault === 'hang') return this.hangForever();
    if (fault !== undefined) {
      sendJson(res, fault.status, fault.body ?? defaultErrorBody(fault.status), fault.headers);
      return;
    }

    const timing: ResponseTiming = {
      requestIndex,
      stream: body.stream === true,
      status: 200,
      contentChunks: 0,
      completed: false,
      droppedByFault: false,
      clientAborted: false,
    };
    this.responses.push(timing);
    res.once('close', () => {
      if (!timing.completed && !timing.droppedByFault) timing.clientAborted = true;
    });

    const toolCall = this.options.toolCall(body);
    if (toolCall !== null) await this.answerToolCall(body, toolCall, res, timing);
    else if (body.stream === true) await this.stream(body, res, timing);
    else await this.complete(body, res, timing);
  }

  private authorized(req: IncomingMessage, res: ServerResponse): boolean {
    if (this.options.apiKey === null) return true;
    const header = req.headers.authorization;
    if (header === undefined || !header.startsWith('Bearer ')) {
      sendJson(
        res,
        401,
        openAIError(
          "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
          'invalid_request_error',
          null,
        ),
      );
      return false;
    }
    if (header.slice('Bearer '.length) !== this.options.apiKey) {
      sendJson(res, 401, openAIError('Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key'));
      return false;
    }
    return true;
  }

  private listModels(res: ServerResponse): void {
    sendJson(res, 200, {
      object: 'list',
      data: [{ id: 'gpt-4o-mini', object: 'model', created: 1721172741, owned_by: 'system' }],
    });
  }

  /** Never answers; the socket is destroyed by `close()`. */
  private async hangForever(): Promise<void> {
    await untilAborted(this.stopped.signal);
  }

  private get isStopped(): boolean {
    return this.stopped.signal.aborted;
  }

  private responseHeaders(): Record<string, string> {
    return { 'x-request-id': `req_${randomUUID().replace(/-/g, '')}`, 'openai-processing-ms': '1' };
  }

  /** A function call instead of text, whole or streamed (openai-tools.ts), after the usual time to first token. */
  /** Time to first token for this request: the fixed part plus prefill of its prompt. */
  private ttftFor(body: ChatRequestBody): number {
    if (this.options.prefillMsPerKTokens <= 0) return this.options.ttftMs;
    const promptTokens = body.messages.reduce((sum, m) => sum + countTokens(textOf(m)) + 4, 0);
    return this.options.ttftMs + (promptTokens / 1000) * this.options.prefillMsPerKTokens;
  }

  private async answerToolCall(body: ChatRequestBody, call: PlannedToolCall, res: ServerResponse, timing: ResponseTiming): Promise<void> {
    await sleep(this.ttftFor(body), this.stopped.signal);
    if (this.isStopped) return;
    timing.headersAt = now();
    if (body.stream !== true) {
      sendJson(res, 200, toolCallCompletion(body, call, this.options.systemFingerprint), this.responseHeaders());
    } else {
      startSse(res, this.responseHeaders());
      for (const chunk of toolCallChunks(body, call, this.options.systemFingerprint)) if (!writeSseData(res, JSON.stringify(chunk))) return;
      if (!writeSseData(res, '[DONE]')) return;
      res.end();
    }
    timing.firstContentAt = timing.lastChunkAt = now();
    timing.completed = true;
  }

  private async complete(body: ChatRequestBody, res: ServerResponse, timing: ResponseTiming): Promise<void> {
    const text = this.options.reply(body);
    const pieces = tokenize(text);
    await sleep(this.ttftFor(body) + this.options.tokenDelayMs * Math.max(0, pieces.length - 1), this.stopped.signal);
    if (this.isStopped) return;
    const completion: ChatCompletion = {
      id: `chatcmpl-${randomUUID().replace(/-/g, '')}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: body.model,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: text, refusal: null, annotations: [] },
          logprobs: null,
          finish_reason: 'stop',
        },
      ],
      usage: usageFor(body, pieces),
      service_tier: 'default',
      system_fingerprint: this.options.systemFingerprint,
    };
    timing.headersAt = now();
    sendJson(res, 200, completion, this.responseHeaders());
    timing.firstContentAt = timing.lastChunkAt = now();
    timing.contentChunks = pieces.length;
    timing.completed = true;
  }

  private async stream(body: ChatRequestBody, res: ServerResponse, timing: ResponseTiming): Promise<void> {
    const includeUsage = body.stream_options?.include_usage === true;
    const pieces = tokenize(this.options.reply(body));
    const fault = this.midStreamFaults.take('chat.completions');
    const base = {
      id: `chatcmpl-${randomUUID().replace(/-/g, '')}`,
      object: 'chat.completion.chunk' as const,
      created: Math.floor(Date.now() / 1000),
      model: body.model,
      service_tier: 'default' as const,
      system_fingerprint: this.options.systemFingerprint,
    };
    // With include_usage, every chunk but the last carries `usage: null` (documented API behaviour).
    const chunk = (choices: ChatCompletionChunk['choices'], usage?: CompletionUsage): ChatCompletionChunk =>
      includeUsage ? { ...base, choices, usage: usage ?? null } : { ...base, choices };
    const write = (c: ChatCompletionChunk): boolean => {
      const ok = writeSseData(res, JSON.stringify(c));
      if (ok) timing.lastChunkAt = now();
      return ok;
    };

    startSse(res, this.responseHeaders());
    timing.headersAt = now();
    if (!write(chunk([{ index: 0, delta: { role: 'assistant', content: '', refusal: null }, logprobs: null, finish_reason: null }]))) return;

    const endEarly = (finishReason: EarlyEnd): void => {
      if (finishReason !== null) {
        if (!write(chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: finishReason }]))) return;
        if (includeUsage && !write(chunk([], usageFor(body, pieces.slice(0, timing.contentChunks))))) return;
        if (!writeSseData(res, '[DONE]')) return;
      }
      timing.lastChunkAt = now();
      timing.completed = finishReason !== null;
      timing.endedEarly = true;
      res.end();
    };

    for (let i = 0; i < pieces.length; i++) {
      if (fault?.mode === 'end' && timing.contentChunks >= fault.afterTokens) return endEarly(fault.finishReason);
      if (fault !== undefined && fault.mode !== 'end' && timing.contentChunks >= fault.afterTokens) return this.applyMidStreamFault(fault, res, timing);
      await sleep(i === 0 ? this.ttftFor(body) : this.options.tokenDelayMs, this.stopped.signal);
      if (this.isStopped) return;
      if (!write(chunk([{ index: 0, delta: { content: pieces[i] }, logprobs: null, finish_reason: null }]))) return;
      timing.contentChunks += 1;
      timing.firstContentAt ??= timing.lastChunkAt;
      (timing.contentChunkLog ??= []).push({ at: timing.lastChunkAt ?? now(), text: pieces[i] });
    }
    if (fault?.mode === 'end') return endEarly(fault.finishReason);
    if (fault !== undefined) return this.applyMidStreamFault(fault, res, timing);

    if (!write(chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }]))) return;
    if (includeUsage && !write(chunk([], usageFor(body, pieces)))) return;
    if (!writeSseData(res, '[DONE]')) return;
    timing.lastChunkAt = now();
    timing.completed = true;
    res.end();
  }

  private async applyMidStreamFault(fault: { mode: 'destroy' | 'stall' }, res: ServerResponse, timing: ResponseTiming): Promise<void> {
    if (fault.mode === 'destroy') {
      timing.droppedByFault = true;
      dropConnection(res);
      return;
    }
    await untilAborted(this.stopped.signal);
  }
}

export async function startOpenAIServer(opts: Partial<OpenAIServerOptions> = {}): Promise<OpenAIServer> {
  const server = new OpenAIServerImpl({ ...defaultOptions, ...opts });
  await server.start();
  return server;
}
