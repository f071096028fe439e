/**
 * What a real call needs around the worker: the real livekit-server, the provider stand-ins (OpenAI, Deepgram,
 * Cartesia, Letta, as the voice-call harness wires them) and the environment a user would give the worker, pointing at
 * all of them. The worker and the token server are started as users start them (see worker.ts, token-server.ts).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freeTcpPort, startRealLiveKitServer, type RealLiveKitServer } from '../../../simulation/real-servers/livekit-server.js';
import { CartesiaServer } from '../../../simulation/stand-ins/cartesia-server.js';
import { DeepgramServer } from '../../../simulation/stand-ins/deepgram-server.js';
import { startLettaServer, type LettaServer } from '../../../simulation/stand-ins/letta-server.js';
import { lastUserText, startOpenAIServer, type ChatRequestBody, type OpenAIServer } from '../../../simulation/stand-ins/openai-server.js';

export const GREETING_REPLY = 'Hello Sam, good to hear from you again.';
export const AGENT_NAME = 'e2e-letta-voice-agent';

const OPENAI_KEY = 'sk-local-e2e';
const LETTA_KEY = 'letta-local-e2e';

/** The OpenAI stand-in's replies: a fixed greeting (no user line yet), then a short answer naming what was heard. */
export function e2eReply(req: ChatRequestBody): string {
  const heard = lastUserText(req).trim();
  return heard === '' ? GREETING_REPLY : `Noted: ${heard.replace(/[.?!]+$/, '')}. Anything else?`;
}

export interface VoiceStack {
  livekit: RealLiveKitServer;
  openai: OpenAIServer;
  deepgram: DeepgramServer;
  cartesia: CartesiaServer;
  letta: LettaServer;
  lettaAgentId: string;
  /** A fresh temp dir for this stack (journal, run dir); removed by close(). */
  dir: string;
  /** The worker's and the web server's environment, as a user's .env would set it. Nothing inherited but PATH/HOME. */
  env(extra?: Record<string, string>): Promise<NodeJS.ProcessEnv>;
  close(): Promise<void>;
}

/**
 * livekit-server closes a room `departure_timeout` seconds after the last caller left (default 20, pkg/config/config.go
 * v1.13.5; agents are dependent participants, pkg/rtc/room.go), and only then is the agent disconnected and the job's
 * shutdown callbacks run. The tests shorten it so a call's drain does not wait 20 s.
 */
export const DEPARTURE_TIMEOUT_SECONDS = 2;

export async function startVoiceStack(): Promise<VoiceStack> {
  const livekit = await startRealLiveKitServer({ extraConfig: `room:\n  departure_timeout: ${DEPARTURE_TIMEOUT_SECONDS}\n` });
  // Small latencies: this checks the path, not the speed (the bench measures that).
  const [openai, letta, deepgram, cartesia] = await Promise.all([
    startOpenAIServer({ apiKey: OPENAI_KEY, ttftMs: 50, tokenDelayMs: 5, reply: e2eReply }),
    startLettaServer({ apiKey: LETTA_KEY, messageLatencyMs: 200, tokenDelayMs: 5, streamMode: 'tokens' }),
    DeepgramServer.start({ recognitionDelayMs: 50 }),
    CartesiaServer.start({ ttfbMs: 50, realTimeFactor: 0.3 }),
  ]);
  const agent = letta.seedAgent({
    name: 'Agent_66',
    blocks: [
      { label: 'persona', value: 'I am Ada, a calm and concise voice assistant.' },
      { label: 'human', value: 'The user is called Sam.' },
    ],
  });
  const dir = mkdtempSync(path.join(tmpdir(), 'e2e-voice-'));

  const env = async (extra: Record<string, string> = {}): Promise<NodeJS.ProcessEnv> => ({
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    TMPDIR: tmpdir(),
    LIVEKIT_URL: livekit.url,
    LIVEKIT_API_KEY: livekit.apiKey,
    LIVEKIT_API_SECRET: livekit.apiSecret,
    AGENT_NAME,
    WORKER_HTTP_PORT: String(await freeTcpPort()),
    METRICS_PORT: String(await freeTcpPort()),
    WEB_HOST: '127.0.0.1',
    WEB_PORT: String(await freeTcpPort()),
    // Signs the cookie that gives each browser its own caller identity (per-caller memory); unused otherwise.
    WEB_COOKIE_SECRET: randomBytes(48).toString('base64'),
    OPENAI_BASE_URL: openai.baseURL,
    OPENAI_API_KEY: OPENAI_KEY,
    DEEPGRAM_API_KEY: 'dg-local-e2e',
    DEEPGRAM_BASE_URL: deepgram.url,
    CARTESIA_API_KEY: 'cartesia-local-e2e',
    CARTESIA_BASE_URL: cartesia.url,
    LETTA_BASE_URL: letta.baseURL,
    LETTA_API_KEY: LETTA_KEY,
    LETTA_AGENT_ID: agent.id,
    USE_HYBRID_STREAMING: 'true',
    MEMORY_DATA_DIR: mkdtempSync(path.join(dir, 'data-')),
    // Two shared cores: starting a job process can take longer than the framework's 10 s.
    WORKER_PROCESS_START_TIMEOUT_MS: '60000',
    LOG_LEVEL: 'info',
    ...extra,
  });

  const close = async () => {
    await Promise.allSettled([livekit.stop(), openai.close(), letta.close(), deepgram.close(), cartesia.close()]);
    rmSync(dir, { recursive: true, force: true });
  };
  return { livekit, openai, deepgram, cartesia, letta, lettaAgentId: agent.id, dir, env, close };
}
