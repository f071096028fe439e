import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import path from 'node:path';
import dotenv from 'dotenv';
import { z } from 'zod';
import { AGENT_NAME_PATTERN, DEFAULT_AGENT_NAME } from './agent-name.js';

export type MemoryWriteStrategy = Config['memory']['writeStrategy'];

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(
      `Invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` +
        problems.map((p) => `  - ${p}`).join('\n'),
    );
    this.name = 'ConfigError';
  }
}

// A .env file in the working directory fills in what the real environment leaves unset.
dotenv.config({ quiet: true });

const OFFICIAL_OPENAI_URL = 'https://api.openai.com/v1';

const optionalText = z
  .string()
  .trim()
  .optional()
  .transform((v) => (v === '' ? undefined : v));
const url = (protocols: readonly string[]) =>
  z
    .string()
    .trim()
    .refine((v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    }, `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`);
const optionalUrl = (protocols: readonly string[]) =>
  z.preprocess((v) => (v === '' ? undefined : v), url(protocols).optional());
const httpUrl = ['http:', 'https:'] as const;
const boolFlag = (fallback: boolean) =>
  z
    .string()
    .trim()
    .toLowerCase()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return fallback;
      if (['true', '1', 'yes', 'on'].includes(v)) return true;
      if (['false', '0', 'no', 'off'].includes(v)) return false;
      ctx.addIssue({ code: 'custom', message: 'must be true or false' });
      return z.NEVER;
    });
const positiveInt = (fallback: number) =>
  z.preprocess(
    (v) => (v === undefined || v === '' ? String(fallback) : v),
    z
      .string()
      .regex(/^\d+$/, 'must be a positive whole number')
      .transform(Number)
      .refine((n) => n > 0, 'must be greater than 0'),
  );
/**
 * Node timers overflow past 2^31-1 ms and then fire at once, so every duration has a ceiling well below that;
 * counts have one too, so a typo cannot ask for a million parallel requests.
 */
const MAX_TIMER_MS = 2 ** 31 - 1;
const boundedInt = (fallback: number, min: number, max: number, unit: 'ms' | '') => {
  if (max > MAX_TIMER_MS) throw new Error(`bound ${max} exceeds the Node timer limit`);
  const message = `must be a whole number from ${min} to ${max}${unit === '' ? '' : ` ${unit}`}`;
  return z.preprocess(
    (v) => (v === undefined || v === '' ? String(fallback) : v),
    z
      .string()
      .trim()
      .refine((v) => /^\d+$/.test(v) && Number(v) >= min && Number(v) <= max, message)
      .transform(Number),
  );
};
const durationMs = (fallback: number, max: number, min = 1) => boundedInt(fallback, min, max, 'ms');
const count = (fallback: number, max: number) => boundedInt(fallback, 1, max, '');

