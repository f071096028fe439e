// A whole simulated phone call through the worker's own wiring, with no room and no network:
//
//   caller line (espeak-ng PCM, real time) → silero VAD + deepgram plugin → local Deepgram
//     → LettaVoiceAgent.llmNode → local OpenAI (hybrid) or local Letta (full path)
//     → cartesia plugin → local Cartesia → RecordingAudioOutput (real-time playout) → WAV
//
// The session is built exactly as src/main.ts builds it (loadConfig → createWorkerServices → createAgentSession →
// prepareVoiceCall); only the providers' addresses point at the local servers in simulation/stand-ins/. Provider
// latencies are injected there, and every timestamp (harness, servers, session events) is performance.now() in
// this process, so one turn's waterfall can be read off a single clock.
import { mkdtempSync, rmSync } from 'node:fs';
import { ReadableStream } from 'node:stream/web';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AgentState } from '@letta-ai/letta-client/resources/agents/agents';
import { initializeLogger, log, tokenize, voice, type metrics, type VAD } from '@livekit/agents';
import * as silero from '@livekit/agents-plugin-silero';
import { prepareVoiceCall, type VoiceCall } from '../../src/call/voice-call.js';
import type { TurnReport } from '../../src/call/turn-recorder.js';
import { loadConfig, secretsOf, type Config } from '../../src/config.js';
import { redactingLogger } from '../../src/logging.js';
import { createAgentSession } from '../../src/pipeline.js';
import { createWorkerServices, type WorkerServices } from '../../src/services.js';
import { FirstClauseSentenceTokenizer } from '../../src/tts/first-clause-tokenizer.js';
import { FirstClauseTTS } from '../../src/tts/first-clause-tts.js';
import { CartesiaServer, type CartesiaRequestRecord } from '../stand-ins/cartesia-server.js';
import { DeepgramServer } from '../stand-ins/deepgram-server.js';
import { startLettaServer, type LettaServer, type SeedBlock } from '../stand-ins/letta-server.js';
import { startOpenAIServer, type ChatRequestBody, type OpenAIServer } from '../stand-ins/openai-server.js';
import type { AgentSegmentRecord, CallerAudioInput, RecordingAudioOutput } from './audio-io.js';
import { BlockingLettaAgent, createStockAgent, createStockLlm, createStockStt, createStockTts } from './baselines.js';
import { synthesize } from './espeak.js';
import { breakdown, type TurnBreakdown, type TurnTimeline } from './metrics.js';
import { CallRecorder } from './recorder.js';
import { LETTA_KEY, OPENAI_KEY, attachCallAudio, providerEnv } from './session-io.js';

export { LETTA_KEY, OPENAI_KEY } from './session-io.js';

initializeLogger({ pretty: false, level: process.env.HARNESS_LOG_LEVEL ?? 'error' });

/** Latencies injected into the local provider servers. */
export interface ProviderLatencies {
  /** Deepgram: added before every result (on top of its endpointing silence). */
  deepgramMs: number;
  openaiTtftMs: number;
  openaiTokenDelayMs: number;
  cartesiaTtfbMs: number;
  /** Cartesia generation speed as a fraction of real time (0.3 = 1 s of audio in 0.3 s). */
  cartesiaRealTimeFactor: number;
  /** Letta: "LLM time" of each agent step (a turn with a memory edit has two steps). */
  lettaStepMs: number;
  lettaTokenDelayMs: number;
  /** 'buffered' reproduces the seed's finding: Letta holds every item until the turn is over. */
  lettaStreamMode: 'tokens' | 'buffered';
}

/**
 * Realistic figures: Deepgram ~150 ms, a hosted OpenAI model 300 ms TTFT + 30 ms/token, Cartesia 150 ms TTFB, and
 * a Letta turn (two 1.5 s steps plus tokens) of ~4 s, as the seeds measured for background writes.
 */
