/**
 * The worker and the token server, started as a user starts them: `tsx src/main.ts dev|start` (what `npm run dev` /
 * `npm start` run) and `tsx src/web/server.ts` (`npm run web`), as child processes. Their working directory is a temp
 * dir, so a developer's .env cannot change the test; only the environment given here counts.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startChild, waitForHttpOk, type RunningChild } from './child-process.js';
import type { RealLiveKitServer } from '../../../simulation/real-servers/livekit-server.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const TSX = path.join(ROOT, 'node_modules/.bin/tsx');

export interface WorkerProcess extends RunningChild {
  healthUrl: string;
}

/** Escapes text for use inside a RegExp. */
export const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Starts the worker and waits until it is registered with LiveKit: its health endpoint answers 200 (the framework's
 * health check requires an open worker connection) and livekit-server logged "worker registered" for its agent name.
 */
export async function startWorker(
  mode: 'dev' | 'start',
  env: NodeJS.ProcessEnv,
  livekit: RealLiveKitServer,
  cwd: string,
  timeoutMs = 120_000,
): Promise<WorkerProcess> {
  const serverLogOffset = livekit.output().length;
  const worker = startChild(`worker (${mode})`, TSX, [path.join(ROOT, 'src/main.ts'), mode], { cwd, env });
  const healthUrl = `http://127.0.0.1:${env.WORKER_HTTP_PORT}/`;
  try {
    await waitForHttpOk(healthUrl, timeoutMs, () => worker.output().slice(-4000), worker);
    await waitForServerLog(livekit, new RegExp(`worker registered.*"agentName":\\s*"${literal(String(env.AGENT_NAME))}"`), 20_000, serverLogOffset);
  } catch (err) {
    await worker.stop(5_000);
    throw err;
  }
  return { ...worker, healthUrl };
}

export async function waitForServerLog(livekit: RealLiveKitServer, pattern: RegExp, timeoutMs: number, fromOffset = 0): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = livekit.output().slice(fromOffset).match(pattern);
    if (match) return match;
    if (Date.now() > deadline) throw new Error(`livekit-server did not log ${pattern} within ${timeoutMs} ms:\n${livekit.output().slice(-3000)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export interface TokenServer extends RunningChild {
  url: string;
  /**
   * POST /api/token, as the voice room page does. The server picks the identity (with per-caller memory it comes from
   * a signed cookie and a different one in the body is refused), so only the room is asked for.
   */
  token(room: string): Promise<{ token: string; url: string; room: string; identity: string }>;
}

export async function startTokenServer(env: NodeJS.ProcessEnv, cwd: string, timeoutMs = 60_000): Promise<TokenServer> {
  const web = startChild('web server', TSX, [path.join(ROOT, 'src/web/server.ts')], { cwd, env });
  const url = `http://127.0.0.1:${env.WEB_PORT}`;
  try {
    await waitForHttpOk(`${url}/healthz`, timeoutMs, () => web.output().slice(-4000), web);
  } catch (err) {
    await web.stop(5_000);
    throw err;
  }
  const token = async (room: string) => {
    const res = await fetch(`${url}/api/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ room }),
    });
    if (!res.ok) throw new Error(`POST /api/token answered ${res.status}: ${await res.text()}`);
    return (await res.json()) as { token: string; url: string; room: string; identity: string };
  };
  return { ...web, url, token };
}
