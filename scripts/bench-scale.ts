// `npm run bench:scale`: N concurrent calls, each in its own process (as LiveKit runs one job per process), for
// N = 1, 4, 8, 12, 16, 20 by default. Reports voice-to-voice p50 / p95 over every measured turn, CPU per call (share
// of one core while its turns ran) and resident memory per process, and replaces the "## Concurrent calls" section
// of BENCHMARKS.md. Raw numbers: out/bench/scale-results.json.
//
//   --counts 1,4,8     which N to run          --lines N   measured turns per call (default 4, after a warm-up line)
//   --report-only      re-render from the results file      --no-write  leave BENCHMARKS.md alone
import { execFileSync, fork, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { formatMarkdownTable, ms, summarize } from '../simulation/harness/metrics.js';
import { startLiveKitServer } from '../simulation/stand-ins/livekit-server.js';
import { updateReadme } from './bench-readme.js';
import type { ScaleCallReport } from './bench-scale-call.js';
import { runCommand } from './cli.js';
import { writeBenchmarkSection } from './benchmarks-section.js';

const OUT_DIR = path.resolve('out/bench');
const RESULTS_FILE = path.join(OUT_DIR, 'scale-results.json');
const BENCHMARKS_FILE = path.resolve('BENCHMARKS.md');
const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'bench-scale-call.ts');
const SECTION = '## Concurrent calls';

/** Issue 12's targets: p95 within 1.1× of a single call, at most 200 MiB per job process. */
const P95_RATIO_TARGET = 1.1;
const RSS_TARGET_MIB = 200;

interface ScaleRun {
  calls: number;
  reports: ScaleCallReport[];
  crashed: number;
  loadAverage: number[];
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
  startedAt: string;
  durationSeconds: number;
  command: string;
  machine: string;
}

async function runCalls(calls: number, lines: number): Promise<ScaleRun> {
  const children = Array.from({ length: calls }, (_, i) =>
    fork(CHILD, [String(lines), String(i)], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env: { ...process.env, HARNESS_LOG_LEVEL: 'error' } }),
  );
  const reports: ScaleCallReport[] = [];
  let crashed = 0;
  const ready = children.map(
    (child) =>
      new Promise<boolean>((resolve) => {
        child.on('message', (m: { type: string; report?: ScaleCallReport }) => {
          if (m.type === 'ready') resolve(true);
          if (m.type === 'report' && m.report) reports.push(m.report);
        });
        child.once('exit', () => resolve(false));
      }),
  );
  const exited = children.map((child) => new Promise<void>((resolve) => child.once('exit', (code) => ((crashed += code === 0 ? 0 : 1), resolve()))));
  let stderr = '';
  for (const child of children) child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  // Start every call's measured turns together, once all have warmed up.
  const ok = await Promise.all(ready);
  for (const [i, child] of children.entries()) if (ok[i]) child.send({ type: 'go' });
  await Promise.all(exited);
  if (crashed > 0) console.error(`  ${crashed} of ${calls} call processes failed; last stderr:\n${stderr}`);
  return { calls, reports, crashed, loadAverage: os.loadavg() };
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
  const worker = spawn(process.execPath, ['dist/src/main.js', 'start'], {
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

function render(r: ScaleResults): string {
  const single = r.runs.find((x) => x.calls === 1);
  const singleP95 = single ? summarize(single.reports.flatMap((x) => x.voiceToVoiceMs)).p95 : Number.NaN;
  const rows = r.runs.map((run) => {
    const v2v = summarize(run.reports.flatMap((x) => x.voiceToVoiceMs));
    const cpu = summarize(run.reports.map((x) => (100 * x.cpuMs) / x.wallMs));
    const rss = summarize(run.reports.map((x) => x.rssMaxMiB));
    const failures = run.reports.reduce((n, x) => n + x.failures.length, 0) + run.crashed;
    return [
      String(run.calls),
      String(v2v.n),
      `${ms(v2v.p50)} / ${ms(v2v.p95)}`,
      `${(v2v.p95 / singleP95).toFixed(2)}×`,
      `${cpu.p50.toFixed(1)} %`,
      `${ms(rss.p50)} / ${ms(rss.max)}`,
      String(failures),
      run.loadAverage[0]!.toFixed(1),
    ];
  });
  const within = r.runs.filter((run) => {
    const p95 = summarize(run.reports.flatMap((x) => x.voiceToVoiceMs)).p95;
    return run.crashed === 0 && p95 <= P95_RATIO_TARGET * singleP95;
  });
  const most = within.length ? Math.max(...within.map((x) => x.calls)) : 0;
  const maxRss = Math.max(...r.runs.flatMap((run) => run.reports.map((x) => x.rssMaxMiB)));
  return [
    SECTION,
    '',
    'N calls at once, each in its own process as LiveKit runs jobs: the worker\'s session (silero VAD, Deepgram and',
    'Cartesia plugins, OpenAI and Letta SDKs, memory queue) plus the simulated caller and that call\'s own local provider',
    'stand-ins (they cost little once warmed up: the caller\'s lines and the reply audio are synthesized in a warm-up',
    'turn that is not measured). All N calls start their measured turns together. CPU per call = CPU time of the',
    'process ÷ wall time of its measured turns (100 % = one core). RSS = the process\'s highest resident set size while',
    'its turns ran (it includes the stand-ins and the harness, so it overstates a job process).',
    '',
    `**Reproduce:** \`npm run bench:scale\`. Command of this run: \`${r.command}\`.`,
    '',
    `**Machine:** ${r.machine}. Run started ${r.startedAt}, took ${(r.durationSeconds / 60).toFixed(1)} min. ${r.linesPerCall} measured turns per call.`,
    '',
    formatMarkdownTable(
      ['calls', 'turns', 'voice-to-voice p50 / p95 (ms)', 'p95 vs 1 call', 'CPU per call p50', 'RSS per process p50 / max (MiB)', 'failed turns', 'load avg (1 min)'],
      rows,
    ),
    '',
    `- Most concurrent calls with p95 within ${P95_RATIO_TARGET}× of one call: **${most}** (target ≥ 16).`,
    `- Highest RSS of a call process: **${ms(maxRss)} MiB** (target ≤ ${RSS_TARGET_MIB} MiB per job process; ${maxRss <= RSS_TARGET_MIB ? 'met' : 'MISSED'}).`,
    '',
    ...renderWorkerAtRest(r.workerAtRest),
  ].join('\n');
}

function renderWorkerAtRest(w: WorkerAtRest | string | undefined): string[] {
  if (w === undefined) return [];
  if (typeof w === 'string') return [`**Production worker at rest:** ${w}.`, ''];
  return [
    `**Production worker at rest** (\`node dist/src/main.js start\`, registered with the local LiveKit stand-in, idle job processes warm): ` +
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
      lines: { type: 'string', default: '4' },
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
    const runs: ScaleRun[] = [];
    for (const calls of counts) {
      const started = performance.now();
      const run = await runCalls(calls, lines);
      runs.push(run);
      const v2v = summarize(run.reports.flatMap((x) => x.voiceToVoiceMs));
      console.log(`  ${calls} calls: v2v p50 ${ms(v2v.p50)} p95 ${ms(v2v.p95)} ms (${((performance.now() - started) / 1000).toFixed(0)} s)`);
    }
    const argv = process.argv.slice(2);
    results = {
      runs,
      workerAtRest,
      linesPerCall: lines,
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