export const REALISTIC_LATENCIES: ProviderLatencies = {
  deepgramMs: 150,
  openaiTtftMs: 300,
  openaiTokenDelayMs: 30,
  cartesiaTtfbMs: 150,
  cartesiaRealTimeFactor: 0.3,
  lettaStepMs: 1500,
  lettaTokenDelayMs: 30,
  lettaStreamMode: 'tokens',
};

/**
 * - hybrid: the worker's default (fast path, memory in the prompt, Letta written behind)
 * - letta: the worker with USE_HYBRID_STREAMING=false (Letta streams the reply)
 * - letta-blocking: the seeds' original design (baselines.ts): wait for Letta's whole non-streaming reply
 * - stock-openai: a plain voice.Agent with the OpenAI plugin's LLM on the same endpoint, no memory
 */
export type Variant = 'hybrid' | 'letta' | 'letta-blocking' | 'stock-openai';

export const SEEDED_PERSONA = 'I am Ada, a calm and concise voice assistant.';
export const SEEDED_HUMAN = 'The user is called Sam. Sam sails a small boat on weekends.';

export interface VoiceCallHarnessOptions {
  variant?: Variant;
  latencies?: Partial<ProviderLatencies>;
  /** Extra worker environment (e.g. ENDPOINTING_MIN_DELAY_MS). */
  env?: Record<string, string>;
  /** Core memory of the seeded Letta agent. Default: persona + human (Sam). */
  seedBlocks?: SeedBlock[];
  /** Tags of the seeded agent (caller scope finds a caller's agent by them: src/callers/caller-tags.ts). */
  seedTags?: string[];
  /** Archival passages of the seeded agent, created through Letta's own route before the call starts. */
  seedPassages?: readonly string[];
  /** The caller's identity, passed to prepareVoiceCall (needed with env LETTA_MEMORY_SCOPE=caller). */
  callerIdentity?: string;
  /** Letta's archival search time (embedding + vector search), per search; see LettaServerOptions.searchLatencyMs. */
  lettaSearchLatencyMs?: number | (() => number);
  /** The OpenAI stand-in's reply to a chat request. Default: the server's echo reply. */
  openaiReply?: (req: ChatRequestBody) => string;
  /** The Letta stand-in's reply to a user message. */
  lettaReply?: (agent: AgentState, userText: string) => string;
  /** What the Letta stand-in's agent appends to its `human` block per message (null = no memory edit). */
  lettaMemoryFact?: (agent: AgentState, userText: string) => string | null;
  /** 'down' takes Letta away (connection refused) once the call is ready, i.e. after memory was read. */
  letta?: 'healthy' | 'down';
  sampleRate?: number;
  /**
   * Wrap the loudspeaker in the framework's TranscriptionSynchronizer, as RoomIO does by default
   * (syncTranscription: true). Without it an interrupted reply is recorded with all the text generated so far
   * instead of the text actually played. Default true.
   */
  syncTranscription?: boolean;
  /** Silence the caller leaves after the agent finished speaking, before the next line. Default 500 ms. */
  pauseBetweenLinesMs?: number;
  /** Longest wait for the agent to start answering a line. Default 20 s. */
  answerTimeoutMs?: number;
}

export interface TranscriptEntry {
  role: 'user' | 'assistant';
  text: string;
  at: number;
  interrupted: boolean;
}

export interface MeasuredTurn {
  index: number;
  timeline: TurnTimeline;
  /** Undefined when the agent never produced audio for the line. */
  breakdown?: TurnBreakdown;
  segment?: AgentSegmentRecord;
}

export interface VoiceCallHarness {
  readonly variant: Variant;
  readonly latencies: ProviderLatencies;
  readonly config: Config;
  readonly services: WorkerServices;
  readonly session: voice.AgentSession;
  /** The worker's call (undefined for baselines that replace the agent). */
  readonly call?: VoiceCall;
  readonly agentId: string;
  readonly servers: { openai: OpenAIServer; letta: LettaServer; deepgram: DeepgramServer; cartesia: CartesiaServer };
  readonly input: CallerAudioInput;
  readonly output: RecordingAudioOutput;
  readonly recorder: CallRecorder;
  readonly transcript: TranscriptEntry[];
  readonly reports: TurnReport[];
  readonly metrics: Array<{ at: number; metrics: metrics.AgentMetrics }>;
  readonly turns: MeasuredTurn[];
  /** The caller says one line; resolves once the agent has answered it (or throws if it never starts). */
  say(text: string): Promise<MeasuredTurn>;
  /** Says every line in order, pausing between them like a person would. */
  run(lines: readonly string[]): Promise<MeasuredTurn[]>;
  writeWav(file: string): Promise<void>;
  close(): Promise<void>;
}

