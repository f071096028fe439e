import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import type { TurnReport } from '../../src/call/turn-recorder.js';
import { JobMetrics } from '../../src/metrics/job-metrics.js';
import { startMetricsServer, type MetricsServer } from '../../src/metrics/metrics-server.js';
import { startSnapshotPusher } from '../../src/metrics/snapshot-pusher.js';
import { SnapshotStore } from '../../src/metrics/snapshot-store.js';
import { startWorkerFixture, type WorkerFixture } from '../worker/worker-fixture.js';

const NAMED = [
  'letta_memory_queue_depth',
  'letta_memory_queue_oldest_pending_age_seconds',
  'letta_memory_write_latency_seconds',
  'letta_memory_write_retries_total',
  'letta_memory_dead_lettered_total',
  'letta_memory_dead_letters',
  'letta_turn_voice_to_voice_seconds',
  'letta_turn_llm_ttft_seconds',
];

/** Minimal Prometheus text-format (0.0.4) check: every line is a comment or `name{labels} value`. */
const SAMPLE_LINE = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? (-?[0-9.e+-]+|NaN|\+Inf|-Inf)$/;

function sampleValue(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

function report(overrides: Partial<TurnReport>): TurnReport {
  return {
    turn: 1, mode: 'hybrid', source: 'openai', llmTtftMs: 200, llmTotalMs: 600, eouDelayMs: 100, ttsTtfbMs: 150, e2eLatencyMs: 700,
    interrupted: false, replyEnd: 'complete', replyEndReason: null, fallbacks: [], memoryWritten: 'queued', queueDepth: 0,
    oldestPendingAgeMs: 0, writeLagMs: null, lastWriteLatencyMs: null, writeRetries: 0, deadLetters: 0, ...overrides,
  };
}

describe('Prometheus endpoint', () => {
  let server: MetricsServer;
  beforeAll(async () => {
    server = await startMetricsServer({ host: '127.0.0.1', port: 0 });
  });
  afterAll(() => server.close());

  it('serves valid Prometheus text with every named metric, from pushed job snapshots', async () => {
    const job = new JobMetrics();
    job.observeTurn(report({}));
    const pusher = startSnapshotPusher({ registry: job.registry, pushUrl: server.pushUrl, source: 'job-a', onError: (err) => { throw err; } });
    await pusher.pushNow();

    const res = await fetch(server.scrapeUrl);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    for (const line of text.split('\n').filter((l) => l && !l.startsWith('#'))) expect(line).toMatch(SAMPLE_LINE);
    for (const name of NAMED) expect(text).toContain(`# TYPE ${name} `);
    expect(sampleValue(text, 'letta_turn_voice_to_voice_seconds_count{mode="hybrid"}')).toBe(1);
    expect(sampleValue(text, 'letta_turn_voice_to_voice_seconds_bucket{le="0.75",mode="hybrid"}')).toBe(1);
    expect(sampleValue(text, 'letta_turn_voice_to_voice_seconds_bucket{le="0.5",mode="hybrid"}')).toBe(0);
    expect(sampleValue(text, 'letta_metrics_job_processes')).toBe(1);

    // A final push (the call ended) drops the process from the live set but keeps its histogram.
    await pusher.stop();
    const after = await (await fetch(server.scrapeUrl)).text();
    expect(sampleValue(after, 'letta_metrics_job_processes')).toBe(0);
    expect(sampleValue(after, 'letta_turn_voice_to_voice_seconds_count{mode="hybrid"}')).toBe(1);
  });

  it('takes a snapshot pushed by another OS process (as a job process does)', async () => {
    const script = `
      import { JobMetrics } from './src/metrics/job-metrics.ts';
      import { startSnapshotPusher } from './src/metrics/snapshot-pusher.ts';
      const job = new JobMetrics();
      job.observeTurn(${JSON.stringify(report({ mode: 'letta', source: 'letta', llmTtftMs: 900 }))});
      const pusher = startSnapshotPusher({ registry: job.registry, pushUrl: process.env.PUSH_URL, source: 'job-child', onError: (e) => { console.error(e); process.exit(1); } });
      await pusher.pushNow();
      process.exit(0);`;
    const repo = path.resolve(import.meta.dirname, '../..');
    await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: repo, env: { ...process.env, PUSH_URL: server.pushUrl }, timeout: 60_000 });
    const text = await (await fetch(server.scrapeUrl)).text();
    expect(sampleValue(text, 'letta_turn_llm_ttft_seconds_count{mode="letta",source="letta"}')).toBe(1);
    expect(sampleValue(text, 'letta_turn_llm_ttft_seconds_bucket{le="1",mode="letta",source="letta"}')).toBe(1);
  });

  it("serves the main process's own queue (adoption or orphan sweeps) live, summed with the job processes'", async () => {
    const own = new JobMetrics();
    own.watchQueue(fakeQueue({ depth: 6, oldestPendingAgeMs: 12_000, retries: 0 }));
    const job = new JobMetrics();
    job.watchQueue(fakeQueue({ depth: 1, oldestPendingAgeMs: 2_000, retries: 0 }));
    const pusher = startSnapshotPusher({ registry: job.registry, pushUrl: server.pushUrl, source: 'job-b', onError: (err) => { throw err; } });
    await pusher.pushNow();
    const remove = server.addLocalRegistry(own.registry);
    const text = await (await fetch(server.scrapeUrl)).text();
    expect(sampleValue(text, 'letta_memory_queue_depth')).toBe(7);
    expect(sampleValue(text, 'letta_memory_queue_oldest_pending_age_seconds')).toBe(12);
    remove();
    await pusher.stop();
    const after = await (await fetch(server.scrapeUrl)).text();
    expect(sampleValue(after, 'letta_memory_queue_depth')).toBe(0);
  });

  it('rejects malformed pushes and unknown paths', async () => {
    const bad = await fetch(server.pushUrl, { method: 'POST', body: '{"metrics": 3}' });
    expect(bad.status).toBe(400);
    expect((await fetch(server.scrapeUrl.replace('/metrics', '/nope'))).status).toBe(404);
  });
});

