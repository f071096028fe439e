/**
 * The legacy self-hosted Letta server (letta==0.16.8 from the virtualenv `scripts/e2e/setup-30-letta.sh` builds)
 * on loopback, for the Letta e2e tests. Its LLM and embeddings are our OpenAI stand-in.
 *
 * Order matters (letta 0.16.8 source):
 * 1. the OpenAI stand-in runs first: at start-up the server lists the provider's models
 *    (letta/server/server.py, `get_enabled_providers` / `OpenAIProvider.list_llm_models_async`); with a base URL
 *    other than api.openai.com the provider is named `openai-proxy`, so handles are `openai-proxy/<model>`;
 * 2. PostgreSQL with pgvector (see postgres.ts); Letta has no SQLite path in this release's server;
 * 3. `alembic upgrade head` from the release's source tree: `letta server` does not migrate
 *    (letta/server/startup.sh does it before starting the server in the Docker image);
 * 4. `letta server --host 127.0.0.1 --port <free>` with LETTA_PG_URI and OPENAI_BASE_URL/OPENAI_API_KEY.
 * The server runs in a temp working directory with a temp HOME: ModelSettings reads `.env` from the working
 * directory (letta/settings.py) and the server writes ~/.letta.
 *
 * ```ts
 * const letta = await startRealLettaServer();
 * const client = new Letta({ baseURL: letta.baseURL, apiKey: 'x' });
 * letta.openai.options.reply = () => 'Hi.';     // the stand-in that plays Letta's LLM
 * await letta.stop();
 * ```
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startOpenAIServer, type OpenAIServer, type OpenAIServerOptions } from '../stand-ins/openai-server.js';
import { e2eCacheDir } from './e2e-cache.js';
import { freeTcpPort } from './livekit-server.js';
import { lettaVenvDir, startRealPostgres, type RealPostgres } from './postgres.js';

export interface RealLettaServer {
  /** http://127.0.0.1:<port> — what LETTA_BASE_URL should be. */
  baseURL: string;
  /** The model handle agents should use (`openai-proxy/<model>`). */
  modelHandle: string;
  /** The embedding handle: letta 0.16.8 lists embedding models of the same provider as `openai/<model>`. */
  embeddingHandle: string;
  /** The OpenAI stand-in that answers Letta's LLM and embedding calls. */
  openai: OpenAIServer;
  postgres: RealPostgres;
  /** Everything the Letta server printed so far. */
  output(): string;
  stop(): Promise<void>;
}

export interface RealLettaServerOptions {
  openai?: Partial<OpenAIServerOptions>;
  /** How long to wait for the server to answer /v1/health/. Default 180 s (imports alone take a while). */
  startTimeoutMs?: number;
}

const OPENAI_KEY = 'sk-letta-e2e';

function lettaPaths() {
  const venv = lettaVenvDir();
  const letta = path.join(venv, 'bin', 'letta');
  const alembic = path.join(venv, 'bin', 'alembic');
  const source = path.join(venv, 'letta-source');
  if (!existsSync(letta) || !existsSync(path.join(source, 'alembic.ini'))) {
    throw new Error(`the Letta server is not installed in ${venv}: run \`npm run e2e:setup\` first`);
  }
  return { letta, alembic, source };
}

function runToEnd(file: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const child = spawn(file, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${path.basename(file)} ${args.join(' ')} exited with ${code}:\n${out.slice(-4000)}`))));
  });
}

async function waitForHealth(url: string, child: ChildProcess, timeoutMs: number, output: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`letta server exited with ${child.exitCode} before it was ready:\n${output().slice(-4000)}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`letta server did not answer ${url} within ${timeoutMs} ms:\n${output().slice(-4000)}`);
}

export async function startRealLettaServer(options: RealLettaServerOptions = {}): Promise<RealLettaServer> {
  const paths = lettaPaths();
  const openai = await startOpenAIServer({ apiKey: OPENAI_KEY, ...options.openai });
  let postgres: RealPostgres | undefined;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const home = await mkdtemp(path.join(tmpdir(), 'letta-home-'));
  let log = '';
  const output = () => log;

  const stop = async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child?.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    }
    // Kept for a look after a failed run (the server prints no timestamps, so order is all there is).
    await writeFile(path.join(e2eCacheDir(), 'letta-server.log'), log).catch(() => undefined);
    await postgres?.stop();
    await openai.close();
    await rm(home, { recursive: true, force: true });
  };

  try {
    postgres = await startRealPostgres();
    const env: NodeJS.ProcessEnv = {
      PATH: `${path.dirname(paths.letta)}:${process.env.PATH ?? '/usr/bin:/bin'}`,
      HOME: home,
      LANG: 'C.UTF-8',
      TZ: 'UTC',
      LETTA_PG_URI: postgres.uri,
      OPENAI_BASE_URL: openai.baseURL,
      OPENAI_API_KEY: OPENAI_KEY,
      // No telemetry or external tool sandboxes on a test machine.
      LETTA_TELEMETRY_ENABLE_DATADOG: 'false',
    };
    await runToEnd(paths.alembic, ['upgrade', 'head'], { cwd: paths.source, env });
    const port = await freeTcpPort();
    child = spawn(paths.letta, ['server', '--host', '127.0.0.1', '--port', String(port)], { cwd: home, env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
    const started = child;
    exited = new Promise<void>((resolve) => started.once('exit', () => resolve()));
    const baseURL = `http://127.0.0.1:${port}`;
    await waitForHealth(`${baseURL}/v1/health/`, child, options.startTimeoutMs ?? 180_000, output);
    return {
      baseURL,
      modelHandle: 'openai-proxy/gpt-4o-mini',
      embeddingHandle: 'openai/text-embedding-3-small',
      openai,
      postgres,
      output,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
