/**
 * Local Letta API server for tests: the endpoints a Letta client worker calls,
 * with the paths, bodies and responses of `@letta-ai/letta-client` 1.12.1 and
 * the Letta server (FastAPI) behaviour behind them. Listens on 127.0.0.1 with a
 * random port; `baseURL` has no `/v1` (the SDK adds it).
 *
 * Endpoints (SDK method -> route name used by the fault API):
 *   GET   /v1/health/                                  health            -> {version, status}
 *   GET   /v1/agents/?name=&limit=&after=&before=&order= agents.list     -> AgentState[] (newest first by default)
 *   POST  /v1/agents/                                  agents.create     -> AgentState (id `agent-<uuid4>`)
 *   GET   /v1/agents/:id                               agents.retrieve   -> AgentState
 *   GET   /v1/agents/:id/core-memory/blocks            blocks.list       -> Block[]
 *   GET   /v1/agents/:id/core-memory/blocks/:label     blocks.retrieve   -> Block
 *   PATCH /v1/agents/:id/core-memory/blocks/:label     blocks.update     -> Block
 *   POST  /v1/agents/:id/messages                      messages.create   -> LettaResponse, or SSE when `streaming: true`
 *   POST  /v1/agents/:id/messages/stream (deprecated)  messages.stream   -> SSE (streaming forced on)
 *   GET   /v1/agents/:id/messages                      messages.list     -> Message[] (newest first by default, limit 100)
 *   POST  /v1/agents/:id/archival-memory               passages.create   -> Passage[]
 *   GET   /v1/agents/:id/archival-memory               passages.list     -> Passage[] (oldest first by default)
 *   GET   /v1/agents/:id/archival-memory/search?query=  passages.search   -> {count, results:[{id, content, timestamp, tags}]}
 *   POST  /v1/agents/:id/messages/cancel               messages.cancel   -> {<run_id>: 'cancelled' | 'failed'} (see letta-runs.ts)
 *   GET   /v1/runs/:run_id                             runs.retrieve     -> Run (status running/completed/failed/cancelled)
 *   GET   /v1/runs?agent_id=&active=                   runs.list         -> Run[] (newest first)
 *   DELETE /v1/agents/:id                              agents.delete     -> {message} (routers/v1/agents.py delete_agent)
 *   POST  /v1/blocks/                                  blocks.create     -> Block, standalone (shareable via block_ids)
 *   GET   /v1/blocks/?label=&tags=&match_all_tags=     blocks.listAll    -> Block[] (oldest first by default, limit 50;
 *         routers/v1/blocks.py list_blocks at 0.16.8, ordered by created_at then id in block_manager.get_blocks_async)
 *   DELETE /v1/blocks/:id                              blocks.delete     -> null; detaches it from every agent first
 *         (block_manager.delete_block_async at 0.16.8); unknown id -> 404 (NoResultFound)
 *   `agents.create` attaches existing blocks named in `block_ids` (unknown ids ignored, as the `id IN (...)` select
 *   in agent_manager.create_agent_async at 0.16.8) before the blocks it creates from `memory_blocks`; an attached
 *   block is the same block for every agent (an edit shows in all of them).
 *         (ranked by shared words instead of embeddings; top_k defaults to 5; tags/tag_match_mode/dates filter)
 *
 * Protocol details reproduced from the real server:
 *   - Auth: `Authorization: Bearer <key>`; with `apiKey` set anything else -> 401 `{"detail":"Unauthorized"}`.
 *   - Agent ids in paths must look like `agent-<uuid4>` (FastAPI path validation) or the
 *     answer is 422, NOT 404; a well-formed unknown id -> 404 `{"detail":"Agent not found"}`.
 *   - Bad bodies -> 422 in FastAPI's shape `{"detail":[{type, loc, msg, input}]}`; e.g. neither
 *     `messages` nor `input` -> `Value error, Must specify either 'input' or 'messages'.`
 *     Streaming-only options without `streaming: true` (stream_tokens, include_pings=false,
 *     background) -> 422 `{"detail":"Streaming options set without streaming enabled. ..."}`.
 *   - SSE: `data: <json>\n\n` per item, then `data: [DONE]\n\n`. Like Letta's
 *     StreamingResponse, the status line and headers are only sent with the FIRST item,
 *     so the SDK's `create()` resolves when the agent produces its first output (or a ping).
 *   - A turn: [reasoning_message] [tool_call_message + tool_return_message (memory_insert /
 *     core_memory_append into the `human` block, really applied)] assistant_message,
 *     then stop_reason {stop_reason:'end_turn'} and usage_statistics. With `stream_tokens`
 *     reasoning and assistant text arrive as one chunk per word-ish token; all chunks of a
 *     message share its `id` and `otid` (otid derived from the id like Letta's
 *     `generate_otid_from_id`). Without `stream_tokens` (or with `forceStepStreaming`, like
 *     Letta for providers it cannot token-stream), one complete message per item.
 *   - Pings (`include_pings`, default true as on the server): a `ping` item after every
 *     `pingIntervalMs` of silence (Letta: 30 s; lower it to see pings in a test).
 *   - Processing continues when the client disconnects (Letta shields the agent loop), so a
 *     turn whose client timed out is still applied. Use `await server.idle()` before asserting.
 *   - Input messages are NOT de-duplicated by `otid` (as on the real route, see storeClientMessages): a
 *     resent message is stored again and runs another agent step. Repeats: `server.duplicatesOf(id)`.
 *   - Model variants (options): hiddenReasoning (hidden_reasoning_message), assistantContentForm 'list'
 *     (content as text parts), interleaveReasoning (two assistant messages under one id in one step).
 *   - Not emulated: runs/background resume, `seq_id`, conversations, tools/sources, the
 *     SDK-version check for streaming, an initial system message in the history.
 *
 * Timing of a turn: client messages are stored on arrival (after `latencyMs`); each agent
 * step then "thinks" for `messageLatencyMs` and emits tokens `tokenDelayMs` apart (two steps
 * when the memory tool is called). `streamMode: 'buffered'` keeps the same processing time
 * but holds every item until the turn is over.
 *
 * Test API (all options live: `server.options.messageLatencyMs = 3000` works mid-test):
 *   state:  seedAgent({name, blocks}), agentState(id), agentIds(), blocksOf(id), block(id, label),
 *           messagesOf(id), userMessagesOf(id), clientMessagesOf(id), duplicatesOf(id), passagesOf(id)
 *   timing: requests[] (route, body, headers, receivedAt), responses[] (per message request:
 *           headersAt, firstItemAt, firstAssistantAt, lastItemAt, ...), idle()
 *   concurrency: maxConcurrentPerAgent(id, kind) / inFlight(id, kind), kind 'messages' (default:
 *           message sends), 'writes' (+ block updates, passage inserts) or 'all'. A request counts
 *           from routing until its work AND its (possibly delayed) answer are done, client gone or not.
 *   faults (one-shot, FIFO, optionally restricted to route names above):
 *           failNext(n, status, {route, body}) -> error answer, nothing applied,
 *           failWith422Next(n, {route, detail}) -> FastAPI-style 422, nothing applied,
 *           conflictNext(n, 'busy' | 'locked' | 'pending-approval', route) -> Letta's 409 bodies (letta409),
 *           hangNext(n, route)                 -> never answered, nothing applied,
 *           slowApplyNext(n, delayMs, route)   -> write applied as usual, answer held delayMs more
 *                                                 (a "3 s write": slowApplyNext(1, 3000, 'messages.create');
 *                                                 a streamed answer sends nothing, not even pings, until then),
 *           dropAfterApplyNext(n, route)       -> write applied, then the connection is dropped unanswered,
 *           failMidStream(afterItems, {mode, times}) -> next stream breaks after N data items (pings not
 *                                                 counted): 'destroy' drops the socket (turn still completes),
 *                                                 'error-event' sends Letta's `event: error` (turn stops),
 *           stallAfterPingNext(n)              -> next n streams send Letta's initial run ping (run_id, as
 *                                                 prepend_initial_run_ping in letta/services/streaming_service.py
 *                                                 at 0.16.8), then nothing until the run is cancelled,
 *           refuse() / accept()                -> listener closed (ECONNREFUSED, in-flight work aborted
 *                                                 like a crash) / re-opened on the SAME port.
 * All times are `performance.now()` milliseconds (see `faults.ts#now`).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AgentState, AgentType, MessageCreate } from '@letta-ai/letta-client/resources/agents/agents';
import type {
  AssistantMessage,
  HiddenReasoningMessage,
  LettaResponse,
  LettaStreamingResponse,
  Message,
  MessageType,
  ReasoningMessage,
  SystemMessage,
  ToolCallMessage,
  UserMessage,
} from '@letta-ai/letta-client/resources/agents/messages';
import type { BlockResponse } from '@letta-ai/letta-client/resources/blocks/blocks';
import type { Passage } from '@letta-ai/letta-client/resources/passages';
import type { ToolReturnMessage } from '@letta-ai/letta-client/resources/tools';
import { LettaRuns } from './letta-runs.js';
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
  type RouteFilter,
} from './faults.js';

// ---------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------

export type LettaRoute =
  | 'health'
  | 'agents.list'
  | 'agents.create'
  | 'agents.retrieve'
  | 'blocks.list'
  | 'blocks.retrieve'
  | 'blocks.update'
  | 'messages.create'
  | 'messages.stream'
  | 'messages.list'
  | 'passages.create'
  | 'passages.list'
  | 'passages.search'
  | 'messages.cancel'
  | 'runs.retrieve'
  | 'runs.list'
  | 'agents.delete'
  | 'blocks.create'
  | 'blocks.listAll'
  | 'blocks.delete';

export interface LettaServerOptions {
  /** When set, `Authorization: Bearer <apiKey>` is required (401 otherwise). */
  apiKey: string | null;
  /** Delay added to every request before it is handled (network + database). */
  latencyMs: number;
  /** "LLM time" before each agent step produces output (first token). */
  messageLatencyMs: number;
  /** Delay before each further token chunk of reasoning / assistant text. */
  tokenDelayMs: number;
  /**
   * 'tokens': items are written as the agent produces them.
   * 'buffered': like the real server measured in the seed report: nothing for the whole
   * LLM time, then every item within a few ms.
   */
  streamMode: 'tokens' | 'buffered';
  /**
   * Ignore `stream_tokens` and stream one whole message per step, as Letta does when the
   * agent's model provider does not support token streaming (default false).
   */
  forceStepStreaming: boolean;
  /** Silence after which a keepalive `ping` item is written (when `include_pings`). */
  pingIntervalMs: number;
  /** Emit a reasoning_message before acting (default true, so tests can prove it is never spoken). */
  includeReasoning: boolean;
  /** Emit a memory tool call + return that really appends to the `human` block (default true). */
  includeToolCalls: boolean;
  /** Assistant reply text for a user message. */
  replyFor: (agent: AgentState, userText: string) => string;
  /** Reasoning text for a user message. */
  reasoningFor: (agent: AgentState, userText: string) => string;
  /** Fact the agent stores in its `human` block; null = no tool call this turn. */
  memoryFactFor: (agent: AgentState, userText: string) => string | null;
  /**
   * Play an OpenAI reasoning model: a `hidden_reasoning_message` (state "omitted", no text) before the step's
   * first output (letta 0.16.8, letta/interfaces/openai_streaming_interface.py, "For OpenAI reasoning models, emit
   * a hidden reasoning message before the first tool call"). Default false.
   */
  hiddenReasoning: boolean;
  /**
   * Assistant `content` as a string or as a list of text parts (letta 0.16.8, letta/schemas/letta_message.py
   * AssistantMessage.content: `Union[str, List[LettaAssistantMessageContentUnion]]`). Default 'string'.
   */
  assistantContentForm: 'string' | 'list';
  /**
   * Split the reply into two assistant messages with reasoning between them, all under the step's one message id
   * (letta 0.16.8, openai_streaming_interface.py: every item of a step carries `self.letta_message_id`, the otid
   * index moves on when the message type changes). Default false.
   */
  interleaveReasoning: boolean;
  /**
   * Archival search time on top of `latencyMs`: Letta embeds the query (a call to the embedding provider) and runs a
   * vector search before it answers (letta 0.16.8, letta/server/rest_api/routers/v1/agents.py
   * `search_archival_memory` -> AgentManager.search_agent_archival_memory_async). A function draws one value per
   * search (e.g. 150-400 ms). Default 0.
   */
  searchLatencyMs?: number | (() => number);
}

