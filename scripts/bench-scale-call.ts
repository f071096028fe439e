// One call of `npm run bench:scale`, in its own process as LiveKit runs each job: the worker's session (silero VAD,
// Deepgram / Cartesia plugins, OpenAI / Letta SDKs, memory queue) with the simulated caller and this call's local
// provider stand-ins. Talks to the parent over IPC: "ready" after a warm-up line, waits for "go", reports its numbers.
import { startVoiceCallHarness } from '../simulation/harness/voice-call-harness.js';
import { BENCH_LINES, BENCH_REPLY } from './bench-variants.js';

export interface ScaleCallReport {
  voiceToVoiceMs: number[];
  /** CPU time (user + system) this process used during the measured turns. */
  cpuMs: number;
  wallMs: number;
  /** Resident set size: after the warm-up, and the highest seen while the measured turns ran. */
  rssAfterWarmupMiB: number;
  rssMaxMiB: number;
  failures: string[];
}

type ParentMessage = { type: 'go' };

async function main(): Promise<void> {
  const lines = Number(process.argv[2] ?? '4');
  const offset = Number(process.argv[3] ?? '0');
  const harness = await startVoiceCallHarness({ variant: 'hybrid', openaiReply: () => BENCH_REPLY, lettaReply: () => BENCH_REPLY });
  const failures: string[] = [];
  try {
    // Warm-up: caches (synthesized caller lines, the stand-in's reply audio), connection pools and JIT.
    await harness.say(BENCH_LINES[offset % BENCH_LINES.length]!);
    const go = new Promise<void>((resolve) => process.once('message', (m: ParentMessage) => m.type === 'go' && resolve()));
    const mib = (bytes: number) => bytes / (1024 * 1024);
    const rssAfterWarmupMiB = mib(process.memoryUsage.rss());
    process.send?.({ type: 'ready' });
    await go;
    let rssMax = process.memoryUsage.rss();
    const sampler = setInterval(() => (rssMax = Math.max(rssMax, process.memoryUsage.rss())), 200);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const v2v: number[] = [];
    for (let i = 0; i < lines; i++) {
      const line = BENCH_LINES[(offset + 1 + i) % BENCH_LINES.length]!;
      try {
        const turn = await harness.say(line);
        if (turn.breakdown) v2v.push(turn.breakdown.voiceToVoiceMs);
        else failures.push(`${line}: no audio`);
      } catch (err) {
        failures.push(`${line}: ${(err as Error).message}`);
      }
    }
    const cpu = process.cpuUsage(cpu0);
    clearInterval(sampler);
    const report: ScaleCallReport = {
      voiceToVoiceMs: v2v,
      cpuMs: (cpu.user + cpu.system) / 1000,
      wallMs: performance.now() - t0,
      rssAfterWarmupMiB,
      rssMaxMiB: mib(rssMax),
      failures,
    };
    process.send?.({ type: 'report', report });
  } finally {
    await harness.close();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
