// The parent's side of one `npm run bench:scale` call: this call's own provider stand-ins (each call needs its own
// Deepgram stand-in, which maps the audio it hears to the line it was told to expect), and the call process
// (scripts/bench-scale-call.ts) holding only the worker's session. Caller lines are synthesized once per run.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CALLER_AUDIO_SAMPLE_RATE } from '../src/call/caller-audio.js';
import { synthesize } from '../simulation/harness/espeak.js';
import type { JobTurn } from '../simulation/harness/job-session.js';
import { providerEnv } from '../simulation/harness/session-io.js';
import { REALISTIC_LATENCIES, startProviders, type ProviderLatencies } from '../simulation/harness/voice-call-harness.js';
import type { CallProcessMeasurement, ChildMessage, LineAudio, MemoryBreakdown, ParentMessage } from './bench-scale-protocol.js';

/** Synthesizes each line once (espeak-ng) into a raw PCM16 file the call processes read. */
export async function synthesizeLines(texts: readonly string[], dir: string, sampleRate: number): Promise<LineAudio[]> {
  return Promise.all(
    texts.map(async (text, i) => {
      const speech = await synthesize(text, { sampleRate });
      const pcmFile = path.join(dir, `line-${i}.pcm`);
      writeFileSync(pcmFile, new Uint8Array(speech.pcm.buffer, speech.pcm.byteOffset, speech.pcm.byteLength));
      return { text, pcmFile, sampleRate, speechSeconds: speech.speechEndSeconds - speech.speechStartSeconds };
    }),
  );
}

export interface ScaleCallOptions {
  /** The call process's module: compiled JavaScript for plain `node` (the benchmark), or a .ts file with tsx (tests). */
  module: string;
  /** Node flags of the call process. Default none: `fork` would otherwise pass on this process's (tsx's loader). */
  execArgv?: string[];
  /** What the OpenAI and Letta stand-ins answer. */
  reply: string;
  latencies?: Partial<ProviderLatencies>;
  /** Rate of the caller's lines (the call process's microphone). Default: the worker's room input rate. */
  sampleRate?: number;
  /** Longest wait for the call process to load and start its session. Default 120 s (N processes start at once). */
  startTimeoutMs?: number;
}

type Providers = Awaited<ReturnType<typeof startProviders>>;

/** One call: its stand-ins here, its session in a child process. */
export class ScaleCall {
  readonly #child: ChildProcess;
  readonly #providers: Providers;
  readonly #dataDir: string;
  readonly #turns = new Map<number, { resolve: (t: JobTurn) => void; reject: (e: Error) => void }>();
  readonly #exited: Promise<number | null>;
  #measured?: { resolve: (m: CallProcessMeasurement) => void; reject: (e: Error) => void };
  #nextId = 0;
  #stderr = '';
  /** The call process's memory once its session had started (before any line). */
  memoryAtReady?: MemoryBreakdown;

  private constructor(child: ChildProcess, providers: Providers, dataDir: string) {
    this.#child = child;
    this.#providers = providers;
    this.#dataDir = dataDir;
    child.stderr?.on('data', (d: Buffer) => (this.#stderr = (this.#stderr + d.toString()).slice(-4000)));
    child.on('message', (m: ChildMessage) => this.#onMessage(m));
    this.#exited = new Promise((resolve) =>
      child.once('exit', (code) => {
        const gone = new Error(`call process exited (code ${code}): ${this.#stderr.slice(-1000)}`);
        for (const t of this.#turns.values()) t.reject(gone);
        this.#turns.clear();
        this.#measured?.reject(gone);
        resolve(code);
      }),
    );
  }

  static async start(options: ScaleCallOptions): Promise<ScaleCall> {
    const sampleRate = options.sampleRate ?? CALLER_AUDIO_SAMPLE_RATE;
    const providers = await startProviders(
      { ...REALISTIC_LATENCIES, ...options.latencies },
      { openaiReply: () => options.reply, lettaReply: () => options.reply },
    );
    const dataDir = mkdtempSync(path.join(tmpdir(), 'bench-scale-call-'));
    const { NODE_OPTIONS: _tsxHooks, ...env } = process.env;
    const child = fork(options.module, [], {
      execArgv: options.execArgv ?? [],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      env: { ...env, HARNESS_LOG_LEVEL: 'error' },
    });
    const call = new ScaleCall(child, providers, dataDir);
    const ready = new Promise<MemoryBreakdown>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`call process not ready within ${options.startTimeoutMs ?? 120_000} ms`)), options.startTimeoutMs ?? 120_000);
      child.on('message', (m: ChildMessage) => m.type === 'ready' && (clearTimeout(timer), resolve(m.memory)));
      void call.#exited.then(() => (clearTimeout(timer), reject(new Error(`call process exited before it was ready: ${call.#stderr.slice(-1000)}`))));
    });
    call.#send({ type: 'start', env: providerEnv(providers, 'hybrid', dataDir), sampleRate });
    try {
      call.memoryAtReady = await ready;
    } catch (err) {
      await call.close();
      throw err;
    }
    return call;
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** The caller says one line: the Deepgram stand-in learns what it will hear, then the call process plays it. */
  say(line: LineAudio): Promise<JobTurn> {
    this.#providers.deepgram.expectUtterance(line.text, { durationSeconds: line.speechSeconds });
    const id = this.#nextId++;
    const turn = new Promise<JobTurn>((resolve, reject) => this.#turns.set(id, { resolve, reject }));
    this.#send({ type: 'say', id, pcmFile: line.pcmFile });
    return turn;
  }

  measureStart(): void {
    this.#send({ type: 'measure-start' });
  }

  measureEnd(): Promise<CallProcessMeasurement> {
    const measured = new Promise<CallProcessMeasurement>((resolve, reject) => (this.#measured = { resolve, reject }));
    this.#send({ type: 'measure-end' });
    return measured;
  }

  /** Ends the call (the session drains its turns) and stops this call's stand-ins. Resolves with the exit code. */
  async close(): Promise<number | null> {
    if (this.#child.connected) this.#send({ type: 'close' });
    const kill = setTimeout(() => this.#child.kill('SIGKILL'), 15_000);
    const code = await this.#exited;
    clearTimeout(kill);
    const { openai, letta, deepgram, cartesia } = this.#providers;
    await Promise.all([openai.close(), letta.close(), deepgram.close(), cartesia.close()]);
    rmSync(this.#dataDir, { recursive: true, force: true });
    return code;
  }

  #send(message: ParentMessage): void {
    if (this.#child.connected) this.#child.send(message);
  }

  #onMessage(m: ChildMessage): void {
    if (m.type === 'turn') {
      const waiter = this.#turns.get(m.id);
      this.#turns.delete(m.id);
      if (m.turn) waiter?.resolve(m.turn);
      else waiter?.reject(new Error(m.error ?? 'no turn'));
    } else if (m.type === 'measured') {
      this.#measured?.resolve(m.measurement);
      this.#measured = undefined;
    }
  }
}
