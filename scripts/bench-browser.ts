// `npm run bench:browser`: mouth-to-ear through the SFU. Calls from the voice room page in headless Chromium through
// the real livekit-server to the worker (`tsx src/main.ts dev`) and back, against the same stand-ins and injected
// provider latencies as `npm run bench`; in the same run, the same lines through the in-process voice harness
// (`hybrid`), so the difference is what the WebRTC path adds. Needs `npm run e2e:setup` (livekit-server, Chromium).
//
//   --turns N            browser turns (default 20, as `npm run bench`; calls of --lines-per-call lines)
//   --lines-per-call N   default 4
//   --no-harness         skip the in-process comparison
//   --report-only        re-render the BENCHMARKS.md section from out/bench/browser-results.json
//   --no-write           print only; leave BENCHMARKS.md alone
//
// Writes out/bench/browser-results.json and the "## Mouth-to-ear through the SFU" section of BENCHMARKS.md.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { mouthToEar, placeBrowserCall } from '../simulation/browser/browser-call.js';
import { startCallRig } from '../simulation/browser/call-rig.js';
import { medianDifferenceCI, summarize, type Summary } from '../simulation/harness/metrics.js';
import { startVoiceCallHarness, type ProviderLatencies } from '../simulation/harness/voice-call-harness.js';
import { BENCH_LINES, BENCH_REPLY } from './bench-variants.js';
import { writeBenchmarkSection } from './benchmarks-section.js';
import { positiveWholeNumber, runCommand } from './cli.js';
import { describeMachine, formatLoadAverage, machineFacts, type MachineFacts } from './machine.js';

const RESULTS_FILE = path.resolve('out/bench/browser-results.json');
const BENCHMARKS_FILE = path.resolve('BENCHMARKS.md');
const HEADING = '## Mouth-to-ear through the SFU (browser)';

interface MeasuredLine {
  call: number;
  line: string;
  /** null: no agent audio after the line. */
  ms: number | null;
}

interface BrowserBenchResults {
  startedAt: string;
  durationMinutes: number;
  command: string;
  machine: MachineFacts;
  latencies: ProviderLatencies;
  linesPerCall: number;
  browser: MeasuredLine[];
  /** Mean WebRTC jitter-buffer delay per call (inbound-rtp jitterBufferDelay / jitterBufferEmittedCount), ms. */
  jitterBufferMs: number[];
  /** Rooms each call needed before livekit-server dispatched the agent (1 = first try). */
  joinAttempts: number[];
  harness: MeasuredLine[] | null;
  failures: string[];
}

