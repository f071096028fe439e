/**
 * Everything a real browser call needs, started the way a user starts it:
 *
 *   Chromium (fake mic) ──► voice room page from `npm run web` ──► token with explicit agent dispatch
 *        │                                                               │
 *        └──── WebRTC ───► real livekit-server (loopback) ◄── `tsx src/main.ts dev` (worker + job processes)
 *                                                                        │
 *                          OpenAI / Deepgram / Cartesia / Letta stand-ins (this process, injected latencies)
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startRealLiveKitServer, freeTcpPort, type RealLiveKitServer } from '../real-servers/livekit-server.js';
import {
  LETTA_KEY,
  OPENAI_KEY,
  REALISTIC_LATENCIES,
  startProviders,
  type ProviderLatencies,
  type VoiceCallHarnessOptions,
} from '../harness/voice-call-harness.js';
import { startTsx, waitForHttpOk, type ChildService } from './child-service.js';

export type StandIns = Awaited<ReturnType<typeof startProviders>>;

export interface CallRigOptions {
  latencies?: Partial<ProviderLatencies>;
  openaiReply?: VoiceCallHarnessOptions['openaiReply'];
  /** Extra worker environment (e.g. USE_HYBRID_STREAMING=false). */
  workerEnv?: Record<string, string>;
  /** Progress lines (start-up steps). */
  log?: (line: string) => void;
}

export interface CallRig {
  livekit: RealLiveKitServer;
  standIns: StandIns;
  latencies: ProviderLatencies;
  web: WebProcess;
  /** Base URL of the voice room page, e.g. http://127.0.0.1:41234 */
  webUrl: string;
  worker: ChildService;
  agentName: string;
  close(): Promise<void>;
}

/** The worker's environment: LiveKit from the real server, every provider from a stand-in. */
export function workerEnvironment(o: {
  livekit: RealLiveKitServer;
  standIns: StandIns;
  agentName: string;
  workerHttpPort: number;
  dataDir: string;
  extra?: Record<string, string>;
}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_OPTIONS: process.env.NODE_OPTIONS,
    LIVEKIT_URL: o.livekit.url,
    LIVEKIT_API_KEY: o.livekit.apiKey,
    LIVEKIT_API_SECRET: o.livekit.apiSecret,
    AGENT_NAME: o.agentName,
    WORKER_HTTP_PORT: String(o.workerHttpPort),
    OPENAI_BASE_URL: o.standIns.openai.baseURL,
    OPENAI_API_KEY: OPENAI_KEY,
    DEEPGRAM_API_KEY: 'dg-local-browser-call',
    DEEPGRAM_BASE_URL: o.standIns.deepgram.url,
    CARTESIA_API_KEY: 'cartesia-local-browser-call',
    CARTESIA_BASE_URL: o.standIns.cartesia.url,
    LETTA_BASE_URL: o.standIns.letta.baseURL,
    LETTA_API_KEY: LETTA_KEY,
    MEMORY_DATA_DIR: o.dataDir,
    // Two shared cores: starting a job process can take longer than the framework's 10 s.
    WORKER_PROCESS_START_TIMEOUT_MS: '60000',
    LOG_LEVEL: 'info',
    ...o.extra,
  };
}

export interface WebProcess extends ChildService {
  /** Base URL of the voice room page, e.g. http://127.0.0.1:41234 */
  url: string;
}

/**
 * `npm run web` (tsx src/web/server.ts) on a free loopback port, configured as deployed by default (caller memory
 * scope: the server binds each browser's identity with a signed cookie); resolves once /healthz answers.
 */
export async function startWebProcess(env: Record<string, string>, cwd: string): Promise<WebProcess> {
  const port = await freeTcpPort();
  const web = startTsx(
    'web server',
    'src/web/server.ts',
    [],
    {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      WEB_HOST: '127.0.0.1',
      WEB_PORT: String(port),
      WEB_COOKIE_SECRET: randomBytes(48).toString('base64'),
      ...env,
    },
    cwd,
  );
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHttpOk(web, `${url}/healthz`, 60_000);
  } catch (err) {
    await web.stop(5_000);
    throw err;
  }
  return Object.assign(web, { url });
}

export async function startCallRig(options: CallRigOptions = {}): Promise<CallRig> {
  const log = options.log ?? (() => undefined);
  const latencies = { ...REALISTIC_LATENCIES, ...options.latencies };
  const agentName = `browser-call-${process.pid}`;
  const cleanups: Array<() => Promise<unknown>> = [];
  const close = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  };
  try {
    log('starting livekit-server on loopback');
    // livekit-server only offers a job to a worker whose reported load (the machine's CPU use, agents-js
    // defaultCpuLoad) is below agents.target_load (0.7 by default; pkg/service/agentservice.go JobRequestAffinity,
    // v1.13.5). On a shared 2-core box the caller's own browser and the worker's start-up push it past 0.7, and the
    // one dispatch a room gets would be refused; 1.0 still refuses a worker whose machine is fully saturated.
    const livekit = await startRealLiveKitServer({ extraConfig: 'agents:\n  target_load: 1.0\n' });
    cleanups.push(() => livekit.stop());

    const standIns = await startProviders(latencies, options.openaiReply ? { openaiReply: options.openaiReply } : {});
    cleanups.push(() =>
      Promise.all([standIns.openai.close(), standIns.letta.close(), standIns.deepgram.close(), standIns.cartesia.close()]),
    );

    // Working directory of the child processes (no .env) and home of the worker's memory journal.
    const dataDir = await mkdtemp(path.join(tmpdir(), 'browser-call-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));

    log('starting the web server (npm run web)');
    const web = await startWebProcess(
      { LIVEKIT_URL: livekit.url, LIVEKIT_API_KEY: livekit.apiKey, LIVEKIT_API_SECRET: livekit.apiSecret, AGENT_NAME: agentName },
      dataDir,
    );
    cleanups.push(() => web.stop(5_000));
    const webUrl = web.url;

    log('starting the worker (tsx src/main.ts dev)');
    const worker = startTsx(
      'worker',
      'src/main.ts',
      ['dev'],
      workerEnvironment({ livekit, standIns, agentName, workerHttpPort: await freeTcpPort(), dataDir: path.join(dataDir, 'memory'), extra: options.workerEnv }),
      dataDir,
    );
    cleanups.push(() => worker.stop());
    await worker.waitForOutput(/registered worker/, 120_000);

    return { livekit, standIns, latencies, web, webUrl, worker, agentName, close };
  } catch (err) {
    await close();
    throw err;
  }
}