/** A message in an agent's history, as the server stored it. */
export interface StoredMessage {
  /** Server-wide arrival order (strictly increasing). */
  seq: number;
  agentId: string;
  /** `message-<uuid4>` */
  id: string;
  role: 'user' | 'assistant' | 'system' | 'tool';
  messageType: MessageType;
  /** 'client' = sent in a request body; 'agent' = produced by the agent's turn. */
  source: 'client' | 'agent';
  /** Plain text: content parts joined; reasoning text; tool arguments; tool return. */
  text: string;
  otid: string | null;
  receivedAt: number;
  /** Index into `server.requests` of the request that carried / produced it. */
  requestIndex: number;
  /** The object `GET /v1/agents/:id/messages` returns for it. */
  letta: Message;
}

export interface RecordedLettaRequest {
  method: string;
  path: string;
  route: LettaRoute | null;
  agentId: string | null;
  query: Record<string, string | string[]>;
  headers: Record<string, string>;
  /** Parsed JSON body (`undefined` if none, the raw text if not JSON). */
  body: unknown;
  receivedAt: number;
}

/** Timing of one messages.create / messages.stream response. */
export interface LettaResponseTiming {
  requestIndex: number;
  route: LettaRoute;
  agentId: string;
  streaming: boolean;
  streamTokens: boolean;
  /** When the status line and headers were written. */
  headersAt?: number;
  /** First data item (pings excluded). */
  firstItemAt?: number;
  /** First assistant_message item. */
  firstAssistantAt?: number;
  /** Last data item or [DONE] / JSON body. */
  lastItemAt?: number;
  /** Data items written, pings excluded. */
  items: number;
  pings: number;
  completed: boolean;
  clientAborted: boolean;
  droppedByFault: boolean;
}

export type ConcurrencyKind = 'messages' | 'writes' | 'all';

export interface SeedBlock {
  label: string;
  value: string;
  limit?: number;
  description?: string;
}

export interface SeedAgentInput {
  name?: string;
  blocks?: SeedBlock[];
  agentType?: AgentType;
  model?: string;
  tags?: string[];
  system?: string;
}

export type Letta409Kind = 'busy' | 'locked' | 'pending-approval';

/**
 * Letta 0.16.8's 409 answers, status + body + headers as its handlers write them:
 * - 'busy': ConversationBusyError (letta/errors.py; letta/server/rest_api/app.py `_conversation_busy_handler`:
 *   `{"detail": str(exc), "run_id"?}`, str(exc) = "CONFLICT: <message>"), clears when the other run ends;
 * - 'locked': DatabaseLockNotAvailableError (app.py `database_lock_not_available_handler`, `Retry-After: 1`);
 * - 'pending-approval': PendingApprovalError on the messages route (letta/server/rest_api/routers/v1/agents.py:
 *   `HTTPException(409, detail={"code": "PENDING_APPROVAL", "message", "pending_request_id"})`), which only a
 *   person approving or denying the tool call clears.
 */
export function letta409(kind: Letta409Kind, ids: { runId?: string; pendingRequestId?: string } = {}): { body: unknown; headers?: Record<string, string> } {
  if (kind === 'locked') return { body: { detail: 'The resource is currently locked by another operation. Please retry shortly.' }, headers: { 'Retry-After': '1' } };
  if (kind === 'pending-approval') {
    const message = 'CONFLICT: Cannot send a new message: The agent is waiting for approval on a tool call. Please approve or deny the pending request before continuing.';
    return { body: { detail: { code: 'PENDING_APPROVAL', message, pending_request_id: ids.pendingRequestId ?? newId('message') } } };
  }
  const runId = ids.runId ?? newId('run');
  return {
    body: {
      detail: `CONFLICT: Cannot send a new message: Another request (run_id=${runId}) is currently being processed for this conversation. Please wait for it to complete.`,
      run_id: runId,
    },
  };
}

export interface FailOptions {
  route?: RouteFilter<LettaRoute>;
  /** Response body; default is Letta's `{"detail": ...}` for that status. */
  body?: unknown;
  headers?: Record<string, string>;
}

export interface LettaServer {
  /** `http://127.0.0.1:<port>` (no `/v1`: the SDK adds it). Stable across refuse()/accept(). */
  readonly baseURL: string;
  readonly port: number;
  readonly options: LettaServerOptions;
  readonly requests: RecordedLettaRequest[];
  readonly responses: LettaResponseTiming[];

  seedAgent(input?: SeedAgentInput): AgentState;
  agentIds(): string[];
  agentState(agentId: string): AgentState | undefined;
  blocksOf(agentId: string): BlockResponse[];
  block(agentId: string, label: string): BlockResponse | undefined;
  /** Whole history (client + agent messages) in arrival order. */
  messagesOf(agentId: string): StoredMessage[];
  /** Messages sent by clients with role 'user'. */
  userMessagesOf(agentId: string): StoredMessage[];
  /** Every message sent by clients (user, assistant, system roles). */
  clientMessagesOf(agentId: string): StoredMessage[];
  /** Client messages whose otid had been stored before (stored again, as the real server does). */
  duplicatesOf(agentId: string): StoredMessage[];
  passagesOf(agentId: string): Passage[];
  /** Highest number of simultaneous requests on one agent ever seen (processing time, not socket time). */
  maxConcurrentPerAgent(agentId: string, kind?: ConcurrencyKind): number;
  /** Requests being processed right now for this agent. */
  inFlight(agentId: string, kind?: ConcurrencyKind): number;
  /** Resolves once no request is being processed (turns continue after clients disconnect). */
  idle(timeoutMs?: number): Promise<void>;

  failNext(n: number, status: number, opts?: FailOptions): void;
  failWith422Next(n: number, opts?: { route?: RouteFilter<LettaRoute>; detail?: unknown }): void;
  /** The next `n` requests get one of Letta's 409 answers (see `letta409`), nothing applied. */
  conflictNext(n: number, kind: Letta409Kind, route?: RouteFilter<LettaRoute>): void;
  hangNext(n: number, route?: RouteFilter<LettaRoute>): void;
  slowApplyNext(n: number, delayMs: number, route?: RouteFilter<LettaRoute>): void;
  dropAfterApplyNext(n: number, route?: RouteFilter<LettaRoute>): void;
  failMidStream(afterItems: number, opts?: { mode?: 'destroy' | 'error-event'; times?: number }): void;
  clearFaults(): void;
  /** The next `n` streams: Letta's initial run ping, then nothing until the run is cancelled (a stuck agent loop). */
  stallAfterPingNext(n: number): void;
  /** Runs and their cancellation (letta-runs.ts). */
  readonly runs: LettaRuns;

  /** Close the listener and every socket: clients get ECONNREFUSED until accept(). */
  refuse(): Promise<void>;
  /** Listen again on the same port. */
  accept(): Promise<void>;
  readonly accepting: boolean;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------
// Defaults and small helpers
// ---------------------------------------------------------------------------

const DEFAULT_BLOCK_LIMIT = 20_000;
/** Letta's default page size for archival search when top_k is not given. */
const RETRIEVAL_DEFAULT_TOP_K = 5;
const SERVER_VERSION = '0.16.0';

/** Two halves at a word boundary (the second keeps its leading space); one part for a single word. */
function splitInTwo(text: string): string[] {
  const pieces = tokenize(text);
  if (pieces.length < 2) return [text];
  const half = Math.ceil(pieces.length / 2);
  // Each assistant message is its own generation: the second does not start with the space that joined the words.
  return [pieces.slice(0, half).join(''), pieces.slice(half).join('').trimStart()];
}

/** Word-ish pieces, each keeping its leading whitespace (LLM tokens usually do). */
function tokenize(text: string): string[] {
  return text.match(/\s*\S+/g) ?? (text === '' ? [] : [text]);
}

function isoNow(): string {
  return new Date().toISOString();
}

function newId(prefix: string): string {
  return `${prefix}-${randomUUID()}`;
}

/**
 * Letta derives the otid of the n-th LettaMessage of a stored Message from its id:
 * the uuid with its lowest 7 bits replaced by the index (`Message.generate_otid_from_id`).
 */
export function otidFromId(messageId: string, index: number): string {
  const hex = messageId.replace(/^message-/, '').replace(/-/g, '');
  const value = (BigInt(`0x${hex}`) & ~0x7fn) | BigInt(index & 0x7f);
  const out = value.toString(16).padStart(32, '0');
  return `${out.slice(0, 8)}-${out.slice(8, 12)}-${out.slice(12, 16)}-${out.slice(16, 20)}-${out.slice(20)}`;
}

const AGENT_ID_PATTERN = /^agent-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((part: unknown) => (isPlainObject(part) && typeof part.text === 'string' ? part.text : ''))
    .join('');
}

