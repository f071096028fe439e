// `npm run bench:scale`: N concurrent calls, each in its own process (as LiveKit runs one job per process), for
// N = 1, 4, 8, 12, 16, 20 by default. Each call process is compiled JavaScript under plain `node` holding only the
// worker's session (scripts/bench-scale-call.ts); this process runs every call's provider stand-ins and synthesizes
// the caller's lines once. Reports voice-to-voice p50 / p95 over every measured turn, CPU per call (share of one core
// while its turns ran), this process's CPU (the stand-ins) and resident memory per job process, and replaces the
// "## Concurrent calls" section of BENCHMARKS.md. Raw numbers: out/bench/scale-results.json.
//
//   --counts 1,4,8     which N to run          --lines N   measured turns per call (default 8, after a warm-up line: one call's p95 rests on its 8 turns)
//   --report-only      re-render from the results file      --no-write  leave BENCHMARKS.md alone
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CALLER_AUDIO_SAMPLE_RATE } from '../src/call/caller-audio.js';
import { formatMarkdownTable, ms, summarize } from '../simulation/harness/metrics.js';
import { startLiveKitServer } from '../simulation/stand-ins/livekit-server.js';
import { updateReadme } from './bench-readme.js';
import { ScaleCall, synthesizeLines } from './bench-scale-driver.js';
import type { CallProcessMeasurement, LineAudio, MemoryBreakdown } from './bench-scale-protocol.js';
import { BENCH_LINES, BENCH_REPLY } from './bench-variants.js';
import { runCommand } from './cli.js';
import { writeBenchmarkSection } from './benchmarks-section.js';

const OUT_DIR = path.resolve('out/bench');
const RESULTS_FILE = path.join(OUT_DIR, 'scale-results.json');
const BENCHMARKS_FILE = path.resolve('BENCHMARKS.md');
/** The call process, compiled by tsconfig.bench.json (production job processes run compiled JavaScript too). */
const BUILD_CONFIG = 'tsconfig.bench.json';
const CHILD = path.resolve('out/bench/build/scripts/bench-scale-call.js');
/** The caller's lines at the rate the worker asks the room for (the job process's microphone rate). */
const SAMPLE_RATE = CALLER_AUDIO_SAMPLE_RATE;
/** Silence the caller leaves after the agent finished speaking, before the next line (as the voice harness). */
const PAUSE_BETWEEN_LINES_MS = 500;
const SECTION = '## Concurrent calls';

/** Issue 12's targets: p95 within 1.1× of a single call, at most 200 MiB per job process. */
const P95_RATIO_TARGET = 1.1;
const RSS_TARGET_MIB = 200;

/** One call's measured turns, and what its job process measured of itself meanwhile. */
interface CallResult {
  voiceToVoiceMs: number[];
  failures: string[];
  measurement?: CallProcessMeasurement;
  memoryAtReady?: MemoryBreakdown;
}

interface ScaleRun {
  calls: number;
  results: CallResult[];
  /** Call processes that did not start or did not exit cleanly. */
  crashed: number;
  loadAverage: number[];
  /** CPU time of this process (every call's stand-ins) and wall time of the measured turns. */
  parentCpuMs: number;
  wallMs: number;
}

/** The production worker (compiled, `node dist/src/main.js start`) registered and idle: its process tree. */
interface WorkerAtRest {
  workerMiB: number;
  jobProcessMiB: number[];
  inferenceProcesses: number;
  otherProcesses: string[];
}

interface ScaleResults {
  runs: ScaleRun[];
  workerAtRest?: WorkerAtRest | string;
  linesPerCall: number;
  /** Node flags of the call processes: those of `npm start`. */
  nodeFlags?: string[];
  startedAt: string;
  durationSeconds: number;
  command: string;
  machine: string;
}

/**
 * The Node flags of `npm start`: job processes inherit them (@livekit/agents forks them with `fork(url, [agent])`, so
 * Node passes on the worker's execArgv), and so do the call processes here and the worker at rest.
 */
