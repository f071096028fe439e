/**
 * npm run bench:memory-store [-- --turns 1000 --agents 20 --no-write]
 * The memory queue on its two stores in one run, same workload: the file journal (MEMORY_STORE=file) and PostgreSQL
 * (MEMORY_STORE=postgres, a throw-away Debian PostgreSQL cluster on loopback with fsync=on, as in production).
 * Needs the postgresql package (`npm run e2e:setup`). Letta is the local stand-in answering in --letta-ms.
 *
 * Phase 1 (enqueue): every agent is held with runExclusive, so the numbers are the store's durable append alone
 *   (journal write + fdatasync, or INSERT + commit), one caller at a time and then one caller per agent at once.
 * Phase 2 (drain): the holds are released; time until Letta acknowledged everything (ack = fsync'd journal record, or
 *   a fenced DELETE in PostgreSQL).
 * Writes out/bench/memory-store.json and the "## Memory store: file journal vs PostgreSQL" section of BENCHMARKS.md.
 */
import Letta from '@letta-ai/letta-client';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { openMemoryQueue, type MemoryStoreChoice } from '../src/memory/open-queue.js';
import { startDebianPostgres } from '../simulation/real-servers/debian-postgres.js';
import { startLettaServer, type LettaServer } from '../simulation/stand-ins/letta-server.js';
import { writeBenchmarkSection } from './benchmarks-section.js';

const HEADING = '## Memory store: file journal vs PostgreSQL';
const RESULTS_FILE = path.resolve('out/bench/memory-store.json');
const BENCHMARKS_FILE = path.resolve('BENCHMARKS.md');

const { values } = parseArgs({
  options: {
    turns: { type: 'string', default: '1000' },
    agents: { type: 'string', default: '20' },
    'batch-max': { type: 'string', default: '8' },
    concurrency: { type: 'string', default: '4' },
    'letta-ms': { type: 'string', default: '5' },
    'no-write': { type: 'boolean', default: false },
  },
});
const TURNS = Number(values.turns);
const AGENTS = Number(values.agents);
const BATCH_MAX = Number(values['batch-max']);
const CONCURRENCY = Number(values.concurrency);
const LETTA_MS = Number(values['letta-ms']);

type Percentiles = { p50: number; p99: number; perSecond: number };
type StoreResult = {
  store: 'file' | 'postgres';
  enqueueSequential: Percentiles;
  enqueueConcurrent: Percentiles;
  drainMs: number;
  drainTurnsPerSecond: number;
  turnsStored: number;
  duplicates: number;
};
type Results = {
  at: string;
  machine: { cpus: number; model: string; node: string; platform: string; release: string; loadAverage: number[] };
  postgres: string;
  settings: { turns: number; agents: number; batchMax: number; concurrency: number; lettaMs: number };
  runs: StoreResult[];
};

function percentiles(samples: number[], totalMs: number): Percentiles {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { p50: at(0.5), p99: at(0.99), perSecond: (samples.length / totalMs) * 1000 };
}

const turnFor = (agentId: string, n: number) => ({
  agentId,
  sessionId: 'bench',
  userText: `Benchmark user utterance number ${n}, about as long as a spoken sentence.`,
  assistantText: `Benchmark assistant reply number ${n}, which was played to the user in full.`,
  interrupted: false,
  userAt: Date.now(),
  assistantAt: Date.now(),
});

async function run(server: LettaServer, store: MemoryStoreChoice): Promise<StoreResult> {
  const agents = Array.from({ length: AGENTS }, (_, i) => server.seedAgent({ name: `bench-${store.kind}-${i}` }).id);
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'bench-memory-store-'));
  const letta = new Letta({ baseURL: server.baseURL, apiKey: 'bench', maxRetries: 0, timeout: 10_000 });
  const queue = await openMemoryQueue({ dataDir, batchMax: BATCH_MAX, maxConcurrency: CONCURRENCY }, store, { letta });
  try {
    const releases: Array<() => void> = [];
    const held = agents.map(
      (agentId) => new Promise<void>((acquired) => void queue.runExclusive(agentId, () => new Promise<void>((release) => (releases.push(release), acquired())))),
    );
    await Promise.all(held);

    const half = Math.floor(TURNS / 2);
    const sequential: number[] = [];
    let started = performance.now();
    for (let n = 0; n < half; n++) {
      const t0 = performance.now();
      await queue.enqueue(turnFor(agents[n % AGENTS], n));
      sequential.push(performance.now() - t0);
    }
    const sequentialMs = performance.now() - started;
    const concurrent: number[] = [];
    started = performance.now();
    for (let n = half; n < TURNS; n += AGENTS) {
      await Promise.all(
        agents.slice(0, Math.min(AGENTS, TURNS - n)).map(async (agentId, i) => {
          const t0 = performance.now();
          await queue.enqueue(turnFor(agentId, n + i));
          concurrent.push(performance.now() - t0);
        }),
      );
    }
    const concurrentMs = performance.now() - started;

    started = performance.now();
    for (const release of releases) release();
    await queue.whenIdle();
    const drainMs = performance.now() - started;
    await server.idle();
    return {
      store: store.kind,
      enqueueSequential: percentiles(sequential, sequentialMs),
      enqueueConcurrent: percentiles(concurrent, concurrentMs),
      drainMs,
      drainTurnsPerSecond: (TURNS / drainMs) * 1000,
      turnsStored: agents.reduce((n, id) => n + server.userMessagesOf(id).length, 0),
      duplicates: agents.reduce((n, id) => n + server.duplicatesOf(id).length, 0),
    };
  } finally {
    await queue.close({ deadlineMs: 1_000 });
    await rm(dataDir, { recursive: true, force: true });
  }
}