let vadPromise: Promise<VAD> | undefined;

/** One silero VAD per process, like the worker's prewarm. */
export function loadVad(): Promise<VAD> {
  vadPromise ??= silero.VAD.load();
  return vadPromise;
}

interface Providers {
  openai: OpenAIServer;
  letta: LettaServer;
  deepgram: DeepgramServer;
  cartesia: CartesiaServer;
  agentId: string;
}

/** Starts the four provider stand-ins on random loopback ports with the given latencies. */
export async function startProviders(latencies: ProviderLatencies, options: VoiceCallHarnessOptions = {}): Promise<Providers> {
  const [openai, letta, deepgram, cartesia] = await Promise.all([
    startOpenAIServer({
      apiKey: OPENAI_KEY,
      ttftMs: latencies.openaiTtftMs,
      tokenDelayMs: latencies.openaiTokenDelayMs,
      ...(options.openaiReply ? { reply: options.openaiReply } : {}),
    }),
    startLettaServer({
      apiKey: LETTA_KEY,
      messageLatencyMs: latencies.lettaStepMs,
      tokenDelayMs: latencies.lettaTokenDelayMs,
      streamMode: latencies.lettaStreamMode,
      ...(options.lettaSearchLatencyMs !== undefined ? { searchLatencyMs: options.lettaSearchLatencyMs } : {}),
      ...(options.lettaReply ? { replyFor: options.lettaReply } : {}),
      ...(options.lettaMemoryFact ? { memoryFactFor: options.lettaMemoryFact } : {}),
    }),
    DeepgramServer.start({ recognitionDelayMs: latencies.deepgramMs }),
    CartesiaServer.start({ ttfbMs: latencies.cartesiaTtfbMs, realTimeFactor: latencies.cartesiaRealTimeFactor }),
  ]);
  const agent = letta.seedAgent({
    name: 'Agent_66',
    ...(options.seedTags ? { tags: options.seedTags } : {}),
    blocks: options.seedBlocks ?? [
      { label: 'persona', value: SEEDED_PERSONA },
      { label: 'human', value: SEEDED_HUMAN },
    ],
  });
  return { openai, letta, deepgram, cartesia, agentId: agent.id };
}

/** The worker's configuration, from an environment pointing every provider at the local servers. */
export function harnessConfig(p: Providers, variant: Variant, dataDir: string, extraEnv: Record<string, string> = {}): Config {
  return loadConfig(providerEnv(p, variant, dataDir, extraEnv), { requireLiveKit: false });
}

/**
 * Starts the servers and the worker, attaches the simulated caller and loudspeaker, and starts the session.
 * Call `close()` when done.
 */