const envSchema = z.object({
  LIVEKIT_URL: optionalUrl(['ws:', 'wss:', 'http:', 'https:']),
  LIVEKIT_API_KEY: optionalText,
  LIVEKIT_API_SECRET: optionalText,
  AGENT_NAME: z.string().trim().regex(AGENT_NAME_PATTERN, 'must be 1-64 letters, digits, _ . - starting with a letter or digit').default(DEFAULT_AGENT_NAME),
  WORKER_HTTP_PORT: z.preprocess((v) => (v === undefined || v === '' ? '8081' : v), z.string().regex(/^\d+$/, 'must be a port number').transform(Number).refine((n) => n < 65536, 'must be a port number')),
  // Prometheus endpoint of the main worker process (src/metrics/); 0 or off disables it.
  METRICS_PORT: z.preprocess(
    (v) => (v === undefined || v === '' ? '9464' : v === 'off' ? '0' : v),
    z.string().regex(/^\d+$/, 'must be a port number or off').transform(Number).refine((n) => n < 65536, 'must be a port number or off'),
  ),
  METRICS_HOST: z.string().trim().min(1).default('127.0.0.1'),
  // 0 = the framework's default: none in dev, min(CPU cores, 4) with start.
  WORKER_IDLE_PROCESSES: boundedInt(0, 0, 16, ''),
  WORKER_PROCESS_START_TIMEOUT_MS: durationMs(10_000, 300_000, 1_000),
  WORKER_LOAD_THRESHOLD: z.preprocess(
    (v) => (v === '' ? undefined : v),
    z
      .string()
      .trim()
      .toLowerCase()
      .regex(/^(0(\.\d+)?|1(\.0+)?|\.\d+|off)$/, 'must be a number from 0 to 1 (a fraction of the CPU) or off')
      .transform((v) => (v === 'off' ? Infinity : Number(v)))
      .optional(),
  ),

  OPENAI_API_KEY: optionalText,
  OPENAI_BASE_URL: url(httpUrl).default(OFFICIAL_OPENAI_URL),
  VOICE_MODEL: z.string().trim().min(1).default('gpt-4o-mini'),
  OPENAI_TTS_BASE_URL: optionalUrl(httpUrl),
  OPENAI_TTS_MODEL: z.string().trim().min(1).default('gpt-4o-mini-tts'),
  OPENAI_TTS_VOICE: z.string().trim().min(1).default('alloy'),

  DEEPGRAM_API_KEY: optionalText,
  DEEPGRAM_BASE_URL: optionalUrl([...httpUrl, 'ws:', 'wss:']),
  DEEPGRAM_MODEL: z.string().trim().min(1).default('nova-3'),
  DEEPGRAM_AUDIO_CHUNK_MS: durationMs(20, 250, 10),

  CARTESIA_API_KEY: optionalText,
  CARTESIA_VOICE: optionalText,
  CARTESIA_MODEL: z.string().trim().min(1).default('sonic-2'),
  CARTESIA_BASE_URL: optionalUrl(httpUrl),
  CARTESIA_PROGRESSIVE_FRAMES: boolFlag(true),

  LETTA_BASE_URL: url(httpUrl).default('http://localhost:8283'),
  LETTA_API_KEY: optionalText,
  LETTA_AGENT_ID: optionalText,
  LETTA_AGENT_NAME: z.string().trim().min(1).default('Agent_66'),
  LETTA_MEMORY_SCOPE: z.enum(['caller', 'shared'], { message: 'must be caller or shared' }).default('caller'),
  RECALL_RECENT_MESSAGES: boundedInt(10, 0, 100, ''),
  RECALL_SEARCH: boolFlag(true),
  RECALL_SEARCH_DEBOUNCE_MS: durationMs(300, 5_000, 0),
  RECALL_SEARCH_TOP_K: count(3, 20),
  LETTA_MODEL: z.string().trim().min(1).default('openai/gpt-4o-mini'),
  LETTA_EMBEDDING: optionalText,
  LETTA_TIMEOUT_MS: durationMs(15_000, 600_000),
  FAST_PATH_FIRST_WORD_TIMEOUT_MS: durationMs(1_500, 60_000, 100),
  LETTA_FIRST_WORD_TIMEOUT_MS: durationMs(8_000, 120_000, 100),
  REPLY_STALL_TIMEOUT_MS: durationMs(3_000, 60_000, 100),
  LETTA_CANCEL_WAIT_MS: durationMs(3_000, 60_000),

  USE_HYBRID_STREAMING: boolFlag(true),
  PREEMPTIVE_GENERATION: boolFlag(true),
  PREEMPTIVE_TTS: boolFlag(true),
  TTS_FIRST_CLAUSE: boolFlag(true),
  TURN_DETECTION: z.enum(['vad', 'stt'], { message: 'must be vad or stt' }).default('vad'),
  ENDPOINTING_MIN_DELAY_MS: durationMs(400, 10_000),
  AGENT_INSTRUCTIONS: optionalText,
  GREETING: z.string().trim().default('Greet the user warmly and briefly, using what you remember about them.'),

  MEMORY_DATA_DIR: z.string().trim().min(1).default('./data'),
  MEMORY_WRITE_STRATEGY: z.enum(['agent', 'archival'], { message: 'must be agent or archival' }).default('agent'),
  MEMORY_BATCH_MAX: count(8, 100),
  MEMORY_MAX_CONCURRENCY: count(4, 64),
  MEMORY_DRAIN_DEADLINE_MS: durationMs(10_000, 600_000),
  MEMORY_DEAD_LETTER_RETENTION_DAYS: count(30, 3650),
  MEMORY_STORE: z.enum(['file', 'postgres'], { message: 'must be file or postgres' }).default('file'),
  MEMORY_DATABASE_URL: optionalUrl(['postgres:', 'postgresql:']),
  MEMORY_LEASE_TIMEOUT_MS: durationMs(30_000, 600_000, 1_000),

  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal'], { message: 'must be one of trace, debug, info, warn, error, fatal' }).default('info'),
});