function defaultReply(_agent: AgentState, userText: string): string {
  return `Got it: "${userText}". I will keep that in mind. What else is on your mind?`;
}

function defaultReasoning(_agent: AgentState, userText: string): string {
  return `The user said "${userText}". I should remember it and answer briefly.`;
}

function defaultMemoryFact(_agent: AgentState, userText: string): string | null {
  return userText.trim() === '' ? null : `User said: ${userText}`;
}

const defaultOptions: LettaServerOptions = {
  apiKey: null,
  latencyMs: 0,
  messageLatencyMs: 20,
  tokenDelayMs: 5,
  streamMode: 'tokens',
  forceStepStreaming: false,
  pingIntervalMs: 30_000,
  includeReasoning: true,
  includeToolCalls: true,
  replyFor: defaultReply,
  reasoningFor: defaultReasoning,
  memoryFactFor: defaultMemoryFact,
  hiddenReasoning: false,
  assistantContentForm: 'string',
  interleaveReasoning: false,
};

// --- FastAPI / Letta error bodies -------------------------------------------

interface ValidationIssue {
  type: string;
  loc: Array<string | number>;
  msg: string;
  input: unknown;
}

function validation(...issues: ValidationIssue[]): { detail: ValidationIssue[] } {
  return { detail: issues };
}

function missing(loc: Array<string | number>, input: unknown): ValidationIssue {
  return { type: 'missing', loc, msg: 'Field required', input: input ?? null };
}

function defaultFaultBody(status: number): unknown {
  if (status === 401) return { detail: 'Unauthorized' };
  if (status === 404) return { detail: 'Not Found' };
  if (status === 422) return validation({ type: 'value_error', loc: ['body'], msg: 'Value error, injected validation failure', input: null });
  if (status === 429) return { detail: 'Rate limit exceeded' };
  if (status >= 500) return { detail: 'An internal server error occurred' };
  return { detail: `Request failed with status ${status}` };
}

// ---------------------------------------------------------------------------
// Internal state
// ---------------------------------------------------------------------------

type Fault =
  | { kind: 'status'; status: number; body: unknown; headers?: Record<string, string> }
  | { kind: 'hang' }
  | { kind: 'slow'; delayMs: number }
  | { kind: 'drop-after-apply' }
  | { kind: 'stall-after-ping' };

interface MidStreamFault {
  afterItems: number;
  mode: 'destroy' | 'error-event';
}

/** An agent without the block list, which lives in AgentRecord.blocks. */
type AgentCore = Omit<AgentState, 'blocks' | 'memory'> & { memory: Omit<AgentState['memory'], 'blocks'> };

interface AgentRecord {
  core: AgentCore;
  blocks: BlockResponse[];
  messages: StoredMessage[];
  duplicates: StoredMessage[];
  passages: Passage[];
  otids: Set<string>;
  inFlight: Record<ConcurrencyKind, number>;
  maxInFlight: Record<ConcurrencyKind, number>;
}

interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  route: LettaRoute;
  agentId: string | null;
  label: string | null;
  query: URLSearchParams;
  body: unknown;
  requestIndex: number;
  /** One-shot delivery fault (slow / drop-after-apply) to apply when answering. */
  deliveryFault?: Fault;
  /** Aborted by refuse()/close(): the "server process" died. */
  signal: AbortSignal;
}

interface RouteMatch {
  route: LettaRoute;
  agentId: string | null;
  label: string | null;
}

/** Maps method + path to a route; 'method' = path exists with another method (405). */
function matchRoute(method: string, path: string): RouteMatch | 'method' | null {
  const seg = path.split('/').filter((s) => s !== '');
  if (seg[0] !== 'v1') return null;
  const on = (routes: Partial<Record<string, LettaRoute>>, agentId: string | null = null, label: string | null = null) => {
    const route = routes[method];
    return route === undefined ? ('method' as const) : { route, agentId, label };
  };
  if (seg.length === 2 && seg[1] === 'health') return on({ GET: 'health' });
  // The run id travels in the `label` slot: runs are the one top-level resource with an id in the path.
  if (seg.length === 3 && seg[1] === 'runs') return on({ GET: 'runs.retrieve' }, null, decodeURIComponent(seg[2]));
  if (seg.length === 2 && seg[1] === 'runs') return on({ GET: 'runs.list' });
  if (seg.length === 2 && seg[1] === 'blocks') return on({ GET: 'blocks.listAll', POST: 'blocks.create' });
  // The block id travels in the `label` slot, like the run id above.
  if (seg.length === 3 && seg[1] === 'blocks') return on({ DELETE: 'blocks.delete' }, null, decodeURIComponent(seg[2]));
  if (seg[1] !== 'agents') return null;
  if (seg.length === 2) return on({ GET: 'agents.list', POST: 'agents.create' });
  const agentId = decodeURIComponent(seg[2]);
  const rest = seg.slice(3).join('/');
  if (rest === '') return on({ GET: 'agents.retrieve', DELETE: 'agents.delete' }, agentId);
  if (rest === 'core-memory/blocks') return on({ GET: 'blocks.list' }, agentId);
  if (seg.length === 6 && rest.startsWith('core-memory/blocks/')) {
    return on({ GET: 'blocks.retrieve', PATCH: 'blocks.update' }, agentId, decodeURIComponent(seg[5]));
  }
  if (rest === 'messages') return on({ GET: 'messages.list', POST: 'messages.create' }, agentId);
  if (rest === 'messages/stream') return on({ POST: 'messages.stream' }, agentId);
  if (rest === 'messages/cancel') return on({ POST: 'messages.cancel' }, agentId);
  if (rest === 'archival-memory') return on({ GET: 'passages.list', POST: 'passages.create' }, agentId);
  if (rest === 'archival-memory/search') return on({ GET: 'passages.search' }, agentId);
  return null;
}

const WRITE_ROUTES: ReadonlySet<LettaRoute> = new Set(['messages.create', 'messages.stream', 'blocks.update', 'passages.create']);
const MESSAGE_ROUTES: ReadonlySet<LettaRoute> = new Set(['messages.create', 'messages.stream']);

function concurrencyKinds(route: LettaRoute): ConcurrencyKind[] {
  const kinds: ConcurrencyKind[] = ['all'];
  if (WRITE_ROUTES.has(route)) kinds.push('writes');
  if (MESSAGE_ROUTES.has(route)) kinds.push('messages');
  return kinds;
}

/** Cursor pagination shared by the list endpoints (Letta's before/after/limit/order). */
function paginate<T extends { id?: string }>(
  items: T[],
  query: URLSearchParams,
  defaultOrder: 'asc' | 'desc',
  defaultLimit: number | null,
): T[] {
  const ascendingParam = query.get('ascending');
  const order = query.get('order') ?? (ascendingParam === null ? defaultOrder : ascendingParam === 'true' ? 'asc' : 'desc');
  let list = order === 'desc' ? [...items].reverse() : [...items];
  const after = query.get('after');
  const before = query.get('before');
  if (after !== null) list = list.slice(list.findIndex((i) => i.id === after) + 1);
  if (before !== null) {
    const at = list.findIndex((i) => i.id === before);
    list = at < 0 ? list : list.slice(0, at);
  }
  const limitParam = query.get('limit');
  const limit = limitParam === null ? defaultLimit : Number(limitParam);
  if (limit === null || !Number.isFinite(limit)) return list;
  // "before" pages end right at the cursor: keep the items closest to it.
  return before !== null ? list.slice(Math.max(0, list.length - limit)) : list.slice(0, limit);
}