export async function startVoiceCallHarness(options: VoiceCallHarnessOptions = {}): Promise<VoiceCallHarness> {
  const variant = options.variant ?? 'hybrid';
  const latencies = { ...REALISTIC_LATENCIES, ...options.latencies };
  const sampleRate = options.sampleRate ?? 24_000;
  const providers = await startProviders(latencies, options);
  const dataDir = mkdtempSync(path.join(tmpdir(), 'voice-call-journal-'));
  const config = harnessConfig(providers, variant, dataDir, options.env);
  const services = await createWorkerServices(config, redactingLogger(secretsOf(config), log()));
  for (const text of options.seedPassages ?? []) await services.letta.agents.passages.create(providers.agentId, { text });
  const vad = await loadVad();

  const session = variant === 'stock-openai' ? createStockSession(config, vad) : createAgentSession(config, services.chat, vad);
  const reports: TurnReport[] = [];
  const transcript: TranscriptEntry[] = [];
  const metricsLog: Array<{ at: number; metrics: metrics.AgentMetrics }> = [];
  session.on(voice.AgentSessionEventTypes.MetricsCollected, (ev) => metricsLog.push({ at: performance.now(), metrics: ev.metrics }));
  session.on(voice.AgentSessionEventTypes.ConversationItemAdded, (ev) => {
    const item = ev.item;
    if (item.type !== 'message' || (item.role !== 'user' && item.role !== 'assistant')) return;
    transcript.push({ role: item.role, text: item.textContent ?? '', at: performance.now(), interrupted: item.interrupted });
  });

  let call: VoiceCall | undefined;
  let agent: voice.Agent;
  if (variant === 'hybrid' || variant === 'letta') {
    call = await prepareVoiceCall(services, session, { onTurn: (r) => reports.push(r), callerIdentity: options.callerIdentity });
    agent = call.agent;
  } else if (variant === 'letta-blocking') {
    await services.memory.refreshAtSessionStart(3_000); // resolves the Letta agent id, as the worker would
    agent = new BlockingLettaAgent({ client: services.letta, agentId: () => services.memory.agentId, instructions: config.instructions });
  } else {
    agent = createStockAgent(config.instructions);
  }

  const recorder = new CallRecorder({ sampleRate });
  const audio = await attachCallAudio(session, { sampleRate, recorder, syncTranscription: options.syncTranscription });
  const { input, output } = audio;
  await session.start({ agent });
  if (options.letta === 'down') await providers.letta.refuse();
  // VAD needs to hear some silence before the first line, as on a real call.
  await sleep(300);

  const turns: MeasuredTurn[] = [];
  const pause = options.pauseBetweenLinesMs ?? 500;
  const answerTimeoutMs = options.answerTimeoutMs ?? 20_000;
  const { openai, letta, deepgram, cartesia } = providers;

  const harness: VoiceCallHarness = {
    variant,
    latencies,
    config,
    services,
    session,
    call,
    agentId: providers.agentId,
    servers: { openai, letta, deepgram, cartesia },
    input,
    output,
    recorder,
    transcript,
    reports,
    metrics: metricsLog,
    turns,
    async say(text) {
      const line = await synthesize(text, { sampleRate });
      const mark = {
        openai: openai.responses.length,
        letta: letta.responses.length,
        cartesia: cartesia.requests.length,
        deepgram: deepgram.utterances.length,
        metrics: metricsLog.length,
        reports: reports.length,
        assistant: transcript.filter((t) => t.role === 'assistant').length,
      };
      deepgram.expectUtterance(text, { durationSeconds: line.speechEndSeconds - line.speechStartSeconds });
      const started = output.nextSegmentStarted(answerTimeoutMs + line.durationSeconds * 1000);
      started.catch(() => undefined); // reported below, after the line has been said
      const said = await input.say(line);
      let segment: AgentSegmentRecord | undefined;
      try {
        segment = await started;
        if (!segment.finished) await output.nextSegmentFinished(60_000);
        await waitFor(() => transcript.filter((t) => t.role === 'assistant').length > mark.assistant, 10_000);
      } catch (err) {
        const heard = deepgram.results.slice(-3).map((r) => r.transcript);
        throw new Error(`${variant}: the agent did not answer "${text}" (${(err as Error).message}); Deepgram last sent ${JSON.stringify(heard)}`);
      }
      const agentText = transcript.filter((t) => t.role === 'assistant').slice(mark.assistant).map((t) => t.text).join(' ');
      const timeline = await collectTimeline({
        variant,
        latencies,
        text,
        speechEnd: said.speechEnd,
        segment,
        openaiResponses: openai.responses.slice(mark.openai).map((r) => ({ ...r, receivedAt: openai.requests[r.requestIndex]?.receivedAt })),
        lettaResponses: letta.responses.slice(mark.letta).map((r) => ({ ...r, receivedAt: letta.requests[r.requestIndex]?.receivedAt })),
        ttsRequests: cartesia.requests.slice(mark.cartesia),
        ttsChunkMs: cartesia.chunkMs,
        ttsAudioLookaheadMs: pluginAudioLookaheadMs(variant, config),
        tokenizer: firstPieceTokenizer(session),
        textTransforms: session.sessionOptions.ttsTextTransforms,
        turnHandling: session.sessionOptions.turnHandling.preemptiveGeneration,
        utterance: deepgram.utterances.slice(mark.deepgram).find((u) => u.text === text),
        metrics: metricsLog.slice(mark.metrics),
        report: reports[mark.reports],
        agentText,
      });
      const turn: MeasuredTurn = { index: turns.length, timeline, breakdown: breakdown(timeline), segment };
      turns.push(turn);
      await sleep(pause);
      return turn;
    },
    async run(lines) {
      const out: MeasuredTurn[] = [];
      for (const text of lines) out.push(await harness.say(text));
      return out;
    },
    writeWav: (file) => recorder.writeWav(file),
    async close() {
      await session.close().catch(() => undefined);
      await audio.close();
      await services.close().catch(() => undefined);
      await Promise.all([openai.close(), letta.close(), deepgram.close(), cartesia.close()]);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return harness;
}

/**
 * The stock pipeline for comparison (b): same VAD, STT, TTS provider and turn handling as createAgentSession, but the
 * session's LLM is the OpenAI plugin with its own client and it produces the replies itself, and the TTS is the stock
 * plugin (its own sentence tokenizer, LiveKit's default of no preemptive TTS).
 */
function createStockSession(config: Config, vad: VAD): voice.AgentSession {
  return new voice.AgentSession({
    vad,
    stt: createStockStt(config), // the plugin's defaults, like the rest of the stock pipeline
    llm: createStockLlm(config),
    tts: createStockTts(config),
    turnHandling: {
      turnDetection: config.turnDetection,
      endpointing: { minDelay: config.endpointingMinDelayMs },
      preemptiveGeneration: { enabled: config.preemptiveGeneration },
    },
  });
}

/**
 * Audio the Cartesia plugin needs before it releases its first frame. Stock: 100 ms frames (AudioByteStream default),
 * each held back until the next one is complete (to flag the last frame), so 200 ms. With the worker's progressive
 * frames (CARTESIA_PROGRESSIVE_FRAMES, docs/framework-patches.md) the first frame is 20 ms and only a 10 ms tail is
 * held, so 20 ms. The stock baseline builds the plugin with its defaults.
 */
function pluginAudioLookaheadMs(variant: Variant, config: Config): number {
  const progressive = variant !== 'stock-openai' && config.tts.provider === 'cartesia' && config.tts.progressiveFrames;
  return progressive ? 20 : 200;
}
/** The Cartesia plugin's SentenceTokenizer minSentenceLength (BUFFERED_WORDS_COUNT in the plugin). */
const CARTESIA_MIN_SENTENCE_LENGTH = 8;

interface LlmResponse {
  receivedAt?: number;
  /** OpenAI: first content chunk; Letta: first assistant item (or the JSON body). */
  firstContentAt?: number;
  /** When the stream's last chunk was written (OpenAI). */
  lastChunkAt?: number;
  /** Reply tokens as written by the server (OpenAI logs them; for Letta they are reconstructed from its pacing). */
  tokens?: Array<{ at: number; text: string }>;
}

interface TurnRecords {
  variant: Variant;
  latencies: ProviderLatencies;
  text: string;
  speechEnd: number;
  segment: AgentSegmentRecord;
  openaiResponses: Array<{ receivedAt?: number; firstContentAt?: number; lastChunkAt?: number; contentChunkLog?: Array<{ at: number; text: string }> }>;
  lettaResponses: Array<{ receivedAt?: number; route: string; streaming: boolean; firstAssistantAt?: number; lastItemAt?: number }>;
  ttsRequests: CartesiaRequestRecord[];
  ttsChunkMs: number;
  ttsAudioLookaheadMs: number;
  /** The tokenizer that decides when the session's TTS sends its first piece of text. */
  tokenizer: tokenize.SentenceTokenizer;
  /** The session's TTS text transforms (LiveKit default: filter_markdown, filter_emoji): they sit before the tokenizer. */
  textTransforms: readonly voice.textTransforms.TextTransform[] | null;
  turnHandling: { enabled: boolean; preemptiveTts: boolean };
  utterance?: { finalAt?: number };
  metrics: Array<{ at: number; metrics: metrics.AgentMetrics }>;
  report?: TurnReport;
  agentText: string;
}

async function collectTimeline(r: TurnRecords): Promise<TurnTimeline> {
  const tts = r.ttsRequests.find((t) => t.firstChunkAt !== undefined && !t.cancelled) ?? r.ttsRequests[0];
  // Which backend produced the words depends on the variant (a hybrid turn falls back to Letta only on failure).
  const fromLetta = r.variant === 'letta' || r.variant === 'letta-blocking' || r.report?.source === 'letta';
  const llm: LlmResponse[] = fromLetta
    ? r.lettaResponses
        .filter((x) => x.route === 'messages.create' || x.route === 'messages.stream')
        .filter((x) => (r.variant === 'letta-blocking' ? !x.streaming : x.streaming))
        .map((x) => ({ receivedAt: x.receivedAt, firstContentAt: x.firstAssistantAt ?? x.lastItemAt }))
    : r.openaiResponses.map((x) => ({ receivedAt: x.receivedAt, firstContentAt: x.firstContentAt, lastChunkAt: x.lastChunkAt, tokens: x.contentChunkLog }));
  // Preemptive generation may have started (and dropped) earlier requests: the spoken one is the last one
  // received before the TTS request.
  const before = llm.filter((x) => x.receivedAt !== undefined && (tts === undefined || x.receivedAt <= tts.startedAt));
  const used = before.at(-1) ?? llm.at(-1);
  const eou = r.metrics.filter((m) => m.metrics.type === 'eou_metrics').at(-1);
  const eouMetrics = eou?.metrics.type === 'eou_metrics' ? eou.metrics : undefined;
  const ttsMetric = r.metrics.map((m) => m.metrics).find((m): m is metrics.TTSMetrics => m.type === 'tts_metrics');
  const llmMetric = r.metrics.map((m) => m.metrics).find((m): m is metrics.LLMMetrics => m.type === 'llm_metrics' && !m.cancelled);
  const tokenDelay = fromLetta ? (r.variant === 'letta' && r.latencies.lettaStreamMode === 'tokens' ? r.latencies.lettaTokenDelayMs : 0) : r.latencies.openaiTokenDelayMs;
  // Chunks are written chunkMs × realTimeFactor apart; the plugin releases its first frame once it holds enough audio.
  const chunksNeeded = Math.ceil(r.ttsAudioLookaheadMs / r.ttsChunkMs);
  const framePacing = (chunksNeeded - 1) * r.ttsChunkMs * r.latencies.cartesiaRealTimeFactor;
  // Letta's tokens are not logged: rebuild them from the spoken text and the stand-in's pacing (all at once when buffered).
  const tokens =
    used?.tokens ??
    (used?.firstContentAt === undefined ? [] : (r.agentText.match(/\s*\S+/g) ?? []).map((text, i) => ({ at: used.firstContentAt! + i * tokenDelay, text })));
  // The token on which the first piece can leave: found by running the reply's tokens through the session's own TTS
  // text transforms and the TTS's tokenizer. The markdown filter holds a trailing split character (a space; in
  // stock 1.8.1 also a comma or period) until the next token, so this is often one token after the piece's text.
  const firstPieceTokens = await tokensForFirstPiece(r.tokenizer, tokens.map((t) => t.text), r.textTransforms);
  const textReadyAt = tokens[firstPieceTokens - 1]?.at ?? used?.lastChunkAt ?? tokens.at(-1)?.at;
  const ttsRequestAfterTokens = tts === undefined ? undefined : tokens.filter((t) => t.at <= tts.startedAt).length;
  return {
    userText: r.text,
    agentText: r.agentText,
    speechEnd: r.speechEnd,
    sttFinalAt: r.utterance?.finalAt,
    eouAt: eou?.at,
    llmRequestAt: used?.receivedAt,
    llmFirstTokenAt: used?.firstContentAt,
    llmFirstSentenceAt: used?.firstContentAt === undefined ? undefined : textReadyAt,
    firstPieceTokens,
    ttsRequestAfterTokens,
    preemptiveLlm: r.turnHandling.enabled,
    preemptiveTts: r.turnHandling.enabled && r.turnHandling.preemptiveTts,
    llmRequests: llm.length,
    ttsRequestAt: tts?.startedAt,
    ttsFirstByteAt: tts?.firstChunkAt,
    ttsFirstFrameReadyAt: tts?.firstChunkAt === undefined ? undefined : tts.firstChunkAt + framePacing,
    firstFrameAt: r.segment.firstFrameAt,
    playoutAt: r.segment.playoutStartedAt,
    playoutEndAt: r.segment.playoutEndedAt,
    interrupted: r.segment.interrupted,
    metrics: {
      eouDelayMs: eouMetrics?.endOfUtteranceDelayMs,
      transcriptionDelayMs: eouMetrics?.transcriptionDelayMs,
      vadSpeechEndAt: eouMetrics?.lastSpeakingTimeMs ? eouMetrics.lastSpeakingTimeMs - performance.timeOrigin : undefined,
      ttsTtfbMs: ttsMetric?.ttfbMs,
      llmTtftMs: llmMetric?.ttftMs,
    },
    report: r.report ? { llmTtftMs: r.report.llmTtftMs, source: r.report.source, memoryWritten: r.report.memoryWritten } : undefined,
  };
}

/** The tokenizer deciding when the session's TTS sends text: ours in front of the plugin, else the Cartesia plugin's own. */
function firstPieceTokenizer(session: voice.AgentSession): tokenize.SentenceTokenizer {
  return session.tts instanceof FirstClauseTTS
    ? new FirstClauseSentenceTokenizer()
    : new tokenize.basic.SentenceTokenizer({ minSentenceLength: CARTESIA_MIN_SENTENCE_LENGTH });
}

/**
 * On which of the LLM's tokens (1-based) the TTS's tokenizer emits its first piece, when the tokens pass through the
 * session's TTS text transforms first, as the framework passes them (tokens.length + 1: only at the end of the
 * stream). The plugin's sentence tokenizer emits a sentence only once the next one has started; the first-clause
 * tokenizer at the first clause mark.
 */
export async function tokensForFirstPiece(
  tokenizer: tokenize.SentenceTokenizer,
  tokens: readonly string[],
  transforms: readonly voice.textTransforms.TextTransform[] | null = null,
): Promise<number> {
  let push!: (chunk: string) => void;
  let end!: () => void;
  const input = new ReadableStream<string>({
    start(controller) {
      push = (chunk) => controller.enqueue(chunk);
      end = () => controller.close();
    },
  });
  const text = transforms?.length ? voice.textTransforms.applyTextTransforms(input, transforms) : input;
  const stream = tokenizer.stream();
  let emitted = false;
  const first = stream.next().then(() => (emitted = true));
  const forward = (async () => {
    for await (const chunk of text) if (!stream.closed) stream.pushText(chunk);
  })();
  const settle = () => new Promise((resolve) => setTimeout(resolve, 2)); // let the transform streams run
  try {
    for (let i = 0; i < tokens.length; i++) {
      push(tokens[i]!);
      await settle();
      await settle();
      if (emitted) return i + 1;
    }
    return tokens.length + 1; // the rest goes out when the LLM stream ends
  } finally {
    end();
    await forward.catch(() => undefined);
    stream.close();
    void first.catch(() => undefined);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(10);
  }
}