type Env = z.infer<typeof envSchema>;

/**
 * The worker's whole configuration, read once from the environment.
 * Every variable is documented in .env.example and the README.
 */

export type TtsConfig =
  | {
      provider: 'cartesia';
      apiKey: string;
      voice?: string;
      model: string;
      baseUrl?: string;
      /** First audio after 20 ms of it instead of 200 ms (patched plugin option, docs/framework-patches.md). */
      progressiveFrames: boolean;
    }
  | { provider: 'openai'; apiKey: string; baseURL: string; model: string; voice: string };

export interface Config {
  livekit: {
    url?: string;
    apiKey?: string;
    apiSecret?: string;
    agentName: string;
    workerHttpPort: number;
    /** CPU load (0-1, Infinity = off) at which the worker tells LiveKit it is full; undefined = the framework's default for the mode. */
    loadThreshold?: number;
    /** Job processes kept warm; undefined = the framework's default for the mode. */
    idleProcesses?: number;
    /** How long a job process may take to start (load silero, import the agent) before the framework gives up on it. */
    processStartTimeoutMs: number;
  };
  /** Prometheus endpoint (docs/metrics.md); null when METRICS_PORT is 0 or off. */
  metrics: { port: number; host: string } | null;
  openai: { apiKey: string; baseURL: string; model: string };
  tts: TtsConfig;
  /**
   * OpenAI TTS as the fallback when Cartesia fails (src/tts/resilient-tts.ts): set when Cartesia is the TTS and an
   * OpenAI speech endpoint is usable (OPENAI_TTS_BASE_URL, or OPENAI_API_KEY for api.openai.com).
   */
  ttsFallback?: Extract<TtsConfig, { provider: 'openai' }>;
  /** audioChunkMs: audio sent to Deepgram per WebSocket message (patched plugin option; the plugin's own is 100 ms). */
  deepgram: { apiKey: string; baseUrl?: string; model: string; audioChunkMs: number };
  letta: { baseURL: string; apiKey?: string; agentId?: string; agentName: string; model: string; embedding?: string; timeoutMs: number };
  /** caller: one Letta agent per caller (LiveKit identity, src/callers/); shared: LETTA_AGENT_ID / LETTA_AGENT_NAME for everyone. */
  memoryScope: 'caller' | 'shared';
  /** Caller scope: spoken lines of earlier calls put in the fast path's prompt at session start (0 = off). */
  recallRecentMessages: number;
  /** Caller scope: search archival memory with interim transcripts (never waited for), debounce, matches kept. */
  recallSearch: { enabled: boolean; debounceMs: number; topK: number };
  /** Reply-path bounds: first speakable text per source, silence once text started, wait for an abandoned Letta run. */
  replies: { fastPathFirstWordMs: number; lettaFirstWordMs: number; stallMs: number; lettaCancelWaitMs: number };
  hybridStreaming: boolean;
  preemptiveGeneration: boolean;
  /** Also synthesize the preemptive reply before the turn is committed (hybrid, with preemptive generation). */
  preemptiveTts: boolean;
  /** Send a reply's first clause to TTS as soon as it is speakable, then whole sentences (src/tts/first-clause-tts.ts). */
  ttsFirstClause: boolean;
  turnDetection: 'vad' | 'stt';
  endpointingMinDelayMs: number;
  instructions?: string;
  greeting: string;
  memory: {
    dataDir: string;
    writeStrategy: 'agent' | 'archival';
    batchMax: number;
    maxConcurrency: number;
    drainDeadlineMs: number;
    deadLetterRetentionDays: number;
    /** Where pending turns live: the local journal, or PostgreSQL shared by every worker (src/memory/postgres/). */
    store: { kind: 'file' } | { kind: 'postgres'; databaseUrl: string; leaseTimeoutMs: number };
  };
  logLevel: Env['LOG_LEVEL'];
}

export interface LoadConfigOptions {
  /** The LiveKit worker needs server credentials; offline sessions (tests, demo) do not. */
  requireLiveKit?: boolean;
}

