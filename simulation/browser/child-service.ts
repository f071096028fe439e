/**
 * A project command run the way a user runs it (`tsx src/main.ts dev`, `tsx src/web/server.ts`), as a child process
 * in its own process group, with its output kept for readiness checks and failure messages. It runs in an empty
 * working directory, so a developer's .env cannot change a measurement: only the environment given here counts.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TSX = path.join(REPO_ROOT, 'node_modules/.bin/tsx');

export interface ChildService {
  readonly name: string;
  readonly pid: number;
  /** Everything it printed so far (stdout and stderr interleaved). */
  output(): string;
  exited(): boolean;
  /** Resolves once `pattern` appears in the output; rejects with the output if it exits or the time runs out. */
  waitForOutput(pattern: RegExp, timeoutMs: number): Promise<void>;
  /** SIGTERM to its process group (job processes included), SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

const MAX_OUTPUT_CHARS = 2_000_000;

export function startTsx(name: string, script: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): ChildService {
  // detached: its own process group, so stop() also reaches the job processes the worker forks.
  const child = spawn(TSX, [path.join(REPO_ROOT, script), ...args], { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const append = (d: Buffer) => {
    log += d.toString();
    if (log.length > MAX_OUTPUT_CHARS) log = log.slice(-MAX_OUTPUT_CHARS / 2);
  };
  child.stdout.on('data', append);
  child.stderr.on('data', append);
  const exit = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${name}: could not start ${TSX} ${script} ${args.join(' ')}`);

  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-pid, signal);
    } catch {
      // the group is already gone
    }
  };

  return {
    name,
    pid,
    output: () => log,
    exited,
    async waitForOutput(pattern, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(log)) {
        if (exited()) throw new Error(`${name} exited (code ${child.exitCode}, signal ${child.signalCode}) before printing ${pattern}:\n${log.slice(-4000)}`);
        if (Date.now() > deadline) throw new Error(`${name} did not print ${pattern} within ${timeoutMs} ms:\n${log.slice(-4000)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop(graceMs = 15_000) {
      if (!exited()) {
        signalGroup('SIGTERM');
        const killer = setTimeout(() => signalGroup('SIGKILL'), graceMs);
        await exit;
        clearTimeout(killer);
      }
      // Job processes may outlive the worker by a moment; nothing of this group may be left behind.
      signalGroup('SIGKILL');
    },
  };
}

/** Polls `url` until it answers 2xx. */
export async function waitForHttpOk(service: ChildService, url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (service.exited()) throw new Error(`${service.name} exited before ${url} answered:\n${service.output().slice(-4000)}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${service.name} did not answer ${url} within ${timeoutMs} ms:\n${service.output().slice(-4000)}`);
}