describe('METRICS_PORT / METRICS_HOST', () => {
  const env = { OPENAI_API_KEY: 'sk-test', DEEPGRAM_API_KEY: 'dg', LETTA_API_KEY: 'letta' };
  it('defaults to 127.0.0.1:9464, is disabled by 0 or off, and rejects anything else', () => {
    expect(loadConfig(env, { requireLiveKit: false }).metrics).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(loadConfig({ ...env, METRICS_PORT: '9100', METRICS_HOST: '0.0.0.0' }, { requireLiveKit: false }).metrics).toEqual({ host: '0.0.0.0', port: 9100 });
    expect(loadConfig({ ...env, METRICS_PORT: 'off' }, { requireLiveKit: false }).metrics).toBeNull();
    expect(loadConfig({ ...env, METRICS_PORT: '0' }, { requireLiveKit: false }).metrics).toBeNull();
    expect(() => loadConfig({ ...env, METRICS_PORT: 'ninety' }, { requireLiveKit: false })).toThrow(ConfigError);
  });
});

describe('combining job processes', () => {
  it('sums two job processes’ counters and histograms and takes the largest oldest-pending age', async () => {
    const store = new SnapshotStore({ staleAfterMs: 60_000 });
    const jobs = [new JobMetrics(), new JobMetrics()];
    const queues = [
      { depth: 2, oldestPendingAgeMs: 4_000, retries: 3 },
      { depth: 5, oldestPendingAgeMs: 9_000, retries: 4 },
    ];
    for (const [i, job] of jobs.entries()) {
      job.watchQueue(fakeQueue(queues[i]));
      job.observeTurn(report({ llmTtftMs: 300 }));
      store.put(`job-${i}`, await job.registry.getMetricsAsJSON());
    }
    const text = await (await store.aggregate()).metrics();
    expect(sampleValue(text, 'letta_memory_write_retries_total')).toBe(7);
    expect(sampleValue(text, 'letta_memory_queue_depth')).toBe(7);
    expect(sampleValue(text, 'letta_memory_queue_oldest_pending_age_seconds')).toBe(9);
    expect(sampleValue(text, 'letta_turns_total{mode="hybrid",source="openai"}')).toBe(2);
    expect(sampleValue(text, 'letta_turn_llm_ttft_seconds_count{mode="hybrid",source="openai"}')).toBe(2);
  });

  it('expires a stale snapshot: its gauges go, its counters stay', async () => {
    let now = 1_000_000;
    const store = new SnapshotStore({ staleAfterMs: 30_000, now: () => now });
    const stale = new JobMetrics();
    stale.watchQueue(fakeQueue({ depth: 4, oldestPendingAgeMs: 8_000, retries: 2 }));
    store.put('job-gone', await stale.registry.getMetricsAsJSON());
    now += 20_000;
    const fresh = new JobMetrics();
    fresh.watchQueue(fakeQueue({ depth: 1, oldestPendingAgeMs: 1_000, retries: 1 }));
    store.put('job-live', await fresh.registry.getMetricsAsJSON());

    let text = await (await store.aggregate()).metrics();
    expect(store.liveSources).toBe(2);
    expect(sampleValue(text, 'letta_memory_queue_depth')).toBe(5);

    now += 15_000; // job-gone last pushed 35 s ago, job-live 15 s ago
    text = await (await store.aggregate()).metrics();
    expect(store.liveSources).toBe(1);
    expect(sampleValue(text, 'letta_memory_queue_depth')).toBe(1);
    expect(sampleValue(text, 'letta_memory_queue_oldest_pending_age_seconds')).toBe(1);
    expect(sampleValue(text, 'letta_memory_write_retries_total')).toBe(3);
  });
});

