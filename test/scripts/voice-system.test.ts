/**
 * start_voice_system.sh → restart → stop, for real: the worker (`src/main.ts
 * start`) and the web server run as background processes against a local
 * LiveKit worker-protocol stand-in. Every other service the worker could use
 * (OpenAI, Deepgram, Letta) is a closed loopback port: start-up must not need them.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLiveKitServer, type LiveKitServer } from '../../simulation/stand-ins/livekit-server.js';
import { closedLoopbackPort } from '../web/helpers.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const API_KEY = 'APIscripttest';
const API_SECRET = 'script-test-secret-3b9d0f6a1c2e4f5a7b8c9d0e';
const AGENT_NAME = 'voice-system-test-agent';
const STEP_TIMEOUT_MS = 180_000;

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runScript(script: string, env: NodeJS.ProcessEnv, timeoutMs = STEP_TIMEOUT_MS): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [join(ROOT, script)], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} timed out\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** True while any process of the group (worker + its job processes) exists. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

async function status(url: string): Promise<number> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

/**
 * Waits until the worker's idle job processes are warm. @livekit/agents 1.8.1
 * hangs on SIGTERM while they are still starting (drain → "runner not
 * started"), which the stop script's SIGKILL fallback covers; the graceful
 * path is tested on a warm worker.
 */
async function waitForWarmWorker(timeoutMs = 90_000): Promise<void> {
  const idle = Math.min(availableParallelism(), 4); // Default.numIdleProcesses(production) in worker.js
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const log = readFileSync(join(runDir, 'worker.log'), 'utf8');
    const sinceStart = log.slice(log.lastIndexOf('start worker ====='));
    if ((sinceStart.match(/job runner initialized/g) ?? []).length >= idle) return;
    if (Date.now() > deadline) throw new Error(`worker not warm after ${timeoutMs} ms:\n${sinceStart.slice(-3000)}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

let livekit: LiveKitServer;
let tmp: string;
let runDir: string;
let env: NodeJS.ProcessEnv;
let workerPort: number;
let webPort: number;
const seenPids = new Set<number>();

function readPids(): { worker: number; web: number } {
  const read = (name: string) => Number(readFileSync(join(runDir, `${name}.pid`), 'utf8').trim());
  const pids = { worker: read('worker'), web: read('web') };
  seenPids.add(pids.worker).add(pids.web);
  return pids;
}

beforeAll(async () => {
  livekit = await startLiveKitServer({ apiKey: API_KEY, apiSecret: API_SECRET });
  tmp = mkdtempSync(join(tmpdir(), 'voice-system-'));
  runDir = join(tmp, 'run');
  workerPort = await closedLoopbackPort();
  webPort = await closedLoopbackPort();
  const closed = await closedLoopbackPort(); // nothing listens here: OpenAI, Deepgram and Letta are "down"
  env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    TMPDIR: tmpdir(),
    ENV_FILE: join(tmp, 'no.env'), // a developer's .env must not change the test
    RUN_DIR: runDir,
    STOP_GRACE_SECONDS: '20',
    START_TIMEOUT_SECONDS: '120',
    LIVEKIT_URL: livekit.url,
    LIVEKIT_API_KEY: API_KEY,
    LIVEKIT_API_SECRET: API_SECRET,
    AGENT_NAME,
    WORKER_HTTP_PORT: String(workerPort),
    WEB_HOST: '127.0.0.1',
    WEB_PORT: String(webPort),
    // Required by the web server in caller memory scope (the default): it signs each browser's identity cookie.
    WEB_COOKIE_SECRET: 'scripts-test-cookie-secret-0123456789abcdef',
    OPENAI_API_KEY: 'sk-test-dummy',
    OPENAI_BASE_URL: `http://127.0.0.1:${closed}/v1`,
    DEEPGRAM_API_KEY: 'dg-test-dummy',
    DEEPGRAM_BASE_URL: `ws://127.0.0.1:${closed}/v1/listen`,
    CARTESIA_API_KEY: '', // set (empty) so a .env cannot fill it in: OpenAI TTS at the closed port
    LETTA_BASE_URL: `http://127.0.0.1:${closed}`,
    LETTA_API_KEY: '',
    LETTA_AGENT_ID: '',
    MEMORY_DATA_DIR: join(tmp, 'data'),
    USE_HYBRID_STREAMING: 'true',
    LOG_LEVEL: 'debug', // the test watches the log for "job runner initialized"
  };
});

