// Full audio runs: every variant places calls through the voice harness, interleaved round by round so that
// machine noise (two shared cores) spreads evenly over the variants.
import type { MeasuredTurn } from '../simulation/harness/voice-call-harness.js';
import { startVoiceCallHarness } from '../simulation/harness/voice-call-harness.js';
import { BENCH_LINES, BENCH_PROVIDERS, BENCH_REPLY, VARIANTS, type VariantName } from './bench-variants.js';

export interface AudioRun {
  turns: Map<VariantName, MeasuredTurn[]>;
  /** Write-behind latencies Letta acknowledged during hybrid calls (ms), per variant. */
  writeLatencies: Map<VariantName, number[]>;
  /** Highest number of simultaneous requests Letta saw on the agent, per variant (should be 1). */
  lettaMaxConcurrency: Map<VariantName, number>;
  /** Lines that got no audible answer, per variant. */
  failures: Map<VariantName, string[]>;
  /** Every request the Letta stand-in received during the variant's calls (session start to drained queue), per variant. */
  lettaRequests?: Map<VariantName, { requests: number; coreMemoryReads: number; turns: number }>;
}

export interface AudioBenchOptions {
  variants: readonly VariantName[];
  turnsPerVariant: number;
  linesPerCall: number;
  log: (line: string) => void;
}

export async function runAudioBench(options: AudioBenchOptions): Promise<AudioRun> {
  const run: AudioRun = { turns: new Map(), writeLatencies: new Map(), lettaMaxConcurrency: new Map(), failures: new Map(), lettaRequests: new Map() };
  for (const v of options.variants) {
    run.turns.set(v, []);
    run.writeLatencies.set(v, []);
    run.failures.set(v, []);
    run.lettaMaxConcurrency.set(v, 0);
    run.lettaRequests!.set(v, { requests: 0, coreMemoryReads: 0, turns: 0 });
  }
  const rounds = Math.ceil(options.turnsPerVariant / options.linesPerCall);
  for (let round = 0; round < rounds; round++) {
    // Rotate the order each round so no variant always runs first (cold caches) or last.
    const order = options.variants.map((_, i) => options.variants[(i + round) % options.variants.length]);
    const lines = Array.from({ length: options.linesPerCall }, (_, i) => BENCH_LINES[(round * options.linesPerCall + i) % BENCH_LINES.length]);
    for (const name of order) {
      const started = performance.now();
      const harness = await startVoiceCallHarness({ ...VARIANTS[name].harness, ...BENCH_PROVIDERS });
      const writes: number[] = [];
      const stopWatching = harness.services.queue.onAcknowledged(() => {
        const latency = harness.services.queue.stats().lastWriteLatencyMs;
        if (latency !== null) writes.push(latency);
      });
      try {
        for (const line of lines) {
          try {
            const turn = await harness.say(line);
            run.turns.get(name)!.push(turn);
            // "Answered in full": the whole reply was spoken, uninterrupted, with no word lost or added.
            const spoken = normalizeWords(turn.timeline.agentText);
            if (turn.timeline.interrupted || spoken !== normalizeWords(BENCH_REPLY)) {
              run.failures.get(name)!.push(`${line}: reply not spoken in full (heard "${turn.timeline.agentText}")`);
            }
          } catch (err) {
            run.failures.get(name)!.push(`${line}: ${(err as Error).message}`);
          }
        }
      } finally {
        stopWatching();
        const concurrency = harness.servers.letta.maxConcurrentPerAgent(harness.agentId);
        run.lettaMaxConcurrency.set(name, Math.max(run.lettaMaxConcurrency.get(name)!, concurrency));
        run.writeLatencies.get(name)!.push(...writes);
        await harness.close(); // drains the memory queue: its writes and refreshes count too
        const counted = run.lettaRequests!.get(name)!;
        counted.requests += harness.servers.letta.requests.length;
        counted.coreMemoryReads += harness.servers.letta.requests.filter((r) => r.route === 'blocks.list').length;
        counted.turns += lines.length;
      }
      const v2v = run.turns.get(name)!.slice(-lines.length).map((t) => Math.round(t.breakdown?.voiceToVoiceMs ?? Number.NaN));
      options.log(`  round ${round + 1}/${rounds} ${name.padEnd(18)} v2v ${v2v.join(' ')} ms  (${((performance.now() - started) / 1000).toFixed(1)} s)`);
    }
  }
  return run;
}

function normalizeWords(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