async function run(turns: number, linesPerCall: number, withHarness: boolean, log: (l: string) => void): Promise<BrowserBenchResults> {
  const started = Date.now();
  const rig = await startCallRig({ openaiReply: () => BENCH_REPLY, log });
  const results: BrowserBenchResults = {
    startedAt: new Date(started).toISOString(),
    durationMinutes: 0,
    command: `npm run bench:browser${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    machine: { ...machineFacts(), loadAverage: [] }, // taken at the end of the run
    latencies: rig.latencies,
    linesPerCall,
    browser: [],
    jitterBufferMs: [],
    joinAttempts: [],
    harness: withHarness ? [] : null,
    failures: [],
  };
  try {
    const calls = Math.ceil(turns / linesPerCall);
    for (let call = 0; call < calls; call++) {
      const lines = Array.from({ length: linesPerCall }, (_, i) => BENCH_LINES[(call * linesPerCall + i) % BENCH_LINES.length]);
      // Alternate which path goes first so neither always meets the machine in the same state.
      const order = call % 2 === 0 ? (['browser', 'harness'] as const) : (['harness', 'browser'] as const);
      for (const which of order) {
        if (which === 'browser') await browserCall(call, lines);
        else if (results.harness) await harnessCall(call, lines, results.harness);
      }
    }
  } finally {
    await rig.close();
  }
  results.machine.loadAverage = os.loadavg();
  results.durationMinutes = (Date.now() - started) / 60_000;
  return results;

  async function browserCall(call: number, lines: string[]): Promise<void> {
    const t0 = Date.now();
    try {
      const res = await placeBrowserCall(rig, {
        lines,
        expectedReply: () => BENCH_REPLY,
        room: `bench-${started.toString(36)}-${call}`,
        // A benchmark can wait out a saturated machine longer than a test (see joinWithAgent).
        maxJoinAttempts: 15,
        log: (l) => log(`    ${l}`),
      });
      results.joinAttempts.push(res.joinAttempts);
      const jb = res.inbound.reduce((a, s) => ({ d: a.d + s.jitterBufferDelay, n: a.n + s.jitterBufferEmittedCount }), { d: 0, n: 0 });
      if (jb.n > 0) results.jitterBufferMs.push((jb.d / jb.n) * 1000);
      for (const t of mouthToEar(res)) {
        results.browser.push({ call, line: t.line, ms: t.mouthToEarMs ?? null });
        if (t.mouthToEarMs === undefined) results.failures.push(`browser call ${call + 1}: no agent audio after "${t.line}"`);
      }
      const ms = mouthToEar(res).map((t) => (t.mouthToEarMs === undefined ? '—' : Math.round(t.mouthToEarMs)));
      log(`  call ${call + 1} browser  mouth-to-ear ${ms.join(' ')} ms  (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
    } catch (err) {
      results.failures.push(`browser call ${call + 1}: ${(err as Error).message.split('\n')[0]}`);
      log(`  call ${call + 1} browser  FAILED: ${(err as Error).message.split('\n')[0]}`);
    }
  }

  async function harnessCall(call: number, lines: string[], into: MeasuredLine[]): Promise<void> {
    const t0 = Date.now();
    const harness = await startVoiceCallHarness({ variant: 'hybrid', openaiReply: () => BENCH_REPLY, lettaReply: () => BENCH_REPLY });
    const ms: string[] = [];
    try {
      for (const line of lines) {
        try {
          const turn = await harness.say(line);
          const v2v = turn.breakdown?.voiceToVoiceMs;
          into.push({ call, line, ms: v2v ?? null });
          ms.push(v2v === undefined ? '—' : String(Math.round(v2v)));
        } catch (err) {
          into.push({ call, line, ms: null });
          results.failures.push(`harness call ${call + 1}: ${(err as Error).message.split('\n')[0]}`);
          ms.push('—');
        }
      }
    } finally {
      await harness.close();
    }
    log(`  call ${call + 1} harness  voice-to-voice ${ms.join(' ')} ms  (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  }
}

const fmt = (x: number) => (Number.isFinite(x) ? String(Math.round(x)) : '—');
const values = (lines: readonly MeasuredLine[]) => lines.map((l) => l.ms).filter((x): x is number => x !== null);

function row(name: string, s: Summary, unanswered: number): string {
  return `| ${name} | ${s.n} | ${fmt(s.p50)} / ${fmt(s.p95)} | ${fmt(s.min)} / ${fmt(s.max)} | ${unanswered} |`;
}

export function renderSection(r: BrowserBenchResults): string {
  const browser = summarize(values(r.browser));
  const harness = r.harness ? summarize(values(r.harness)) : undefined;
  const l = r.latencies;
  const jitter = r.jitterBufferMs.length ? summarize(r.jitterBufferMs) : undefined;
  const retried = r.joinAttempts.filter((a) => a > 1).length;
  const lines = [
    HEADING,
    '',
    'Mouth-to-ear = the caller\'s last voiced sample on the browser\'s microphone track → the first voiced sample of',
    'the agent\'s audio on the track the browser receives from livekit-server, both seen by AnalyserNodes in the page',
    '(5 ms blocks, voiced at ≥ −40 dBFS, `performance.now()`; `simulation/browser/audio-probe.page.js`). The call is a',
    'real one: headless Debian Chromium opens the voice room page from `npm run web`, its fake microphone plays',
    'espeak-ng lines (`--use-file-for-fake-audio-capture`), the token dispatches the agent, and the worker',
    '(`tsx src/main.ts dev`, one job process per call, RoomIO) answers through the same stand-ins and injected',
    'latencies as `npm run bench`, with the same lines and reply text. Audio goes browser → Opus → livekit-server',
    'v1.13.5 on loopback → worker, and back the same way into Chromium\'s jitter buffer and decoder. The output device',
    'is not included (headless Chromium has none).',
    '',
    '**Reproduce:** `npm run e2e:setup && npm run bench:browser` (writes `out/bench/browser-results.json` and this',
    'section; `npm run bench:browser -- --report-only` re-renders it from that file).',
    '',
    `Command of this run: \`${r.command}\``,
    '',
    `**Machine:** ${describeMachine(r.machine)}; load average at the end ${formatLoadAverage(r.machine)}. ` +
      `Run started ${r.startedAt}, took ${r.durationMinutes.toFixed(1)} min.`,
    '',
    `**Injected provider latencies:** Deepgram +${l.deepgramMs} ms per result, OpenAI TTFT ${l.openaiTtftMs} ms + ` +
      `${l.openaiTokenDelayMs} ms/token, Cartesia TTFB ${l.cartesiaTtfbMs} ms at ${l.cartesiaRealTimeFactor}× real time, ` +
      `Letta ${l.lettaStepMs} ms per agent step (written behind, not on the reply path). Calls of ${r.linesPerCall} lines.`,
    '',
    '| path | turns | p50 / p95 (ms) | min / max (ms) | unanswered |',
    '| --- | --- | --- | --- | --- |',
    row('browser through the SFU: mouth-to-ear', browser, r.browser.length - browser.n),
  ];
  if (harness && r.harness) {
    lines.push(row('in-process harness, `hybrid`: voice-to-voice (same run, same lines)', harness, r.harness.length - harness.n));
    const ci = medianDifferenceCI(values(r.harness), values(r.browser));
    lines.push(
      '',
      `**What the WebRTC path adds:** ${fmt(browser.p50 - harness.p50)} ms at p50 [95% CI ${fmt(ci.low)}, ${fmt(ci.high)}] ` +
        `(${(browser.p50 / harness.p50).toFixed(2)}× the harness p50; at p95 ${fmt(browser.p95)} vs ${fmt(harness.p95)} ms, ` +
        `where with ${browser.n} turns p95 is about the second-slowest turn and moves with machine noise). The harness feeds the ` +
        'session PCM frames and takes them off its audio output directly; the browser path adds Chromium\'s audio ' +
        'capture and processing, Opus encoding and RTP both ways, two hops through livekit-server, the worker\'s room ' +
        'input (decode, resample to the STT/VAD rate) and output (rtc-node `AudioSource` queue), and the browser\'s ' +
        'jitter buffer and decoder' +
        (jitter ? ` (mean jitter-buffer delay ${fmt(jitter.p50)} ms, median over the calls, from inbound-rtp stats)` : '') +
        '. The speech-end reference differs slightly: the harness knows the true last voiced sample of the line, the ' +
        'browser detects it on the processed microphone track; and the harness counts from the first agent frame ' +
        'played, the browser from the first voiced one.',
    );
  }
  lines.push(
    '',
    `Dispatch: ${retried} of ${r.joinAttempts.length} calls needed more than one room before livekit-server dispatched ` +
      'the agent (it refuses a worker reporting a CPU load of 1.0; a saturated shared machine does). ' +
      (r.failures.length ? `Failures: ${r.failures.join('; ')}.` : 'No failures.'),
    '',
  );
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      turns: { type: 'string', default: '20' },
      'lines-per-call': { type: 'string', default: '4' },
      'no-harness': { type: 'boolean', default: false },
      'report-only': { type: 'boolean', default: false },
      'no-write': { type: 'boolean', default: false },
    },
  });
  const log = (line: string) => console.log(line);
  let results: BrowserBenchResults;
  if (args['report-only']) {
    results = JSON.parse(readFileSync(RESULTS_FILE, 'utf8')) as BrowserBenchResults;
  } else {
    const turns = positiveWholeNumber(args.turns, '--turns');
    const linesPerCall = positiveWholeNumber(args['lines-per-call'], '--lines-per-call');
    log(`Browser mouth-to-ear: ${turns} turns (calls of ${linesPerCall} lines)${args['no-harness'] ? '' : ', with the in-process harness for comparison'}`);
    results = await run(turns, linesPerCall, !args['no-harness'], log);
    mkdirSync(path.dirname(RESULTS_FILE), { recursive: true });
    writeFileSync(RESULTS_FILE, JSON.stringify(results, null, 1));
    log(`Results: ${path.relative(process.cwd(), RESULTS_FILE)}`);
  }
  const section = renderSection(results);
  console.log(`\n${section}`);
  if (!args['no-write']) {
    writeBenchmarkSection(BENCHMARKS_FILE, HEADING, section, '## Voice latency');
    console.log(`Updated the "${HEADING.slice(3)}" section of ${path.relative(process.cwd(), BENCHMARKS_FILE)}`);
  }
  if (values(results.browser).length < Math.min(10, results.browser.length)) process.exitCode = 1;
}

runCommand('bench:browser', main);