afterAll(async () => {
  // Never leave processes behind, even when a step failed half-way.
  if (runDir && existsSync(join(runDir, 'worker.pid'))) {
    await runScript('stop_voice_system.sh', { ...env, STOP_GRACE_SECONDS: '5' }).catch(() => undefined);
  }
  for (const pid of seenPids) {
    if (groupAlive(pid)) process.kill(-pid, 'SIGKILL');
  }
  await livekit?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('voice system scripts', () => {
  it(
    'refuses a bad configuration, naming the variables and starting nothing',
    async () => {
      const result = await runScript('start_voice_system.sh', {
        ...env,
        LIVEKIT_API_KEY: '',
        WEB_PORT: 'not-a-port',
      });
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain('LIVEKIT_API_KEY');
      expect(result.stderr).toContain('WEB_PORT');
      expect(result.stderr + result.stdout).not.toContain(API_SECRET);
      expect(existsSync(join(runDir, 'worker.pid'))).toBe(false);
      expect(existsSync(join(runDir, 'web.pid'))).toBe(false);
    },
    STEP_TIMEOUT_MS,
  );

  let first: { worker: number; web: number };

  it(
    'starts the worker and the web server and waits until both are healthy',
    async () => {
      const result = await runScript('start_voice_system.sh', env);
      expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
      expect(result.stdout).toContain(`open the voice room: http://127.0.0.1:${webPort}/`);
      first = readPids();
      expect(isAlive(first.worker)).toBe(true);
      expect(isAlive(first.web)).toBe(true);
      expect(await status(`http://127.0.0.1:${workerPort}/`)).toBe(200);
      expect(await status(`http://127.0.0.1:${webPort}/healthz`)).toBe(200);
      const registered = livekit.workers.filter((w) => w.connected);
      expect(registered).toHaveLength(1);
      expect(registered[0]?.agentName).toBe(AGENT_NAME);
      expect(existsSync(join(runDir, 'worker.log'))).toBe(true);
    },
    STEP_TIMEOUT_MS,
  );

  it(
    'refuses to start twice',
    async () => {
      const result = await runScript('start_voice_system.sh', env);
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain('already running');
      expect(readPids()).toEqual(first);
      expect(isAlive(first.worker)).toBe(true);
    },
    STEP_TIMEOUT_MS,
  );

  it(
    'restarts with new processes',
    async () => {
      // Right after start the worker is still warming up, so this usually
      // exercises the SIGKILL-after-grace path: keep the grace short.
      const result = await runScript('restart_voice_system.sh', { ...env, STOP_GRACE_SECONDS: '8' });
      expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
      const second = readPids();
      expect(second.worker).not.toBe(first.worker);
      expect(second.web).not.toBe(first.web);
      expect(groupAlive(first.worker)).toBe(false);
      expect(isAlive(first.web)).toBe(false);
      expect(isAlive(second.worker)).toBe(true);
      expect(isAlive(second.web)).toBe(true);
      expect(await status(`http://127.0.0.1:${workerPort}/`)).toBe(200);
      expect(await status(`http://127.0.0.1:${webPort}/healthz`)).toBe(200);
      expect(livekit.workers).toHaveLength(2);
      expect(livekit.workers.filter((w) => w.connected)).toHaveLength(1);
    },
    STEP_TIMEOUT_MS,
  );

  it(
    'stops a warm worker gracefully, with everything gone and the PID files removed',
    async () => {
      const pids = readPids();
      await waitForWarmWorker();
      const started = Date.now();
      const result = await runScript('stop_voice_system.sh', env);
      expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
      expect(result.stdout).toContain('worker stopped');
      expect(result.stdout).not.toContain('SIGKILL');
      expect(Date.now() - started).toBeLessThan(20_000); // well inside STOP_GRACE_SECONDS
      expect(readFileSync(join(runDir, 'worker.log'), 'utf8')).toContain('worker closed due to SIGTERM');
      expect(existsSync(join(runDir, 'worker.pid'))).toBe(false);
      expect(existsSync(join(runDir, 'web.pid'))).toBe(false);
      for (const pid of [pids.worker, pids.web]) {
        expect(isAlive(pid)).toBe(false);
        expect(groupAlive(pid)).toBe(false); // job processes too
      }
      expect(await status(`http://127.0.0.1:${workerPort}/`)).toBe(0);
      expect(await status(`http://127.0.0.1:${webPort}/healthz`)).toBe(0);
      // Stopping again is harmless.
      const again = await runScript('stop_voice_system.sh', env);
      expect(again.code).toBe(0);
      expect(again.stdout).toContain('not running');
    },
    STEP_TIMEOUT_MS,
  );
});
