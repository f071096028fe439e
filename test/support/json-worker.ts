import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export type WorkerTurn = { agentId: string; id: string; otid: string; userAt: number };
export type WorkerEvent = { event: string; turns?: WorkerTurn[]; written?: number; unwritten?: number; replaying?: number };

export interface JsonWorker {
  child: ChildProcess;
  next(name: string): Promise<WorkerEvent>;
  /** Writes one line to the worker's stdin. */
  send(line: string): void;
  exited: Promise<number | null>;
  stderr(): string;
}

/** Runs a fixture as its own node process (no npx wrapper, so SIGKILL hits it) that reports JSON lines on stdout. */
export function startJsonWorker(fixture: string, env: Record<string, string>, children: Set<ChildProcess>): JsonWorker {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  const events: WorkerEvent[] = [];
  const waiters: Array<() => void> = [];
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      events.push(JSON.parse(line) as WorkerEvent);
    } catch {
      return;
    }
    for (const wake of waiters.splice(0)) wake();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => (children.delete(child), resolve(code))));
  const next = async (name: string): Promise<WorkerEvent> => {
    for (;;) {
      const found = events.find((e) => e.event === name);
      if (found) return found;
      const woke = new Promise<void>((resolve) => waiters.push(resolve));
      const code = await Promise.race([woke.then(() => 'event' as const), exited]);
      if (code !== 'event') throw new Error(`worker exited (${code}) before "${name}": ${stderr}`);
    }
  };
  return { child, next, send: (line) => child.stdin!.write(`${line}\n`), exited, stderr: () => stderr };
}

export async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