function queryObject(query: URLSearchParams): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const key of new Set(query.keys())) {
    const all = query.getAll(key);
    out[key] = all.length === 1 ? all[0] : all;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Agent turns
// ---------------------------------------------------------------------------

/** What an agent turn produces: valid both as a stored Message and as a stream item. */
type AgentMessage = ReasoningMessage | HiddenReasoningMessage | ToolCallMessage | ToolReturnMessage | AssistantMessage;

/** LLM time, one streamed piece of a message (plus the complete message), or a side effect. */
type TurnEvent =
  | { kind: 'think'; ms: number }
  | { kind: 'chunk'; ms: number; item: AgentMessage; message: AgentMessage }
  | { kind: 'apply'; run: () => void };

interface TurnPlan {
  events: TurnEvent[];
  usage: LettaResponse.Usage;
}

/** Receives a turn's output: chunks as they are produced, and each message once complete. */
interface TurnSink {
  chunk(item: AgentMessage): void;
  message(message: AgentMessage): void;
  /** true = stop processing (the "server" failed mid-turn). */
  aborted(): boolean;
}

/** Per-request settings of a messages.create / messages.stream call. */
interface TurnRequest {
  streaming: boolean;
  streamTokens: boolean;
  includePings: boolean;
  /** include_return_message_types filter. */
  keep: (item: LettaStreamingResponse) => boolean;
  /** Every input message was a duplicate (otid already stored): answer, but store nothing. */
  replay: boolean;
  runId: string;
  timing: LettaResponseTiming;
}

const STOP_END_TURN: LettaStreamingResponse.LettaStopReason = { message_type: 'stop_reason', stop_reason: 'end_turn' };

interface MemoryEdit {
  toolName: 'memory_insert' | 'core_memory_append';
  args: Record<string, unknown>;
  /** Applies the edit; returns the tool's result. */
  apply: () => { status: 'success' | 'error'; text: string };
}

function messageBase(id: string, otid: string, runId: string, stepId: string) {
  return { id, date: isoNow(), name: null, otid, sender_id: null, step_id: stepId, is_err: null, seq_id: null, run_id: runId };
}

/** Token chunks of a text message: same id/otid, one piece of text each. */
function textChunks<M extends ReasoningMessage | AssistantMessage>(
  message: M,
  text: string,
  tokenDelayMs: number,
  withText: (m: M, piece: string) => M,
): TurnEvent[] {
  return tokenize(text).map((piece, i) => ({
    kind: 'chunk' as const,
    ms: i === 0 ? 0 : tokenDelayMs,
    item: withText(message, piece),
    message,
  }));
}

// ---------------------------------------------------------------------------
// SSE writer with Letta's lazy headers and keepalive pings
// ---------------------------------------------------------------------------

class LettaSse {
  private headersSent = false;
  private pingTimer: NodeJS.Timeout | undefined;
  private ended = false;
  failed: 'destroy' | 'error-event' | null = null;

  constructor(
    private readonly res: ServerResponse,
    private readonly timing: LettaResponseTiming,
    private readonly pingIntervalMs: number | null,
    private readonly runId: string,
    private readonly midStream: MidStreamFault | undefined,
  ) {}

  get gone(): boolean {
    return this.ended || this.failed !== null || this.res.destroyed || this.res.writableEnded;
  }

  startKeepalive(): void {
    this.schedulePing();
  }

  /**
   * With include_pings, Letta writes a run_id-bearing ping before the agent's first chunk, so the status line
   * and headers go out at once (letta 0.16.8, letta/services/streaming_service.py `prepend_initial_run_ping`,
   * applied in `create_agent_stream` when `request.include_pings and run`).
   */
  initialPing(): void {
    this.ping();
  }

  write(item: LettaStreamingResponse): void {
    if (this.gone) return;
    if (this.midStream !== undefined && this.timing.items >= this.midStream.afterItems) return this.fail(this.midStream.mode);
    this.raw(`data: ${JSON.stringify(item)}\n\n`);
    const at = now();
    this.timing.items += 1;
    this.timing.firstItemAt ??= at;
    this.timing.lastItemAt = at;
    if (item.message_type === 'assistant_message') this.timing.firstAssistantAt ??= at;
  }

  done(): void {
    if (this.gone) return this.stopPings();
    this.raw('data: [DONE]\n\n');
    this.timing.lastItemAt = now();
    this.timing.completed = true;
    this.finish();
  }

  stopPings(): void {
    clearTimeout(this.pingTimer);
    this.pingTimer = undefined;
  }

  private fail(mode: 'destroy' | 'error-event'): void {
    this.failed = mode;
    this.stopPings();
    if (mode === 'destroy') {
      this.timing.droppedByFault = true;
      dropConnection(this.res);
      return;
    }
    // What Letta sends when the agent loop raises mid-stream (letta 0.16.8, letta/services/streaming_service.py
    // `_create_error_aware_stream`, the LLMError branch): a failing stop_reason, an `error_message` event, [DONE].
    const errorMessage = { message_type: 'error_message', run_id: this.runId, error_type: 'llm_error', message: 'An error occurred with the LLM request.', detail: 'Injected mid-stream failure', seq_id: null };
    this.raw(`data: ${JSON.stringify({ message_type: 'stop_reason', stop_reason: 'llm_api_error' })}\n\n`);
    this.raw(`event: error\ndata: ${JSON.stringify(errorMessage)}\n\n`);
    this.raw('data: [DONE]\n\n');
    this.finish();
  }

  private finish(): void {
    this.ended = true;
    this.stopPings();
    this.res.end();
  }

  private raw(text: string): void {
    if (!this.headersSent) {
      startSse(this.res, { 'x-accel-buffering': 'no' });
      this.headersSent = true;
      this.timing.headersAt = now();
    }
    this.res.write(text);
    this.schedulePing();
  }

  private schedulePing(): void {
    if (this.pingIntervalMs === null) return;
    clearTimeout(this.pingTimer);
    this.pingTimer = setTimeout(() => this.ping(), this.pingIntervalMs);
  }

  private ping(): void {
    if (this.gone) return;
    const ping: LettaStreamingResponse.LettaPing = {
      id: newId('ping'),
      date: isoNow(),
      message_type: 'ping',
      name: null,
      otid: null,
      sender_id: null,
      step_id: null,
      is_err: null,
      seq_id: null,
      run_id: this.runId,
    };
    this.raw(`data: ${JSON.stringify(ping)}\n\n`);
    this.timing.pings += 1;
  }
}

// ---------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------

class LettaServerImpl implements LettaServer {
  readonly options: LettaServerOptions;
  readonly requests: RecordedLettaRequest[] = [];
  readonly responses: LettaResponseTiming[] = [];
  port = 0;

  private readonly server: Server;
  private readonly sockets = new SocketTracker();
  private readonly agents = new Map<string, AgentRecord>();
  /** Blocks created on their own (POST /v1/blocks/), in creation order. */
  private readonly standaloneBlocks: BlockResponse[] = [];
  private readonly faults = new FaultQueue<LettaRoute, Fault>();
  private readonly midStreamFaults = new FaultQueue<LettaRoute, MidStreamFault>();
  /** Replaced on accept(): aborting it is "the server process died". */
  private lifetime = new AbortController();
  private seq = 0;
  readonly runs = new LettaRuns();

  constructor(options: LettaServerOptions) {
    this.options = options;
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        // A bug in the fake must not pass for a provider error: make it loud.
        console.error('[letta-server] handler crashed', err);
        sendJson(res, 500, { detail: `letta-server bug: ${String(err)}` });
      });
    });
    this.sockets.attach(this.server);
  }

  get baseURL(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get accepting(): boolean {
    return this.server.listening;
  }

  async start(): Promise<void> {
    this.port = await listen(this.server, 0);
  }

  // --- test-facing state ----------------------------------------------------

  seedAgent(input: SeedAgentInput = {}): AgentState {
    const blocks = input.blocks ?? [
      { label: 'persona', value: 'I am a friendly voice assistant.' },
      { label: 'human', value: '' },
    ];
    const record = this.createAgentRecord({
      name: input.name ?? `agent-${this.agents.size + 1}`,
      agentType: input.agentType ?? 'letta_v1_agent',
      model: input.model ?? 'openai/gpt-4o-mini',
      tags: input.tags ?? [],
      system: input.system ?? 'You are a helpful assistant with persistent memory.',
      blocks: blocks.map((b) => this.newBlock(b)),
      description: null,
      metadata: null,
    });
    return this.toAgentState(record);
  }

  agentIds(): string[] {
    return [...this.agents.keys()];
  }

  agentState(agentId: string): AgentState | undefined {
    const record = this.agents.get(agentId);
    return record === undefined ? undefined : this.toAgentState(record);
  }

  blocksOf(agentId: string): BlockResponse[] {
    return structuredClone(this.agents.get(agentId)?.blocks ?? []);
  }

  block(agentId: string, label: string): BlockResponse | undefined {
    return this.blocksOf(agentId).find((b) => b.label === label);
  }

  messagesOf(agentId: string): StoredMessage[] {
    return structuredClone(this.agents.get(agentId)?.messages ?? []);
  }

  userMessagesOf(agentId: string): StoredMessage[] {
    return this.messagesOf(agentId).filter((m) => m.source === 'client' && m.role === 'user');
  }

  clientMessagesOf(agentId: string): StoredMessage[] {
    return this.messagesOf(agentId).filter((m) => m.source === 'client');
  }

  duplicatesOf(agentId: string): StoredMessage[] {
    return structuredClone(this.agents.get(agentId)?.duplicates ?? []);
  }

  passagesOf(agentId: string): Passage[] {
    return structuredClone(this.agents.get(agentId)?.passages ?? []);
  }

  maxConcurrentPerAgent(agentId: string, kind: ConcurrencyKind = 'messages'): number {
    return this.agents.get(agentId)?.maxInFlight[kind] ?? 0;
  }

  inFlight(agentId: string, kind: ConcurrencyKind = 'messages'): number {
    return this.agents.get(agentId)?.inFlight[kind] ?? 0;
  }

  async idle(timeoutMs = 10_000): Promise<void> {
    const deadline = now() + timeoutMs;
    const busy = () => [...this.agents.values()].some((a) => a.inFlight.all > 0);
    while (busy()) {
      if (now() > deadline) throw new Error(`letta-server still busy after ${timeoutMs} ms`);
      await sleep(5);
    }
  }

  // --- faults ---------------------------------------------------------------

  failNext(n: number, status: number, opts: FailOptions = {}): void {
    this.faults.push(n, { kind: 'status', status, body: opts.body ?? defaultFaultBody(status), headers: opts.headers }, opts.route);
  }

  failWith422Next(n: number, opts: { route?: RouteFilter<LettaRoute>; detail?: unknown } = {}): void {
    const body = opts.detail === undefined ? defaultFaultBody(422) : { detail: opts.detail };
    this.faults.push(n, { kind: 'status', status: 422, body }, opts.route);
  }

  conflictNext(n: number, kind: Letta409Kind, route?: RouteFilter<LettaRoute>): void {
    const { body, headers } = letta409(kind);
    this.failNext(n, 409, { body, ...(headers ? { headers } : {}), ...(route === undefined ? {} : { route }) });
  }

  hangNext(n: number, route?: RouteFilter<LettaRoute>): void {
    this.faults.push(n, { kind: 'hang' }, route);
  }

  slowApplyNext(n: number, delayMs: number, route?: RouteFilter<LettaRoute>): void {
    this.faults.push(n, { kind: 'slow', delayMs }, route);
  }

  dropAfterApplyNext(n: number, route?: RouteFilter<LettaRoute>): void {
    this.faults.push(n, { kind: 'drop-after-apply' }, route);
  }

  failMidStream(afterItems: number, opts: { mode?: 'destroy' | 'error-event'; times?: number } = {}): void {
    this.midStreamFaults.push(opts.times ?? 1, { afterItems, mode: opts.mode ?? 'destroy' });
  }

  stallAfterPingNext(n: number): void {
    this.faults.push(n, { kind: 'stall-after-ping' }, ['messages.create', 'messages.stream']);
  }

  clearFaults(): void {
    this.faults.clear();
    this.midStreamFaults.clear();
  }

  // --- lifecycle ------------------------------------------------------------

  async refuse(): Promise<void> {
    this.lifetime.abort();
    await stopListening(this.server, this.sockets);
  }

  async accept(): Promise<void> {
    if (this.server.listening) return;
    this.lifetime = new AbortController();
    await listen(this.server, this.port);
  }

  async close(): Promise<void> {
    this.lifetime.abort();
    await stopListening(this.server, this.sockets);
  }

  // --- request handling -----------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const receivedAt = now();
    const signal = this.lifetime.signal;
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = req.method ?? 'GET';
    const rawBody = await readBody(req);
    const parsed = parseJson(rawBody);
    const match = matchRoute(method, url.pathname);
    const routeMatch = typeof match === 'object' && match !== null ? match : null;
    this.requests.push({
      method,
      path: url.pathname,
      route: routeMatch?.route ?? null,
      agentId: routeMatch?.agentId ?? null,
      query: queryObject(url.searchParams),
      headers: headersOf(req),
      body: parsed === ParseFailure ? rawBody : parsed,
      receivedAt,
    });
    const requestIndex = this.requests.length - 1;

    await sleep(this.options.latencyMs, signal);
    if (signal.aborted) return;
    if (!this.authorized(req)) return sendJson(res, 401, { detail: 'Unauthorized' });
    if (match === null) return sendJson(res, 404, { detail: 'Not Found' });
    if (match === 'method') return sendJson(res, 405, { detail: 'Method Not Allowed' });

    const fault = this.faults.take(match.route);
    if (fault?.kind === 'status') return sendJson(res, fault.status, fault.body, fault.headers);
    if (fault?.kind === 'hang') return untilAborted(signal);

    const ctx: RequestContext = {
      req,
      res,
      route: match.route,
      agentId: match.agentId,
      label: match.label,
      query: url.searchParams,
      body: parsed,
      requestIndex,
      deliveryFault: fault,
      signal,
    };
    if (parsed === ParseFailure) {
      return sendJson(res, 422, validation({ type: 'json_invalid', loc: ['body', 0], msg: 'JSON decode error', input: {} }));
    }
    if (ctx.agentId === null) return this.handleTopLevel(ctx);
    return this.handleAgentRoute(ctx, ctx.agentId);
  }

  private authorized(req: IncomingMessage): boolean {
    if (this.options.apiKey === null) return true;
    return req.headers.authorization === `Bearer ${this.options.apiKey}`;
  }

  private handleTopLevel(ctx: RequestContext): Promise<void> | void {
    switch (ctx.route) {
      case 'health':
        return this.deliver(ctx, 200, { version: SERVER_VERSION, status: 'ok' });
      case 'agents.list':
        return this.listAgents(ctx);
      case 'agents.create':
        return this.createAgent(ctx);
      case 'blocks.create':
        return this.createStandaloneBlock(ctx);
      case 'blocks.listAll':
        return this.listStandaloneBlocks(ctx);
      case 'blocks.delete':
        return this.deleteBlock(ctx, ctx.label ?? '');
      case 'runs.retrieve': {
        const answer = this.runs.retrieve(ctx.label ?? '');
        return answer.status === 200 ? this.deliver(ctx, 200, answer.body) : sendJson(ctx.res, answer.status, answer.body);
      }
      case 'runs.list':
        return this.listRuns(ctx);
      default:
        return sendJson(ctx.res, 404, { detail: 'Not Found' });
    }
  }

  /**
   * GET /v1/runs?agent_id=&active= (letta 0.16.8, letta/server/rest_api/routers/v1/runs.py `list_runs`: newest first,
   * limit 100; `active=true` means status created or running).
   */
  private listRuns(ctx: RequestContext): Promise<void> {
    const agentId = ctx.query.get('agent_id') ?? undefined;
    const active = ctx.query.get('active') === 'true';
    const runs = this.runs
      .ids(agentId)
      .map((id) => this.runs.retrieve(id).body as { id: string; status?: string; created_at?: string })
      .filter((run) => !active || run.status === 'created' || run.status === 'running');
    return this.deliver(ctx, 200, paginate(runs, ctx.query, 'desc', 100));
  }

  private async handleAgentRoute(ctx: RequestContext, agentId: string): Promise<void> {
    if (!AGENT_ID_PATTERN.test(agentId)) {
      return sendJson(
        ctx.res,
        422,
        validation({
          type: 'string_pattern_mismatch',
          loc: ['path', 'agent_id'],
          msg: `String should match pattern '${AGENT_ID_PATTERN.source}'`,
          input: agentId,
        }),
      );
    }
    const agent = this.agents.get(agentId);
    if (agent === undefined) return sendJson(ctx.res, 404, { detail: 'Agent not found' });

    const kinds = concurrencyKinds(ctx.route);
    for (const kind of kinds) {
      agent.inFlight[kind] += 1;
      agent.maxInFlight[kind] = Math.max(agent.maxInFlight[kind], agent.inFlight[kind]);
    }
    try {
      await this.dispatchAgentRoute(ctx, agent);
    } finally {
      for (const kind of kinds) agent.inFlight[kind] -= 1;
    }
  }

  private dispatchAgentRoute(ctx: RequestContext, agent: AgentRecord): Promise<void> | void {
    switch (ctx.route) {
      case 'agents.retrieve':
        return this.deliver(ctx, 200, this.toAgentState(agent));
      case 'agents.delete':
        this.agents.delete(agent.core.id);
        return this.deliver(ctx, 200, { message: `Agent id=${agent.core.id} successfully deleted` });
      case 'blocks.list':
        return this.deliver(ctx, 200, paginate(agent.blocks, ctx.query, 'asc', null));
      case 'blocks.retrieve':
        return this.retrieveBlock(ctx, agent);
      case 'blocks.update':
        return this.updateBlock(ctx, agent);
      case 'messages.list':
        return this.listMessages(ctx, agent);
      case 'messages.create':
      case 'messages.stream':
        return this.sendMessages(ctx, agent);
      case 'messages.cancel': {
        const answer = this.runs.cancel(agent.core.id, ctx.body);
        return answer.status === 200 ? this.deliver(ctx, 200, answer.body) : sendJson(ctx.res, answer.status, answer.body);
      }
      case 'passages.create':
        return this.createPassage(ctx, agent);
      case 'passages.list':
        return this.listPassages(ctx, agent);
      case 'passages.search':
        return this.searchPassages(ctx, agent);
      default:
        return sendJson(ctx.res, 404, { detail: 'Not Found' });
    }
  }

  /**
   * Sends a successful answer, honouring one-shot delivery faults: the work is
   * already done, then the answer is late (slow) or never comes (drop).
   */
  private async deliver(ctx: RequestContext, status: number, body: unknown): Promise<void> {
    const fault = ctx.deliveryFault;
    if (fault?.kind === 'slow') {
      await sleep(fault.delayMs, ctx.signal);
      if (ctx.signal.aborted) return;
    }
    if (fault?.kind === 'drop-after-apply') {
      dropConnection(ctx.res);
      return;
    }
    sendJson(ctx.res, status, body);
  }

  // --- agents ---------------------------------------------------------------

  private listAgents(ctx: RequestContext): Promise<void> {
    const name = ctx.query.get('name');
    const tags = ctx.query.getAll('tags');
    const matchAll = ctx.query.get('match_all_tags') === 'true';
    const all = [...this.agents.values()].filter((a) => {
      if (name !== null && a.core.name !== name) return false;
      if (tags.length === 0) return true;
      return matchAll ? tags.every((t) => a.core.tags.includes(t)) : tags.some((t) => a.core.tags.includes(t));
    });
    const page = paginate(all.map((a) => this.toAgentState(a)), ctx.query, 'desc', 50);
    return this.deliver(ctx, 200, page);
  }

  private createAgent(ctx: RequestContext): Promise<void> | void {
    const body = ctx.body;
    if (!isPlainObject(body)) return sendJson(ctx.res, 422, validation(missing(['body'], body)));
    const blocksInput = body.memory_blocks ?? [];
    if (!Array.isArray(blocksInput)) {
      return sendJson(ctx.res, 422, validation({ type: 'list_type', loc: ['body', 'memory_blocks'], msg: 'Input should be a valid list', input: blocksInput }));
    }
    const issues: ValidationIssue[] = [];
    const blocks: SeedBlock[] = [];
    blocksInput.forEach((b: unknown, i) => {
      if (!isPlainObject(b)) return issues.push(missing(['body', 'memory_blocks', i], b));
      if (typeof b.label !== 'string') issues.push(missing(['body', 'memory_blocks', i, 'label'], b));
      if (typeof b.value !== 'string') issues.push(missing(['body', 'memory_blocks', i, 'value'], b));
      if (typeof b.label === 'string' && typeof b.value === 'string') {
        blocks.push({
          label: b.label,
          value: b.value,
          limit: typeof b.limit === 'number' ? b.limit : undefined,
          description: typeof b.description === 'string' ? b.description : undefined,
        });
      }
    });
    if (issues.length > 0) return sendJson(ctx.res, 422, validation(...issues));

    const record = this.createAgentRecord({
      name: typeof body.name === 'string' ? body.name : `agent-${this.agents.size + 1}`,
      agentType: (typeof body.agent_type === 'string' ? body.agent_type : 'letta_v1_agent') as AgentType,
      model: typeof body.model === 'string' ? body.model : 'openai/gpt-4o-mini',
      tags: Array.isArray(body.tags) ? body.tags.filter((t): t is string => typeof t === 'string') : [],
      system: typeof body.system === 'string' ? body.system : 'You are a helpful assistant with persistent memory.',
      blocks: [...this.blocksById(body.block_ids), ...blocks.map((b) => this.newBlock(b))],
      description: typeof body.description === 'string' ? body.description : null,
      metadata: isPlainObject(body.metadata) ? body.metadata : null,
    });
    return this.deliver(ctx, 200, this.toAgentState(record));
  }

  private blocksById(ids: unknown): BlockResponse[] {
    if (!Array.isArray(ids)) return [];
    const known = [...this.standaloneBlocks, ...[...this.agents.values()].flatMap((a) => a.blocks)];
    return [...new Set(ids)].flatMap((id) => known.find((b) => b.id === id) ?? []);
  }

  private createStandaloneBlock(ctx: RequestContext): Promise<void> | void {
    const body = ctx.body;
    if (!isPlainObject(body)) return sendJson(ctx.res, 422, validation(missing(['body'], body)));
    if (typeof body.label !== 'string') return sendJson(ctx.res, 422, validation(missing(['body', 'label'], body)));
    if (typeof body.value !== 'string') return sendJson(ctx.res, 422, validation(missing(['body', 'value'], body)));
    const block = this.newBlock({
      label: body.label,
      value: body.value,
      limit: typeof body.limit === 'number' ? body.limit : undefined,
      description: typeof body.description === 'string' ? body.description : undefined,
    });
    block.read_only = body.read_only === true;
    block.tags = Array.isArray(body.tags) ? body.tags.filter((t): t is string => typeof t === 'string') : [];
    this.standaloneBlocks.push(block);
    return this.deliver(ctx, 200, structuredClone(block));
  }

  private deleteBlock(ctx: RequestContext, blockId: string): Promise<void> | void {
    const known = [...this.standaloneBlocks, ...[...this.agents.values()].flatMap((a) => a.blocks)].some((b) => b.id === blockId);
    if (!known) return sendJson(ctx.res, 404, { detail: `Block with id ${blockId} not found` });
    for (const agent of this.agents.values()) agent.blocks = agent.blocks.filter((b) => b.id !== blockId);
    const at = this.standaloneBlocks.findIndex((b) => b.id === blockId);
    if (at >= 0) this.standaloneBlocks.splice(at, 1);
    return this.deliver(ctx, 200, null);
  }

  private listStandaloneBlocks(ctx: RequestContext): Promise<void> {
    const label = ctx.query.get('label');
    const tags = ctx.query.getAll('tags');
    const matchAll = ctx.query.get('match_all_tags') === 'true';
    const found = this.standaloneBlocks.filter((b) => {
      if (label !== null && b.label !== label) return false;
      const own = b.tags ?? [];
      if (tags.length === 0) return true;
      return matchAll ? tags.every((t) => own.includes(t)) : tags.some((t) => own.includes(t));
    });
    return this.deliver(ctx, 200, paginate(found.map((b) => structuredClone(b)), ctx.query, 'asc', 50));
  }

  private createAgentRecord(input: {
    name: string;
    agentType: AgentType;
    model: string;
    tags: string[];
    system: string;
    blocks: BlockResponse[];
    description: string | null;
    metadata: Record<string, unknown> | null;
  }): AgentRecord {
    const id = newId('agent');
    const [provider, ...rest] = input.model.includes('/') ? input.model.split('/') : ['openai', input.model];
    const modelName = rest.join('/');
    const created = isoNow();
    const core: AgentCore = {
      id,
      name: input.name,
      agent_type: input.agentType,
      system: input.system,
      tags: input.tags,
      tools: [],
      sources: [],
      llm_config: {
        model: modelName,
        model_endpoint_type: 'openai',
        model_endpoint: 'https://api.openai.com/v1',
        context_window: 128_000,
        handle: `${provider}/${modelName}`,
        provider_name: provider,
        put_inner_thoughts_in_kwargs: false,
        temperature: 0.7,
        max_tokens: null,
        enable_reasoner: false,
      },
      embedding_config: null,
      memory: { agent_type: input.agentType, file_blocks: [], prompt_template: '' },
      model: input.model,
      embedding: null,
      description: input.description,
      metadata: input.metadata,
      created_at: created,
      updated_at: created,
      created_by_id: null,
      last_updated_by_id: null,
      message_ids: [],
      tool_rules: [],
      identity_ids: [],
      identities: [],
      tool_exec_environment_variables: [],
      secrets: [],
      project_id: null,
      template_id: null,
      base_template_id: null,
      deployment_id: null,
      entity_id: null,
      enable_sleeptime: null,
      multi_agent_group: null,
      managed_group: null,
      last_run_completion: null,
      last_run_duration_ms: null,
      last_stop_reason: null,
      response_format: null,
      timezone: 'UTC',
      max_files_open: 5,
      per_file_view_window_char_limit: 15_000,
      message_buffer_autoclear: false,
      hidden: null,
    };
    const record: AgentRecord = {
      core,
      blocks: input.blocks,
      messages: [],
      duplicates: [],
      passages: [],
      otids: new Set(),
      inFlight: { messages: 0, writes: 0, all: 0 },
      maxInFlight: { messages: 0, writes: 0, all: 0 },
    };
    this.agents.set(id, record);
    return record;
  }

  private newBlock(input: SeedBlock): BlockResponse {
    return {
      id: newId('block'),
      label: input.label,
      value: input.value,
      limit: input.limit ?? DEFAULT_BLOCK_LIMIT,
      description: input.description ?? null,
      metadata: {},
      read_only: false,
      is_template: false,
      template_name: null,
      template_id: null,
      base_template_id: null,
      deployment_id: null,
      entity_id: null,
      preserve_on_migration: false,
      project_id: null,
      hidden: null,
      tags: [],
      created_by_id: null,
      last_updated_by_id: null,
    };
  }

  private toAgentState(record: AgentRecord): AgentState {
    const blocks = structuredClone(record.blocks);
    return {
      ...structuredClone(record.core),
      message_ids: record.messages.map((m) => m.id),
      blocks,
      memory: { ...structuredClone(record.core.memory), blocks: structuredClone(blocks) },
    };
  }

  // --- blocks ---------------------------------------------------------------

  private findBlock(ctx: RequestContext, agent: AgentRecord): BlockResponse | undefined {
    const block = agent.blocks.find((b) => b.label === ctx.label);
    if (block === undefined) sendJson(ctx.res, 404, { detail: `Block with label '${ctx.label}' not found` });
    return block;
  }

  private retrieveBlock(ctx: RequestContext, agent: AgentRecord): Promise<void> | void {
    const block = this.findBlock(ctx, agent);
    if (block !== undefined) return this.deliver(ctx, 200, structuredClone(block));
  }

  private updateBlock(ctx: RequestContext, agent: AgentRecord): Promise<void> | void {
    const body = ctx.body;
    if (!isPlainObject(body)) return sendJson(ctx.res, 422, validation(missing(['body'], body)));
    const block = this.findBlock(ctx, agent);
    if (block === undefined) return;
    const value = typeof body.value === 'string' ? body.value : block.value;
    const limit = typeof body.limit === 'number' ? body.limit : (block.limit ?? DEFAULT_BLOCK_LIMIT);
    if (value.length > limit) {
      // Letta's Block validator raises a ValueError, which its handler maps to 400.
      return sendJson(ctx.res, 400, { detail: `Edit failed: Exceeds ${limit} character limit (requested ${value.length})` });
    }
    block.value = value;
    block.limit = limit;
    if (typeof body.label === 'string') block.label = body.label;
    if (typeof body.description === 'string' || body.description === null) block.description = body.description;
    if (isPlainObject(body.metadata)) block.metadata = body.metadata;
    if (typeof body.read_only === 'boolean') block.read_only = body.read_only;
    agent.core.updated_at = isoNow();
    return this.deliver(ctx, 200, structuredClone(block));
  }

  // --- archival memory ------------------------------------------------------

  private createPassage(ctx: RequestContext, agent: AgentRecord): Promise<void> | void {
    const body = ctx.body;
    if (!isPlainObject(body) || typeof body.text !== 'string') {
      return sendJson(ctx.res, 422, validation(missing(['body', 'text'], body)));
    }
    const created = typeof body.created_at === 'string' ? body.created_at : isoNow();
    const passage: Passage = {
      id: newId('passage'),
      text: body.text,
      tags: Array.isArray(body.tags) ? body.tags.filter((t): t is string => typeof t === 'string') : null,
      created_at: created,
      updated_at: created,
      embedding: null,
      embedding_config: null,
      archive_id: `archive-${agent.core.id.slice('agent-'.length)}`,
      file_id: null,
      file_name: null,
      source_id: null,
      metadata: {},
      is_deleted: false,
      created_by_id: null,
      last_updated_by_id: null,
    };
    agent.passages.push(passage);
    return this.deliver(ctx, 200, [structuredClone(passage)]);
  }

  private listPassages(ctx: RequestContext, agent: AgentRecord): Promise<void> {
    const search = ctx.query.get('search');
    const matching = search === null ? agent.passages : agent.passages.filter((p) => p.text.toLowerCase().includes(search.toLowerCase()));
    return this.deliver(ctx, 200, structuredClone(paginate(matching, ctx.query, 'asc', null)));
  }

  /**
   * Archival search. Letta ranks by embedding similarity; lacking embeddings we
   * rank by how many query words a passage shares (ties: newest first), which
   * keeps results deterministic while still returning the closest passages first.
   */
  private async searchPassages(ctx: RequestContext, agent: AgentRecord): Promise<void> {
    const query = ctx.query.get('query');
    if (query === null) return sendJson(ctx.res, 422, validation(missing(['query', 'query'], null)));
    const searchLatency = this.options.searchLatencyMs;
    await sleep(typeof searchLatency === 'function' ? searchLatency() : (searchLatency ?? 0), ctx.signal);
    if (ctx.signal.aborted) return;
    const tags = ctx.query.getAll('tags');
    const matchAll = ctx.query.get('tag_match_mode') === 'all';
    const start = ctx.query.get('start_datetime');
    const end = ctx.query.get('end_datetime');
    const topK = Number(ctx.query.get('top_k') ?? RETRIEVAL_DEFAULT_TOP_K);
    const words = (text: string) => new Set(text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []);
    const queryWords = words(query);
    const score = (p: Passage) => [...words(p.text)].filter((w) => queryWords.has(w)).length;
    const candidates = agent.passages.filter((p) => {
      const ptags = p.tags ?? [];
      if (tags.length > 0 && !(matchAll ? tags.every((t) => ptags.includes(t)) : tags.some((t) => ptags.includes(t)))) return false;
      const created = Date.parse(p.created_at ?? '');
      if (start !== null && created < Date.parse(start)) return false;
      if (end !== null && created > Date.parse(end)) return false;
      return true;
    });
    const ranked = candidates
      .map((p, i) => ({ p, i, s: score(p) }))
      .sort((a, b) => b.s - a.s || b.i - a.i)
      .slice(0, topK)
      .map(({ p }) => ({ id: p.id ?? '', content: p.text, timestamp: p.created_at ?? '', tags: p.tags ?? [] }));
    return this.deliver(ctx, 200, { results: ranked, count: ranked.length });
  }

  // --- messages -------------------------------------------------------------

  private listMessages(ctx: RequestContext, agent: AgentRecord): Promise<void> {
    const types = ctx.query.getAll('include_return_message_types');
    const letta = agent.messages.map((m) => m.letta).filter((m) => types.length === 0 || types.includes(m.message_type ?? ''));
    return this.deliver(ctx, 200, structuredClone(paginate(letta, ctx.query, 'desc', 100)));
  }

  /** Checks a send-message body like Letta's LettaStreamingRequest; returns the messages or answers 422. */
  private parseSendBody(ctx: RequestContext): { messages: MessageCreate[]; body: Record<string, unknown> } | null {
    const body = ctx.body;
    if (!isPlainObject(body)) {
      sendJson(ctx.res, 422, validation(missing(['body'], body)));
      return null;
    }
    if (ctx.route === 'messages.stream') body.streaming = true;
    const messages = inputMessages(body);
    if (!Array.isArray(messages)) {
      sendJson(ctx.res, 422, validation(messages));
      return null;
    }
    // Checked by the route after model validation, hence plain-string details.
    if (messages.length === 0) {
      sendJson(ctx.res, 422, { detail: 'Messages must not be empty' });
      return null;
    }
    const misplaced = streamingOnlyOptions(body);
    if (misplaced.length > 0) {
      sendJson(ctx.res, 422, {
        detail: `Streaming options set without streaming enabled. ${misplaced.join('; ')}. Either set streaming=true or use default values for streaming options.`,
      });
      return null;
    }
    // Approval responses and client tool returns are accepted but not modelled.
    return { messages: messages.filter((m) => m.type !== 'approval' && m.type !== 'tool_return') as unknown as MessageCreate[], body };
  }

  private async sendMessages(ctx: RequestContext, agent: AgentRecord): Promise<void> {
    const parsed = this.parseSendBody(ctx);
    if (parsed === null) return;
    const { messages, body } = parsed;
    const streaming = body.streaming === true;
    const streamTokens = streaming && body.stream_tokens === true && !this.options.forceStepStreaming;
    const typesFilter = Array.isArray(body.include_return_message_types) ? (body.include_return_message_types as string[]) : null;
    const turn: TurnRequest = {
      streaming,
      streamTokens,
      includePings: body.include_pings !== false,
      keep: (item) => typesFilter === null || !isMessageItem(item) || typesFilter.includes(item.message_type ?? ''),
      replay: false,
      runId: newId('run'),
      timing: {
        requestIndex: ctx.requestIndex,
        route: ctx.route,
        agentId: agent.core.id,
        streaming,
        streamTokens,
        items: 0,
        pings: 0,
        completed: false,
        clientAborted: false,
        droppedByFault: false,
      },
    };
    const lastUser = [...messages].reverse().find((m) => m.role === 'user');
    const plan = this.planTurn(agent, lastUser === undefined ? '' : contentText(lastUser.content), turn.runId, turn.replay);
    this.persistInputWithFirstStep(ctx, agent, messages, plan);

    this.responses.push(turn.timing);
    ctx.res.once('close', () => {
      if (!turn.timing.completed && !turn.timing.droppedByFault) turn.timing.clientAborted = true;
    });
    this.runs.start(turn.runId, agent.core.id);
    try {
      if (streaming && ctx.deliveryFault?.kind === 'stall-after-ping') return await this.stallAfterPing(ctx, turn);
      if (!streaming) return await this.answerWhole(ctx, agent, plan, turn);
      if (this.options.streamMode === 'tokens' && ctx.deliveryFault === undefined) return await this.streamLive(ctx, agent, plan, turn);
      return await this.streamBuffered(ctx, agent, plan, turn);
    } finally {
      // A server that died mid-turn never records an end: its run stays "running", as in Letta's database.
      if (!ctx.signal.aborted) this.runs.finish(turn.runId, 'completed', 'end_turn');
    }
  }

  /** The stall-after-ping fault: the initial run ping, then silence until the run is cancelled or the server dies. */
  private async stallAfterPing(ctx: RequestContext, turn: TurnRequest): Promise<void> {
    startSse(ctx.res, { 'x-accel-buffering': 'no' });
    turn.timing.headersAt = now();
    const ping: LettaStreamingResponse.LettaPing = {
      id: newId('ping'),
      date: isoNow(),
      message_type: 'ping',
      name: null,
      otid: null,
      sender_id: null,
      step_id: null,
      is_err: null,
      seq_id: null,
      run_id: turn.runId,
    };
    ctx.res.write(`data: ${JSON.stringify(ping)}\n\n`);
    turn.timing.pings += 1;
    while (!ctx.signal.aborted && !this.runs.noticeCancellation(turn.runId)) await sleep(50, ctx.signal);
    if (ctx.signal.aborted) return;
    if (!ctx.res.destroyed && !ctx.res.writableEnded) {
      ctx.res.write(`data: ${JSON.stringify({ message_type: 'stop_reason', stop_reason: 'cancelled' })}\n\ndata: [DONE]\n\n`);
      ctx.res.end();
    }
  }

  /** Non-streaming: the whole LettaResponse once the turn is over. */
  private async answerWhole(ctx: RequestContext, agent: AgentRecord, plan: TurnPlan, turn: TurnRequest): Promise<void> {
    const full: AgentMessage[] = [];
    const sink: TurnSink = { chunk: () => {}, message: (m) => full.push(m), aborted: () => false };
    if (!(await this.runTurn(ctx, agent, plan, turn.replay, sink))) return;
    const response: LettaResponse = { messages: full.filter(turn.keep), stop_reason: STOP_END_TURN, usage: plan.usage };
    await this.deliver(ctx, 200, response);
    turn.timing.headersAt = turn.timing.firstItemAt = turn.timing.lastItemAt = now();
    turn.timing.completed = !ctx.res.destroyed;
  }

  /** Streaming in real time: each item is written as the agent produces it. */
  private async streamLive(ctx: RequestContext, agent: AgentRecord, plan: TurnPlan, turn: TurnRequest): Promise<void> {
    const sse = this.openSse(ctx, turn, turn.includePings);
    const emit = (item: LettaStreamingResponse) => {
      if (turn.keep(item)) sse.write(item);
    };
    const completed = await this.runTurn(ctx, agent, plan, turn.replay, {
      chunk: (item) => (turn.streamTokens ? emit(item) : undefined),
      message: (m) => (turn.streamTokens ? undefined : emit(m)),
      // An error event means the agent loop raised: the rest of the turn never happens. A cancelled run stops too.
      aborted: () => sse.failed === 'error-event' || this.runs.noticeCancellation(turn.runId),
    });
    if (!completed) return this.endIncompleteStream(sse, turn);
    emit(STOP_END_TURN);
    emit(plan.usage);
    sse.done();
  }

  /**
   * Streaming where everything arrives at the end: the 'buffered' stream mode
   * (silence for the whole LLM time, pings only), or a slow / dropped delivery fault.
   */
  private async streamBuffered(ctx: RequestContext, agent: AgentRecord, plan: TurnPlan, turn: TurnRequest): Promise<void> {
    const fault = ctx.deliveryFault;
    // A slow fault models a stuck server: not even pings until the delay is over.
    const sse = this.openSse(ctx, turn, turn.includePings && fault === undefined);
    const items: AgentMessage[] = [];
    const collect = (item: AgentMessage) => items.push(item);
    const cancelled = () => this.runs.noticeCancellation(turn.runId);
    const sink: TurnSink = turn.streamTokens
      ? { chunk: collect, message: () => {}, aborted: cancelled }
      : { chunk: () => {}, message: collect, aborted: cancelled };
    const completed = await this.runTurn(ctx, agent, plan, turn.replay, sink);
    if (!completed) return this.endIncompleteStream(sse, turn);
    if (fault?.kind === 'slow') await sleep(fault.delayMs, ctx.signal);
    if (ctx.signal.aborted) return sse.stopPings();
    if (fault?.kind === 'drop-after-apply') {
      sse.stopPings();
      dropConnection(ctx.res);
      return;
    }
    for (const item of [...items, STOP_END_TURN, plan.usage]) if (turn.keep(item)) sse.write(item);
    sse.done();
  }

  /** A turn that stopped early: a cancelled run ends its stream with stop_reason "cancelled" (letta-runs.ts). */
  private endIncompleteStream(sse: LettaSse, turn: TurnRequest): void {
    if (sse.failed === 'error-event') this.runs.finish(turn.runId, 'failed', 'error');
    if (!this.runs.isCancelled(turn.runId)) return sse.stopPings();
    sse.write({ message_type: 'stop_reason', stop_reason: 'cancelled' });
    sse.done();
  }

  private openSse(ctx: RequestContext, turn: TurnRequest, pings: boolean): LettaSse {
    const sse = new LettaSse(ctx.res, turn.timing, pings ? this.options.pingIntervalMs : null, turn.runId, this.midStreamFaults.take(ctx.route));
    if (pings) sse.initialPing();
    sse.startKeepalive();
    return sse;
  }

  /**
   * Letta stores a request's input messages together with its first step, not on arrival (letta 0.16.8,
   * letta/agents/letta_agent_v3.py: input_messages_to_persist "aren't checkpointed as in-context until the end of
   * the step (may be rolled back)"). So a request whose first step never ends (server died, stuck loop) leaves no
   * trace in the history, and one still running is not visible yet. Stored ahead of the step's own messages.
   */
  private persistInputWithFirstStep(ctx: RequestContext, agent: AgentRecord, messages: MessageCreate[], plan: TurnPlan): void {
    const persist = () => {
      const firstOfRun = agent.messages.findIndex((m) => m.source === 'agent' && m.requestIndex === ctx.requestIndex);
      const before = firstOfRun < 0 ? agent.messages.length : firstOfRun;
      const produced = agent.messages.splice(before);
      this.storeClientMessages(ctx, agent, messages);
      agent.messages.push(...produced);
    };
    const secondStep = plan.events.findIndex((event, i) => event.kind === 'think' && i > 0);
    plan.events.splice(secondStep < 0 ? plan.events.length : secondStep, 0, { kind: 'apply', run: persist });
  }

  /**
   * Stores every client message, a repeated otid included: Letta 0.16.8 does not de-duplicate on
   * POST /v1/agents/{id}/messages (letta/services/streaming_service.py: the otid-derived request token is only
   * used for background streaming with a Redis lock; letta/helpers/message_helper.py
   * `_convert_message_create_to_message` just copies the otid onto a new Message). A repeat is also
   * recorded in `duplicatesOf` so tests can see that something was stored twice.
   */
  private storeClientMessages(ctx: RequestContext, agent: AgentRecord, messages: MessageCreate[]): StoredMessage[] {
    const stored: StoredMessage[] = [];
    for (const m of messages) {
      const otid = typeof m.otid === 'string' ? m.otid : null;
      const entry = this.clientMessage(ctx, agent, m, otid);
      if (otid !== null && agent.otids.has(otid)) agent.duplicates.push(entry);
      if (otid !== null) agent.otids.add(otid);
      agent.messages.push(entry);
      stored.push(entry);
    }
    return stored;
  }

  private clientMessage(ctx: RequestContext, agent: AgentRecord, m: MessageCreate, otid: string | null): StoredMessage {
    const id = newId('message');
    const base = { id, date: isoNow(), name: m.name ?? null, otid, sender_id: m.sender_id ?? null, step_id: null, is_err: null, seq_id: null, run_id: null };
    let letta: UserMessage | AssistantMessage | SystemMessage;
    // A listed assistant message carries an otid derived from its id, not the one the client sent
    // (letta 0.16.8, letta/schemas/message.py `_convert_reasoning_messages`: otid = generate_otid_from_id(id, n)).
    if (m.role === 'assistant') letta = { ...base, otid: otidFromId(id, 0), message_type: 'assistant_message', content: m.content as AssistantMessage['content'] };
    else if (m.role === 'system') letta = { ...base, message_type: 'system_message', content: contentText(m.content) };
    else letta = { ...base, message_type: 'user_message', content: m.content as UserMessage['content'] };
    return {
      seq: ++this.seq,
      agentId: agent.core.id,
      id,
      role: m.role,
      messageType: letta.message_type ?? 'user_message',
      source: 'client',
      text: contentText(m.content),
      otid,
      receivedAt: now(),
      requestIndex: ctx.requestIndex,
      letta,
    };
  }

  private storeAgentMessage(ctx: RequestContext, agent: AgentRecord, message: AgentMessage): void {
    const role = message.message_type === 'tool_return_message' ? 'tool' : 'assistant';
    agent.messages.push({
      seq: ++this.seq,
      agentId: agent.core.id,
      id: message.id,
      role,
      messageType: message.message_type ?? 'assistant_message',
      source: 'agent',
      text: messageText(message),
      otid: message.otid ?? null,
      receivedAt: now(),
      requestIndex: ctx.requestIndex,
      letta: structuredClone(message),
    });
  }

  /**
   * Runs a planned turn in real time: sleeps for LLM time, hands chunks and
   * complete messages to the sink, stores agent messages (unless replaying).
   * Returns false when the server "died" or the sink aborted mid-turn.
   */
  private async runTurn(ctx: RequestContext, agent: AgentRecord, plan: TurnPlan, replay: boolean, sink: TurnSink): Promise<boolean> {
    let current: AgentMessage | null = null;
    const complete = () => {
      if (current === null) return;
      if (!replay) this.storeAgentMessage(ctx, agent, current);
      sink.message(current);
      current = null;
    };
    for (const event of plan.events) {
      if (event.kind === 'apply') {
        complete();
        if (!replay) event.run();
        continue;
      }
      // A message is complete once the next event is not one of its chunks.
      if (event.kind === 'think' || event.message !== current) complete();
      await sleep(event.ms, ctx.signal);
      if (ctx.signal.aborted || sink.aborted()) return false;
      if (event.kind === 'chunk') {
        current = event.message;
        sink.chunk(event.item);
      }
    }
    complete();
    agent.core.last_stop_reason = 'end_turn';
    agent.core.last_run_completion = isoNow();
    return true;
  }

  /** Builds the agent's steps for one user message (what Letta's agent loop would produce). */
  private planTurn(agent: AgentRecord, userText: string, runId: string, replay: boolean): TurnPlan {
    const o = this.options;
    const state = this.toAgentState(agent);
    const events: TurnEvent[] = [];
    const fact = o.includeToolCalls && !replay ? o.memoryFactFor(state, userText) : null;
    let stepId = newId('step');
    let messageId = newId('message');
    let index = 0;
    let completionTokens = 0;

    const addReasoning = () => {
      if (!o.includeReasoning) return;
      const text = o.reasoningFor(state, userText);
      const message: ReasoningMessage = {
        ...messageBase(messageId, otidFromId(messageId, index++), runId, stepId),
        message_type: 'reasoning_message',
        reasoning: text,
        source: 'non_reasoner_model',
        signature: null,
      };
      events.push(...textChunks(message, text, o.tokenDelayMs, (m, piece) => ({ ...m, reasoning: piece })));
      completionTokens += tokenize(text).length;
    };

    const addHiddenReasoning = () => {
      if (!o.hiddenReasoning) return;
      const hidden: HiddenReasoningMessage = {
        ...messageBase(messageId, otidFromId(messageId, index++), runId, stepId),
        message_type: 'hidden_reasoning_message',
        state: 'omitted',
        hidden_reasoning: null,
      };
      events.push({ kind: 'chunk', ms: 0, item: hidden, message: hidden });
    };

    events.push({ kind: 'think', ms: o.messageLatencyMs });
    addReasoning();
    addHiddenReasoning();
    if (fact !== null) {
      const edit = this.memoryEdit(agent, fact);
      const callId = `call_${randomUUID().replace(/-/g, '').slice(0, 24)}`;
      const toolCall = { name: edit.toolName, arguments: JSON.stringify(edit.args), tool_call_id: callId };
      const call: ToolCallMessage = {
        ...messageBase(messageId, otidFromId(messageId, index++), runId, stepId),
        message_type: 'tool_call_message',
        tool_call: toolCall,
        tool_calls: [toolCall],
      };
      events.push({ kind: 'chunk', ms: o.tokenDelayMs, item: call, message: call });
      completionTokens += tokenize(toolCall.arguments).length;
      const returnId = newId('message');
      // Filled in when the edit runs, so the tool return reports what really happened.
      const toolReturn: ToolReturnMessage = {
        ...messageBase(returnId, otidFromId(returnId, 0), runId, stepId),
        message_type: 'tool_return_message',
        tool_call_id: callId,
        status: 'success',
        tool_return: '',
        stdout: null,
        stderr: null,
      };
      events.push({ kind: 'apply', run: () => Object.assign(toolReturn, toolReturnFields(callId, edit.apply())) });
      events.push({ kind: 'chunk', ms: 0, item: toolReturn, message: toolReturn });
      // Second step: the agent answers after seeing the tool result.
      stepId = newId('step');
      messageId = newId('message');
      index = 0;
      events.push({ kind: 'think', ms: o.messageLatencyMs });
    }
    const reply = o.replyFor(state, userText);
    if (fact !== null) addHiddenReasoning();
    const asContent = (text: string): AssistantMessage['content'] => (o.assistantContentForm === 'list' ? [{ type: 'text', text }] : text);
    const replyParts = o.interleaveReasoning ? splitInTwo(reply) : [reply];
    replyParts.forEach((part, n) => {
      if (n > 0) {
        const between = o.reasoningFor(state, userText);
        const reasoning: ReasoningMessage = {
          ...messageBase(messageId, otidFromId(messageId, index++), runId, stepId),
          message_type: 'reasoning_message',
          reasoning: between,
          source: 'non_reasoner_model',
          signature: null,
        };
        events.push(...textChunks(reasoning, between, o.tokenDelayMs, (m, piece) => ({ ...m, reasoning: piece })));
      }
      const assistant: AssistantMessage = {
        ...messageBase(messageId, otidFromId(messageId, index++), runId, stepId),
        message_type: 'assistant_message',
        content: asContent(part),
      };
      events.push(...textChunks(assistant, part, o.tokenDelayMs, (m, piece) => ({ ...m, content: asContent(piece) })));
    });
    completionTokens += tokenize(reply).length;

    const stepCount = fact === null ? 1 : 2;
    const promptTokens = 2_000 * stepCount + agent.messages.reduce((n, m) => n + tokenize(m.text).length, 0);
    return {
      events,
      usage: {
        message_type: 'usage_statistics',
        completion_tokens: completionTokens,
        prompt_tokens: promptTokens,
        total_tokens: completionTokens + promptTokens,
        step_count: stepCount,
        run_ids: null,
        cached_input_tokens: null,
        cache_write_tokens: null,
        reasoning_tokens: null,
        context_tokens: null,
      },
    };
  }

  /** The memory tool this agent type uses, appending `fact` to its `human` block. */
  private memoryEdit(agent: AgentRecord, fact: string): MemoryEdit {
    const label = 'human';
    const v1Tools = agent.core.agent_type !== 'memgpt_agent';
    const apply = (): { status: 'success' | 'error'; text: string } => {
      const block = agent.blocks.find((b) => b.label === label);
      if (block === undefined) return { status: 'error', text: `Error executing function: No memory block with label '${label}'` };
      const next = block.value === '' ? fact : `${block.value}\n${fact}`;
      const limit = block.limit ?? DEFAULT_BLOCK_LIMIT;
      if (next.length > limit) return { status: 'error', text: `Edit failed: Exceeds ${limit} character limit (requested ${next.length})` };
      block.value = next;
      agent.core.updated_at = isoNow();
      return { status: 'success', text: v1Tools ? `The core memory block with label \`${label}\` has been edited.` : 'None' };
    };
    return v1Tools
      ? { toolName: 'memory_insert', args: { label, new_str: fact, insert_line: -1 }, apply }
      : { toolName: 'core_memory_append', args: { label, content: fact }, apply };
  }
}

