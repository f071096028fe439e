/**
 * npm run bench:memory
 * 1,000 turns across 20 agents through the journal-backed memory queue into the local Letta
 * server (answering in 5 ms), with batching on and off. Prints a markdown table.
 *
 * Phase 1 (journal): all turns are enqueued while every agent is held with runExclusive, so
 *   the numbers are pure journal appends (write + fdatasync, group-committed).
 * Phase 2 (drain): the holds are released and the time until Letta acknowledged everything is
 *   measured.
 */
import Letta from '@letta-ai/letta-client';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { MemoryQueue } from '../src/memory/memory-queue.js';
import { startLettaServer, type LettaServer } from '../simulation/stand-ins/letta-server.js';
import { runQueueWorkload, WORKLOAD_OPTIONS, workloadSettings, type Percentiles } from './bench-queue-workload.js';

const { values } = parseArgs({ options: WORKLOAD_OPTIONS });
const { turns: TURNS, agents: AGENTS, batchMax: BATCH_MAX, concurrency: CONCURRENCY, lettaMs: LETTA_MS } = workloadSettings(values);

type Result = {
  label: string;
  batchMax: number;
  appendSequential: Percentiles;
  appendConcurrent: Percentiles;
  drainMs: number;
  requests: number;
  turnsStored: number;
  duplicates: number;
};

async function run(server: LettaServer, label: string, batchMax: number): Promise<Result> {
  const agents = Array.from({ length: AGENTS }, (_, i) => server.seedAgent({ name: `bench-${label}-${i}` }).id);
  const dataDir = await mkdtemp(join(tmpdir(), 'bench-memory-'));
  const letta = new Letta({ baseURL: server.baseURL, apiKey: 'bench', maxRetries: 0, timeout: 10_000 });
  const queue = await MemoryQueue.open({ dataDir, batchMax, maxConcurrency: CONCURRENCY }, { letta });
  const requestsBefore = server.requests.length;
  try {
    const { sequential, concurrent, drainMs } = await runQueueWorkload(queue, agents, TURNS);
    await server.idle();
    return {
      label,
      batchMax,
      appendSequential: sequential,
      appendConcurrent: concurrent,
      drainMs,
      requests: server.requests.length - requestsBefore,
      turnsStored: agents.reduce((n, id) => n + server.userMessagesOf(id).length, 0),
      duplicates: agents.reduce((n, id) => n + server.duplicatesOf(id).length, 0),
    };
  } finally {
    await queue.close({ deadlineMs: 1_000 });
    await rm(dataDir, { recursive: true, force: true });
  }
}

const server = await startLettaServer({ latencyMs: LETTA_MS, messageLatencyMs: 0, tokenDelayMs: 0, includeReasoning: false, includeToolCalls: false });
try {
  const results = [await run(server, 'batching on', BATCH_MAX), await run(server, 'batching off', 1)];
  const ms = (v: number) => `${v.toFixed(2)} ms`;
  console.log(`Memory queue benchmark: ${TURNS} turns, ${AGENTS} agents, MEMORY_MAX_CONCURRENCY=${CONCURRENCY}, local Letta server answering in ${LETTA_MS} ms, node ${process.version}, ${process.platform}\n`);
  console.log('| run | batch max | append p50 (1 writer) | append p99 (1 writer) | append p50 (20 writers) | append p99 (20 writers) | appends/s (20 writers) | Letta requests | drain time | drain throughput | stored / duplicates |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of results) {
    console.log(
      `| ${r.label} | ${r.batchMax} | ${ms(r.appendSequential.p50)} | ${ms(r.appendSequential.p99)} | ${ms(r.appendConcurrent.p50)} | ${ms(r.appendConcurrent.p99)} | ` +
        `${Math.round(r.appendConcurrent.perSecond)} | ${r.requests} | ${Math.round(r.drainMs)} ms | ${Math.round((TURNS / r.drainMs) * 1000)} turns/s | ${r.turnsStored} / ${r.duplicates} |`,
    );
  }
  const bad = results.filter((r) => r.turnsStored !== TURNS || r.duplicates !== 0);
  if (bad.length > 0) {
    console.error(`\nFAILED: not every turn stored exactly once in: ${bad.map((r) => r.label).join(', ')}`);
    process.exitCode = 1;
  }
} finally {
  await server.close();
}