describe('after a real AgentSession turn', () => {
  let fixture: WorkerFixture;
  beforeAll(async () => {
    fixture = await startWorkerFixture();
  });
  afterAll(() => fixture?.close());

  it('the turn histograms count the turn and the queue write is timed', async () => {
    const metrics = new JobMetrics();
    const unwatch = metrics.watchQueue(fixture.services.queue);
    await fixture.say('What do I do on weekends?');
    expect(fixture.turns).toHaveLength(1);
    for (const turn of fixture.turns) metrics.observeTurn(turn);
    await fixture.call.recorder.flushed();
    await fixture.services.queue.whenIdle();
    const text = await metrics.registry.metrics();
    unwatch();

    const { mode, source } = fixture.turns[0];
    expect(sampleValue(text, `letta_turn_llm_ttft_seconds_count{mode="${mode}",source="${source}"}`)).toBe(1);
    // Text mode has no audio: the framework measures no voice-to-voice latency, and nothing is made up for it.
    expect(fixture.turns[0].e2eLatencyMs).toBeNull();
    expect(text).not.toMatch(/letta_turn_voice_to_voice_seconds_count\{/);
    const queued = fixture.turns[0].memoryWritten === 'queued';
    expect(sampleValue(text, 'letta_memory_write_latency_seconds_count')).toBe(queued ? 1 : 0);
    expect(sampleValue(text, 'letta_memory_queue_depth')).toBe(0);
  });
});

function fakeQueue(stats: { depth: number; oldestPendingAgeMs: number; retries: number }) {
  return {
    stats: () => ({ ...stats, inFlight: 0, lastWriteLatencyMs: null, writeLagMs: null, written: 0, deadLetters: 0, failedPermanently: 0, pendingByAgent: {}, circuit: 'closed' as const, unjournaled: 0 }),
    onAcknowledged: () => () => {},
    onDeadLetter: () => () => {},
  };
}