function toolReturnFields(callId: string, result: { status: 'success' | 'error'; text: string }): Partial<ToolReturnMessage> {
  return {
    status: result.status,
    tool_return: result.text,
    tool_returns: [{ tool_call_id: callId, status: result.status, tool_return: result.text, stdout: null, stderr: null, type: 'tool' }],
  };
}

/**
 * The request's input messages (`input` is sugar for one user message), or the
 * pydantic validation issue Letta's LettaRequest model would raise.
 */
function inputMessages(body: Record<string, unknown>): Array<Record<string, unknown>> | ValidationIssue {
  const hasMessages = body.messages !== undefined && body.messages !== null;
  const hasInput = body.input !== undefined && body.input !== null;
  if (hasMessages && hasInput) {
    return { type: 'value_error', loc: ['body'], msg: "Value error, Cannot specify both 'input' and 'messages'. Use one or the other.", input: body };
  }
  if (!hasMessages && !hasInput) {
    return { type: 'value_error', loc: ['body'], msg: "Value error, Must specify either 'input' or 'messages'.", input: body };
  }
  if (hasInput) return [{ role: 'user', content: body.input, otid: randomUUID() }];
  if (!Array.isArray(body.messages)) {
    return { type: 'list_type', loc: ['body', 'messages'], msg: 'Input should be a valid list', input: body.messages };
  }
  for (const [i, m] of body.messages.entries()) {
    if (!isPlainObject(m)) return missing(['body', 'messages', i], m);
    if (m.type === 'approval' || m.type === 'tool_return') continue;
    if (m.content === undefined) return missing(['body', 'messages', i, 'message', 'content'], m);
    if (!['user', 'system', 'assistant'].includes(String(m.role))) {
      return { type: 'enum', loc: ['body', 'messages', i, 'message', 'role'], msg: "Input should be 'user', 'system' or 'assistant'", input: m.role };
    }
  }
  return body.messages as Array<Record<string, unknown>>;
}