/** Reads and validates the environment. Throws one ConfigError naming every bad variable; values never appear in it. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, options: LoadConfigOptions = {}): Config {
  const parsed = envSchema.safeParse(env);
  const problems = parsed.success ? [] : parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
  problems.push(...missingProblems(env, options));
  if (!problems.some((p) => p.startsWith('MEMORY_DATA_DIR:'))) problems.push(...dataDirProblems(env.MEMORY_DATA_DIR?.trim() || './data'));
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems);
  return toConfig(parsed.data);
}

/** Variables that are only required in some combinations, checked on the raw environment so they are reported with the rest. */
function missingProblems(env: NodeJS.ProcessEnv, { requireLiveKit = true }: LoadConfigOptions): string[] {
  const has = (name: string) => (env[name]?.trim() ?? '') !== '';
  const problems: string[] = [];
  const missing = (name: string, why: string) => problems.push(`${name}: missing (${why})`);
  if (requireLiveKit) {
    for (const name of ['LIVEKIT_URL', 'LIVEKIT_API_KEY', 'LIVEKIT_API_SECRET']) {
      if (!has(name)) missing(name, 'required to connect the worker to LiveKit');
    }
  }
  const usesOfficialOpenAI = (env.OPENAI_BASE_URL?.trim() || OFFICIAL_OPENAI_URL).replace(/\/+$/, '') === OFFICIAL_OPENAI_URL;
  if (!has('OPENAI_API_KEY') && usesOfficialOpenAI) {
    missing('OPENAI_API_KEY', 'required by api.openai.com; set OPENAI_BASE_URL for a keyless local server');
  }
  if (!has('DEEPGRAM_API_KEY')) missing('DEEPGRAM_API_KEY', 'required for speech-to-text');
  if (env.MEMORY_STORE?.trim() === 'postgres' && !has('MEMORY_DATABASE_URL')) missing('MEMORY_DATABASE_URL', 'required by MEMORY_STORE=postgres');
  return problems;
}

/**
 * The journal must be writable before the first call, not discovered broken at the first turn. Checked without
 * side effects: an existing directory must be writable; a missing one must be creatable under its nearest existing
 * ancestor (which the journal then creates). The path itself appears in the message; it is not a secret.
 */
function dataDirProblems(dataDir: string): string[] {
  const problem = (why: string) => [`MEMORY_DATA_DIR: ${why} (${dataDir})`];
  let dir = path.resolve(dataDir);
  let missing = false;
  for (;;) {
    try {
      if (!statSync(dir).isDirectory()) return problem(missing ? `cannot be created: ${dir} is not a directory` : 'is not a directory');
      break;
    } catch {
      const parent = path.dirname(dir);
      if (parent === dir) return problem('has no existing parent directory');
      dir = parent;
      missing = true;
    }
  }
  try {
    accessSync(dir, fsConstants.W_OK | fsConstants.X_OK);
  } catch {
    return problem(missing ? `cannot be created: ${dir} is not writable` : 'is not writable');
  }
  return [];
}

/** OpenAI speech needs an endpoint that serves /audio/speech: an explicit one, or api.openai.com with a key. */
function openaiTtsFallback(env: Env): Config['ttsFallback'] {
  const baseURL = env.OPENAI_TTS_BASE_URL ?? env.OPENAI_BASE_URL;
  const official = baseURL.replace(/\/+$/, '') === OFFICIAL_OPENAI_URL;
  if (!env.OPENAI_TTS_BASE_URL && !(official && env.OPENAI_API_KEY)) return undefined;
  const apiKey = env.OPENAI_API_KEY ?? 'not-needed';
  return { provider: 'openai', apiKey, baseURL, model: env.OPENAI_TTS_MODEL, voice: env.OPENAI_TTS_VOICE };
}

