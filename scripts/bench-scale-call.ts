// One call process of `npm run bench:scale`: what a LiveKit job process holds during a call (the worker's session,
// simulation/harness/job-session.ts) and nothing else. The parent runs the provider stand-ins and synthesizes the
// caller's lines; this process plays each line it is told to (real time), notes when the reply starts playing out,
// and measures its own CPU and memory between measure-start and measure-end. Runs compiled, under plain `node`.
import { readFileSync } from 'node:fs';
import { initializeLogger } from '@livekit/agents';
import { startJobSession, type JobSession } from '../simulation/harness/job-session.js';
import { memoryBreakdown, type ChildMessage, type ParentMessage } from './bench-scale-protocol.js';

function send(message: ChildMessage): void {
  process.send?.(message);
}

const lines = new Map<string, Int16Array>();

function lineAudio(file: string): Int16Array {
  let pcm = lines.get(file);
  if (!pcm) {
    const bytes = readFileSync(file);
    pcm = new Int16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
    lines.set(file, pcm);
  }
  return pcm;
}

/** CPU, wall time and sampled RSS of this process over the measured turns. */
function startMeasuring(): () => ChildMessage {
  const samples: number[] = [process.memoryUsage.rss()];
  const sampler = setInterval(() => samples.push(process.memoryUsage.rss()), 200);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  return () => {
    const cpu = process.cpuUsage(cpu0);
    const wallMs = performance.now() - t0;
    clearInterval(sampler);
    samples.push(process.memoryUsage.rss());
    const sorted = samples.map((x) => x / 2 ** 20).sort((a, b) => a - b);
    return {
      type: 'measured',
      measurement: {
        cpuMs: (cpu.user + cpu.system) / 1000,
        wallMs,
        rssMaxMiB: sorted.at(-1)!,
        rssP50MiB: sorted[Math.floor(sorted.length / 2)]!,
        memory: memoryBreakdown(),
      },
    };
  };
}

async function main(): Promise<void> {
  initializeLogger({ pretty: false, level: process.env.HARNESS_LOG_LEVEL ?? 'error' });
  let session: JobSession | undefined;
  let stopMeasuring: (() => ChildMessage) | undefined;
  await new Promise<void>((resolve, reject) => {
    process.on('message', (message: ParentMessage) => {
      switch (message.type) {
        case 'start':
          startJobSession({ env: message.env, inputSampleRate: message.sampleRate }).then((s) => {
            session = s;
            send({ type: 'ready', memory: memoryBreakdown() });
          }, reject);
          break;
        case 'say':
          if (!session) return reject(new Error('say before start'));
          session.say(lineAudio(message.pcmFile)).then(
            (turn) => send({ type: 'turn', id: message.id, turn }),
            (err: unknown) => send({ type: 'turn', id: message.id, error: err instanceof Error ? err.message : String(err) }),
          );
          break;
        case 'measure-start':
          stopMeasuring = startMeasuring();
          break;
        case 'measure-end':
          if (stopMeasuring) send(stopMeasuring());
          stopMeasuring = undefined;
          break;
        case 'close':
          void (session?.close() ?? Promise.resolve()).then(resolve, reject);
          break;
      }
    });
    process.once('disconnect', () => resolve());
  });
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