/** Streaming-only options set on a non-streaming request (Letta rejects them). */
function streamingOnlyOptions(body: Record<string, unknown>): string[] {
  if (body.streaming === true) return [];
  const errors: string[] = [];
  if (body.stream_tokens === true) errors.push('stream_tokens can only be true when streaming=true');
  if (body.include_pings === false) errors.push('include_pings can only be set to false when streaming=true');
  if (body.background === true) errors.push('background can only be true when streaming=true');
  return errors;
}

/** Stream items that are LettaMessages (filterable by include_return_message_types). */
function isMessageItem(item: LettaStreamingResponse): boolean {
  const type = item.message_type;
  return type !== undefined && type !== 'ping' && type !== 'stop_reason' && type !== 'usage_statistics' && type !== 'error_message';
}

function messageText(message: AgentMessage): string {
  switch (message.message_type) {
    case 'reasoning_message':
      return message.reasoning;
    case 'tool_call_message':
      return message.tool_call.arguments ?? '';
    case 'tool_return_message':
      return message.tool_return;
    default:
      return 'content' in message ? contentText(message.content) : '';
  }
}

export async function startLettaServer(opts: Partial<LettaServerOptions> = {}): Promise<LettaServer> {
  const server = new LettaServerImpl({ ...defaultOptions, ...opts });
  await server.start();
  return server;
}