function toConfig(env: Env): Config {
  // Local OpenAI-compatible servers (Ollama, vLLM) ignore the key but the SDK insists on one.
  const openaiKey = env.OPENAI_API_KEY ?? 'not-needed';
  return {
    livekit: { url: env.LIVEKIT_URL, apiKey: env.LIVEKIT_API_KEY, apiSecret: env.LIVEKIT_API_SECRET, agentName: env.AGENT_NAME,
      workerHttpPort: env.WORKER_HTTP_PORT,
      loadThreshold: env.WORKER_LOAD_THRESHOLD,
      idleProcesses: env.WORKER_IDLE_PROCESSES || undefined,
      processStartTimeoutMs: env.WORKER_PROCESS_START_TIMEOUT_MS,
    },
    metrics: env.METRICS_PORT === 0 ? null : { port: env.METRICS_PORT, host: env.METRICS_HOST },
    openai: { apiKey: openaiKey, baseURL: env.OPENAI_BASE_URL, model: env.VOICE_MODEL },
    ttsFallback: env.CARTESIA_API_KEY ? openaiTtsFallback(env) : undefined,
    tts: env.CARTESIA_API_KEY
      ? {
          provider: 'cartesia',
          apiKey: env.CARTESIA_API_KEY,
          voice: env.CARTESIA_VOICE,
          model: env.CARTESIA_MODEL,
          baseUrl: env.CARTESIA_BASE_URL,
          progressiveFrames: env.CARTESIA_PROGRESSIVE_FRAMES,
        }
      : {
          provider: 'openai',
          apiKey: openaiKey,
          baseURL: env.OPENAI_TTS_BASE_URL ?? env.OPENAI_BASE_URL,
          model: env.OPENAI_TTS_MODEL,
          voice: env.OPENAI_TTS_VOICE,
        },
    deepgram: { apiKey: env.DEEPGRAM_API_KEY ?? '', baseUrl: env.DEEPGRAM_BASE_URL, model: env.DEEPGRAM_MODEL, audioChunkMs: env.DEEPGRAM_AUDIO_CHUNK_MS },
    letta: {
      baseURL: env.LETTA_BASE_URL,
      apiKey: env.LETTA_API_KEY,
      agentId: env.LETTA_AGENT_ID,
      agentName: env.LETTA_AGENT_NAME,
      model: env.LETTA_MODEL,
      embedding: env.LETTA_EMBEDDING,
      timeoutMs: env.LETTA_TIMEOUT_MS,
    },
    replies: {
      fastPathFirstWordMs: env.FAST_PATH_FIRST_WORD_TIMEOUT_MS,
      lettaFirstWordMs: env.LETTA_FIRST_WORD_TIMEOUT_MS,
      stallMs: env.REPLY_STALL_TIMEOUT_MS,
      lettaCancelWaitMs: env.LETTA_CANCEL_WAIT_MS,
    },
    memoryScope: env.LETTA_MEMORY_SCOPE,
    recallRecentMessages: env.RECALL_RECENT_MESSAGES,
    recallSearch: { enabled: env.RECALL_SEARCH, debounceMs: env.RECALL_SEARCH_DEBOUNCE_MS, topK: env.RECALL_SEARCH_TOP_K },
    hybridStreaming: env.USE_HYBRID_STREAMING,
    preemptiveGeneration: env.PREEMPTIVE_GENERATION,
    preemptiveTts: env.PREEMPTIVE_TTS,
    ttsFirstClause: env.TTS_FIRST_CLAUSE,
    turnDetection: env.TURN_DETECTION,
    endpointingMinDelayMs: env.ENDPOINTING_MIN_DELAY_MS,
    instructions: env.AGENT_INSTRUCTIONS,
    greeting: env.GREETING,
    memory: {
      dataDir: env.MEMORY_DATA_DIR,
      writeStrategy: env.MEMORY_WRITE_STRATEGY,
      batchMax: env.MEMORY_BATCH_MAX,
      maxConcurrency: env.MEMORY_MAX_CONCURRENCY,
      drainDeadlineMs: env.MEMORY_DRAIN_DEADLINE_MS,
      deadLetterRetentionDays: env.MEMORY_DEAD_LETTER_RETENTION_DAYS,
      store:
        env.MEMORY_STORE === 'postgres'
          ? { kind: 'postgres', databaseUrl: env.MEMORY_DATABASE_URL ?? '', leaseTimeoutMs: env.MEMORY_LEASE_TIMEOUT_MS }
          : { kind: 'file' },
    },
    logLevel: env.LOG_LEVEL,
  };
}

/** Every secret in the config, so log lines and error messages can be scrubbed of them. */
export function secretsOf(config: Config): string[] {
  const databasePassword = config.memory.store.kind === 'postgres' ? databaseUrlPassword(config.memory.store.databaseUrl) : undefined;
  return [config.livekit.apiSecret, config.livekit.apiKey, config.openai.apiKey, config.tts.apiKey, config.deepgram.apiKey, config.letta.apiKey, databasePassword].filter(
    (s): s is string => typeof s === 'string' && s.length >= 4 && s !== 'not-needed',
  );
}

function databaseUrlPassword(url: string): string | undefined {
  try {
    return decodeURIComponent(new URL(url).password) || undefined;
  } catch {
    return undefined;
  }
}