function productionNodeFlags(): string[] {
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> };
  const start = pkg.scripts.start ?? '';
  const flags = start.match(/^node((?:\s+--\S+)*)\s+dist\//);
  if (!flags) throw new Error(`bench:scale: cannot read the node flags of "npm start" (${start})`);
  return flags[1]!.trim().split(/\s+/).filter(Boolean);
}

function compileCallProcess(): void {
  execFileSync(process.execPath, [path.resolve('node_modules/typescript/bin/tsc'), '-p', BUILD_CONFIG], { stdio: 'inherit' });
}

async function runCalls(calls: number, lines: number, audio: readonly LineAudio[]): Promise<ScaleRun> {
  const execArgv = productionNodeFlags();
  const started = await Promise.allSettled(Array.from({ length: calls }, () => ScaleCall.start({ module: CHILD, execArgv, reply: BENCH_REPLY, sampleRate: SAMPLE_RATE })));
  const live = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  let crashed = calls - live.length;
  for (const s of started) if (s.status === 'rejected') console.error(`  a call process did not start: ${(s.reason as Error).message}`);
  const line = (call: number, turn: number) => audio[(call + turn) % audio.length]!;
  try {
    // Warm-up (not measured): connection pools, JIT, the stand-ins' reply audio.
    const warm = await Promise.allSettled(live.map((c, i) => c.say(line(i, 0))));
    for (const w of warm) if (w.status === 'rejected') console.error(`  warm-up failed: ${(w.reason as Error).message}`);
    // Every call starts its measured turns together.
    for (const c of live) c.measureStart();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const results = await Promise.all(
      live.map(async (c, i): Promise<CallResult> => {
        const result: CallResult = { voiceToVoiceMs: [], failures: [], memoryAtReady: c.memoryAtReady };
        for (let t = 1; t <= lines; t++) {
          try {
            result.voiceToVoiceMs.push((await c.say(line(i, t))).voiceToVoiceMs);
          } catch (err) {
            result.failures.push(`${line(i, t).text}: ${(err as Error).message}`);
          }
          await new Promise((resolve) => setTimeout(resolve, PAUSE_BETWEEN_LINES_MS));
        }
        result.measurement = await c.measureEnd().catch(() => undefined);
        return result;
      }),
    );
    const cpu = process.cpuUsage(cpu0);
    const wallMs = performance.now() - t0;
    const loadAverage = os.loadavg();
    const codes = await Promise.all(live.map((c) => c.close()));
    crashed += codes.filter((code) => code !== 0).length;
    return { calls, results, crashed, loadAverage, parentCpuMs: (cpu.user + cpu.system) / 1000, wallMs };
  } catch (err) {
    await Promise.all(live.map((c) => c.close()));
    throw err;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts the compiled worker against the local LiveKit stand-in, waits until its idle job processes are warm, and
 * lists its process tree with resident memory. Providers are closed ports: an idle worker calls none of them.
 */
async function measureWorkerAtRest(): Promise<WorkerAtRest | string> {
  if (!existsSync('dist/src/main.js')) return 'skipped: run `npm run build` first (the worker runs compiled in production)';
  const apiKey = 'APIscale';
  const apiSecret = 'scale-bench-secret-0123456789abcdef0123';
  const livekit = await startLiveKitServer({ apiKey, apiSecret });
  const closed = await freePort();
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'bench-scale-worker-'));
  const worker = spawn(process.execPath, [...productionNodeFlags(), 'dist/src/main.js', 'start'], {
    detached: true, // its own process group: the job processes go with it
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      LIVEKIT_URL: livekit.url,
      LIVEKIT_API_KEY: apiKey,
      LIVEKIT_API_SECRET: apiSecret,
      WORKER_HTTP_PORT: String(await freePort()),
      OPENAI_API_KEY: 'sk-scale',
      OPENAI_BASE_URL: `http://127.0.0.1:${closed}/v1`,
      DEEPGRAM_API_KEY: 'dg-scale',
      DEEPGRAM_BASE_URL: `ws://127.0.0.1:${closed}/v1/listen`,
      CARTESIA_API_KEY: 'cartesia-scale',
      CARTESIA_BASE_URL: `http://127.0.0.1:${closed}`,
      LETTA_BASE_URL: `http://127.0.0.1:${closed}`,
      MEMORY_DATA_DIR: path.join(tmp, 'data'),
      LOG_LEVEL: 'debug', // "job runner initialized" marks a warm job process
    },
  });
  let log = '';
  worker.stdout.on('data', (d: Buffer) => (log += d.toString()));
  worker.stderr.on('data', (d: Buffer) => (log += d.toString()));
  try {
    const idle = Math.min(os.availableParallelism(), 4); // Default.numIdleProcesses(production) in @livekit/agents worker.js
    const deadline = Date.now() + 120_000;
    while ((log.match(/job runner initialized/g) ?? []).length < idle) {
      if (Date.now() > deadline || worker.exitCode !== null) return `skipped: the worker did not warm up (${log.slice(-500)})`;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    await new Promise((resolve) => setTimeout(resolve, 2000)); // let memory settle after start-up
    const ps = execFileSync('ps', ['-o', 'pid=,rss=,args=', '-g', String(worker.pid)], { encoding: 'utf8' });
    const procs = ps
      .trim()
      .split('\n')
      .map((line) => line.trim().match(/^(\d+)\s+(\d+)\s+(.*)$/))
      .filter((m): m is RegExpMatchArray => m !== null)
      .map((m) => ({ pid: Number(m[1]), mib: Number(m[2]) / 1024, args: m[3]! }));
    const isJob = (a: string) => a.includes('job_proc_lazy_main');
    const isInference = (a: string) => a.includes('inference_proc_lazy_main');
    return {
      workerMiB: procs.find((p) => p.pid === worker.pid)?.mib ?? Number.NaN,
      jobProcessMiB: procs.filter((p) => isJob(p.args)).map((p) => p.mib),
      inferenceProcesses: procs.filter((p) => isInference(p.args)).length,
      otherProcesses: procs.filter((p) => p.pid !== worker.pid && !isJob(p.args) && !isInference(p.args)).map((p) => p.args.slice(0, 80)),
    };
  } finally {
    try {
      process.kill(-worker.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
    await livekit.close();
    rmSync(tmp, { recursive: true, force: true });
  }
}

const measured = (run: ScaleRun) => run.results.flatMap((x) => (x.measurement ? [x.measurement] : []));
const turnsOf = (run: ScaleRun) => run.results.flatMap((x) => x.voiceToVoiceMs);

function render(r: ScaleResults): string {
  const single = r.runs.find((x) => x.calls === 1);
  const singleP95 = single ? summarize(turnsOf(single)).p95 : Number.NaN;
  const rows = r.runs.map((run) => {
    const v2v = summarize(turnsOf(run));
    const cpu = summarize(measured(run).map((x) => (100 * x.cpuMs) / x.wallMs));
    const rss = summarize(measured(run).map((x) => x.rssMaxMiB));
    const priv = summarize(measured(run).flatMap((x) => (x.memory.private === undefined ? [] : [x.memory.private])));
    const pss = summarize(measured(run).flatMap((x) => (x.memory.pss === undefined ? [] : [x.memory.pss])));
    const parentCpu = (100 * run.parentCpuMs) / run.wallMs;
    const failures = run.results.reduce((n, x) => n + x.failures.length, 0) + run.crashed;
    return [
      String(run.calls),
      String(v2v.n),
      `${ms(v2v.p50)} / ${ms(v2v.p95)}`,
      `${(v2v.p95 / singleP95).toFixed(2)}×`,
      `${cpu.p50.toFixed(1)} %`,
      `${parentCpu.toFixed(0)} % (${(parentCpu / run.calls).toFixed(1)} % per call)`,
      `${ms(rss.p50)} / ${ms(rss.max)}`,
      priv.n ? `${ms(priv.p50)} / ${ms(pss.p50)}` : 'n/a',
      String(failures),
      run.loadAverage[0]!.toFixed(1),
    ];
  });
  const within = r.runs.filter((run) => run.crashed === 0 && summarize(turnsOf(run)).p95 <= P95_RATIO_TARGET * singleP95);
  const most = within.length ? Math.max(...within.map((x) => x.calls)) : 0;
  const maxRss = Math.max(...r.runs.flatMap((run) => measured(run).map((x) => x.rssMaxMiB)));
  return [
    SECTION,
    '',
    '<!-- generated by scripts/bench-scale.ts; edit the script, not this section -->',
    '',
    'N calls at once, each in its own process as LiveKit runs jobs, and each process holds what a job process holds and',
    'nothing more: compiled JavaScript under plain `node` (as `npm start` runs), the agent file `src/main.ts` with its',
    'prewarm (silero VAD loaded once) and the entry\'s session (loadConfig → createWorkerServices → createAgentSession →',
    'prepareVoiceCall: Deepgram and Cartesia plugins, OpenAI and Letta SDKs, memory queue), with a simulated microphone',
    'that plays the caller\'s line in real time (20 ms frames at the rate the worker asks the room for, 16 kHz) and a',
    'loudspeaker that plays the reply out in real time (scripts/bench-scale-call.ts, simulation/harness/job-session.ts).',
    'There is no room: the WebRTC and Opus work of @livekit/rtc-node in a real job process is not in these numbers.',
    'The benchmark process holds the rest: each call\'s own provider stand-ins (injected latencies as in Voice latency)',
    'and the caller\'s lines, synthesized once (espeak-ng) and handed to the call processes as PCM files. A warm-up',
    'line per call is not measured; then all N calls start their measured turns together.',
    '',
    'Voice-to-voice is read on one clock, inside the job process: the line\'s last voiced sample as its microphone',
    'delivered it, to the first sample of the reply its loudspeaker played out. CPU per call = CPU time of the job',
    'process (all threads) ÷ wall time of its measured turns (100 % = one core). Stand-ins CPU = the benchmark process\'s',
    'CPU over the same time: it shares the 2 cores with the calls, so the machine\'s budget is both columns together.',
    'RSS = each job process\'s highest resident set size, sampled every 200 ms while its turns ran (p50 over processes',
    '/ highest). RSS counts shared library code (Node, onnxruntime, rtc-node, sharp) in full in every process; what a',
    'further call costs the machine is nearer its private memory or its PSS (shared pages divided among the processes',
    'that map them), read from /proc/self/smaps_rollup at the end of the turns.',
    '',
    `**Reproduce:** \`npm run bench:scale\`. Command of this run: \`${r.command}\`.`,
    '',
    `**Machine:** ${r.machine}. Run started ${r.startedAt}, took ${(r.durationSeconds / 60).toFixed(1)} min. ${r.linesPerCall} measured turns per call. Job processes: \`node ${[...(r.nodeFlags ?? []), ''].join(' ')}…\` (the flags of \`npm start\`, which job processes inherit).`,
    '',
    formatMarkdownTable(
      [
        'calls',
        'turns',
        'voice-to-voice p50 / p95 (ms)',
        'p95 vs 1 call',
        'CPU per call p50',
        'stand-ins CPU (benchmark process)',
        'RSS per job process p50 / max (MiB)',
        'private / PSS p50 (MiB)',
        'failed turns',
        'load avg (1 min)',
      ],
      rows,
    ),
    '',
    `- Most concurrent calls with p95 within ${P95_RATIO_TARGET}× of one call: **${most}** (target ≥ 16).`,
    `- Highest RSS of a job process: **${ms(maxRss)} MiB** (target ≤ ${RSS_TARGET_MIB} MiB per job process; ${maxRss <= RSS_TARGET_MIB ? 'met' : 'MISSED'}).`,
    ...renderMemory(r.runs),
    '',
    ...renderWorkerAtRest(r.workerAtRest),
  ].join('\n');
}

/** Where a job process's memory is at the end of its turns (median over the processes of the largest run). */
function renderMemory(runs: ScaleRun[]): string[] {
  const run = runs.at(-1);
  const m = run ? measured(run).map((x) => x.memory) : [];
  if (!run || m.length === 0) return [];
  const p50 = (pick: (x: MemoryBreakdown) => number) => ms(summarize(m.map(pick)).p50);
  return [
    `- Where it is (${run.calls} calls, median at the end of the turns, \`process.memoryUsage()\`): RSS ${p50((x) => x.rss)} MiB, ` +
      `of which V8 heap ${p50((x) => x.heapTotal)} MiB (${p50((x) => x.heapUsed)} used) and external ${p50((x) => x.external)} MiB ` +
      `(${p50((x) => x.arrayBuffers)} in ArrayBuffers); the rest is code (Node, onnxruntime, rtc-node) and native allocations.`,
  ];
}

function renderWorkerAtRest(w: WorkerAtRest | string | undefined): string[] {
  if (w === undefined) return [];
  if (typeof w === 'string') return [`**Production worker at rest:** ${w}.`, ''];
  return [
    `**Production worker at rest** (\`npm start\`, registered with the local LiveKit stand-in, idle job processes warm): ` +
      `worker ${ms(w.workerMiB)} MiB; ${w.jobProcessMiB.length} idle job processes of ${w.jobProcessMiB.map((x) => ms(x)).join(' / ')} MiB; ` +
      `${w.inferenceProcesses} inference processes (turn detection is VAD: \`localEotInference: false\`, docs/framework-patches.md)` +
      `${w.otherProcesses.length ? `; other: ${w.otherProcesses.join(', ')}` : ''}.`,
    '',
  ];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      counts: { type: 'string', default: '1,4,8,12,16,20' },
      lines: { type: 'string', default: '8' },
      'report-only': { type: 'boolean', default: false },
      'no-write': { type: 'boolean', default: false },
    },
  });
  mkdirSync(OUT_DIR, { recursive: true });
  let results: ScaleResults;
  if (values['report-only']) {
    results = JSON.parse(readFileSync(RESULTS_FILE, 'utf8')) as ScaleResults;
  } else {
    const counts = values.counts.split(',').map(Number);
    if (counts.some((n) => !Number.isInteger(n) || n < 1)) throw new Error('--counts must be positive whole numbers');
    const lines = Number(values.lines);
    if (!Number.isInteger(lines) || lines < 1) throw new Error('--lines must be a positive whole number');
    const startedAt = new Date();
    const t0 = performance.now();
    const workerAtRest = await measureWorkerAtRest();
    console.log(`  worker at rest: ${JSON.stringify(workerAtRest)}`);
    compileCallProcess();
    const audioDir = mkdtempSync(path.join(os.tmpdir(), 'bench-scale-lines-'));
    const audio = await synthesizeLines(BENCH_LINES, audioDir, SAMPLE_RATE);
    const runs: ScaleRun[] = [];
    for (const calls of counts) {
      const started = performance.now();
      const run = await runCalls(calls, lines, audio);
      runs.push(run);
      const v2v = summarize(turnsOf(run));
      console.log(`  ${calls} calls: v2v p50 ${ms(v2v.p50)} p95 ${ms(v2v.p95)} ms (${((performance.now() - started) / 1000).toFixed(0)} s)`);
    }
    rmSync(audioDir, { recursive: true, force: true });
    const argv = process.argv.slice(2);
    results = {
      runs,
      workerAtRest,
      linesPerCall: lines,
      nodeFlags: productionNodeFlags(),
      startedAt: startedAt.toISOString(),
      durationSeconds: (performance.now() - t0) / 1000,
      command: `npm run bench:scale${argv.length ? ` -- ${argv.join(' ')}` : ''}`,
      machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown CPU'} (shared with other jobs), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`,
    };
    writeFileSync(RESULTS_FILE, JSON.stringify(results, null, 1));
  }
  const section = render(results);
  console.log(`\n${section}`);
  if (!values['no-write']) {
    writeBenchmarkSection(BENCHMARKS_FILE, SECTION, section);
    if (existsSync(path.join(OUT_DIR, 'voice-results.json'))) updateReadme();
  }
}

runCommand('bench:scale', main);
