/**
 * Long-running child processes for the e2e tests (the worker, the web server): their own process group, so stopping
 * one also ends the job processes it forked; output kept for assertions and failure messages.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface RunningChild {
  readonly pid: number;
  readonly child: ChildProcess;
  /** stdout and stderr so far, interleaved. */
  output(): string;
  /** Resolves with the first match of `pattern` in the output (searched from `fromOffset`). */
  waitForOutput(pattern: RegExp, timeoutMs: number, fromOffset?: number): Promise<RegExpMatchArray>;
  exited(): boolean;
  /** SIGTERM to the group, SIGKILL after `graceMs`; resolves once the group is gone. */
  stop(graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; killed: boolean }>;
}

export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function startChild(name: string, command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): RunningChild {
  const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  if (child.pid === undefined) throw new Error(`${name} could not be started (${command} ${args.join(' ')})`);
  const pid = child.pid;
  let log = '';
  child.stdout?.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exitedPromise = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      resolve();
    }),
  );

  const waitForOutput = async (pattern: RegExp, timeoutMs: number, fromOffset = 0): Promise<RegExpMatchArray> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = log.slice(fromOffset).match(pattern);
      if (match) return match;
      if (exit) throw new Error(`${name} exited (${JSON.stringify(exit)}) before printing ${pattern}:\n${log.slice(-4000)}`);
      if (Date.now() > deadline) throw new Error(`${name} did not print ${pattern} within ${timeoutMs} ms:\n${log.slice(-4000)}`);
      await sleep(100);
    }
  };

  const stop = async (graceMs = 20_000) => {
    let killed = false;
    if (groupAlive(pid)) {
      try {
        process.kill(-pid, 'SIGTERM');
      } catch {
        // already gone
      }
      const deadline = Date.now() + graceMs;
      while (groupAlive(pid) && Date.now() < deadline) await sleep(100);
      if (groupAlive(pid)) {
        killed = true;
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // raced with its exit
        }
        while (groupAlive(pid)) await sleep(50);
      }
    }
    await exitedPromise;
    return { code: exit?.code ?? null, signal: exit?.signal ?? null, killed };
  };

  return { pid, child, output: () => log, waitForOutput, exited: () => exit !== undefined, stop };
}

/** Polls `url` until it answers 200; gives up early once `child` exited. */
export async function waitForHttpOk(url: string, timeoutMs: number, describe: () => string, child?: RunningChild): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child?.exited()) throw new Error(`exited before ${url} answered:\n${describe()}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer 200 within ${timeoutMs} ms:\n${describe()}`);
    await sleep(200);
  }
}