function renderSection(r: Results): string {
  const ms = (v: number) => `${v.toFixed(2)} ms`;
  const s = r.settings;
  const lines = [
    HEADING,
    '',
    `Generated by \`npm run bench:memory-store\` (scripts/bench-memory-store.ts) on ${r.at.slice(0, 10)}; raw numbers in out/bench/memory-store.json.`,
    '',
    `**Machine:** ${r.machine.cpus} × ${r.machine.model} (shared, noisy), Node ${r.machine.node}, ${r.machine.platform} ${r.machine.release}, ` +
      `load average ${r.machine.loadAverage.map((v) => v.toFixed(2)).join(' / ')}. PostgreSQL ${r.postgres} on loopback, fsync=on; ` +
      `the journal on the same disk (fdatasync).`,
    '',
    `**Workload:** ${s.turns} turns over ${s.agents} agents, MEMORY_BATCH_MAX=${s.batchMax}, MEMORY_MAX_CONCURRENCY=${s.concurrency}, ` +
      `local Letta stand-in answering in ${s.lettaMs} ms. Enqueue = durable before it returns (agents held so nothing drains meanwhile); ` +
      `half the turns one caller at a time, half one caller per agent at once (group commit). Drain = release, until Letta acknowledged all.`,
    '',
    '| store | enqueue p50 (1 caller) | enqueue p99 (1 caller) | enqueue p50 (20 callers) | enqueue p99 (20 callers) | enqueues/s (20 callers) | drain | drain turns/s | stored / duplicates |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...r.runs.map(
      (x) =>
        `| ${x.store === 'file' ? 'file journal' : 'PostgreSQL'} | ${ms(x.enqueueSequential.p50)} | ${ms(x.enqueueSequential.p99)} | ${ms(x.enqueueConcurrent.p50)} | ` +
        `${ms(x.enqueueConcurrent.p99)} | ${Math.round(x.enqueueConcurrent.perSecond)} | ${Math.round(x.drainMs)} ms | ${Math.round(x.drainTurnsPerSecond)} | ${x.turnsStored} / ${x.duplicates} |`,
    ),
    '',
    `Reproduce: \`npm run e2e:setup\` (installs postgresql), then \`npm run bench:memory-store -- --turns ${s.turns} --agents ${s.agents}\`.`,
    '',
  ];
  return lines.join('\n');
}

async function main(): Promise<void> {
  const server = await startLettaServer({ latencyMs: LETTA_MS, messageLatencyMs: 0, tokenDelayMs: 0, includeReasoning: false, includeToolCalls: false });
  const db = await startDebianPostgres({ fsync: true });
  let results: Results;
  try {
    console.log(`Memory store benchmark: ${TURNS} turns, ${AGENTS} agents, file journal then PostgreSQL ${db.version}`);
    const runs = [await run(server, { kind: 'file' }), await run(server, { kind: 'postgres', databaseUrl: db.url, leaseTimeoutMs: 15_000 })];
    results = {
      at: new Date().toISOString(),
      machine: {
        cpus: os.cpus().length,
        model: os.cpus()[0]?.model ?? 'unknown CPU',
        node: process.version,
        platform: os.platform(),
        release: os.release(),
        loadAverage: os.loadavg(),
      },
      postgres: db.version,
      settings: { turns: TURNS, agents: AGENTS, batchMax: BATCH_MAX, concurrency: CONCURRENCY, lettaMs: LETTA_MS },
      runs,
    };
  } finally {
    await server.close();
    await db.stop();
  }
  mkdirSync(path.dirname(RESULTS_FILE), { recursive: true });
  writeFileSync(RESULTS_FILE, JSON.stringify(results, null, 1));
  const section = renderSection(results);
  console.log(`\n${section}`);
  if (!values['no-write']) {
    writeBenchmarkSection(BENCHMARKS_FILE, HEADING, section, '## Memory write-behind');
    console.log(`Updated the "${HEADING.slice(3)}" section of BENCHMARKS.md; raw numbers in ${path.relative(process.cwd(), RESULTS_FILE)}`);
  }
  const bad = results.runs.filter((r) => r.turnsStored !== TURNS || r.duplicates !== 0);
  if (bad.length > 0) {
    console.error(`FAILED: not every turn stored exactly once on: ${bad.map((r) => r.store).join(', ')}`);
    process.exitCode = 1;
  }
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exit(1);
  },
);
