// One real bench:scale call: this process runs the call's provider stand-ins and synthesizes the line; the call
// process (scripts/bench-scale-call.ts, run with tsx here, compiled in the benchmark) holds only the worker's
// session, plays the line in real time and reports when the reply started playing, and its own CPU and memory.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ScaleCall, synthesizeLines } from '../../scripts/bench-scale-driver.js';
import { CALLER_AUDIO_SAMPLE_RATE } from '../../src/call/caller-audio.js';

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const REPLY = 'Sure, I can help with that. What time works best for you?';
const dir = mkdtempSync(path.join(tmpdir(), 'bench-scale-test-'));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('bench:scale call process', () => {
  it('answers a warm-up and a measured line, and reports voice-to-voice, CPU and memory', async () => {
    const [warmUp, measured] = await synthesizeLines(['Hello there, can you hear me?', 'What is the weather like today?'], dir, CALLER_AUDIO_SAMPLE_RATE);
    const call = await ScaleCall.start({
      module: path.join(ROOT, 'scripts/bench-scale-call.ts'),
      execArgv: ['--import', 'tsx'],
      reply: REPLY,
      startTimeoutMs: 50_000,
    });
    try {
      expect(call.pid).not.toBe(process.pid);
      expect(call.memoryAtReady!.rss).toBeGreaterThan(50);
      await call.say(warmUp!);
      call.measureStart();
      const turn = await call.say(measured!);
      const measurement = await call.measureEnd();
      // Speech end, then Deepgram's endpointing and the injected provider latencies, then the reply plays.
      expect(turn.voiceToVoiceMs).toBeGreaterThan(300);
      expect(turn.voiceToVoiceMs).toBeLessThan(5_000);
      expect(turn.playoutStartedAt).toBeGreaterThanOrEqual(turn.firstFrameAt);
      expect(turn.playoutEndedAt).toBeGreaterThan(turn.playoutStartedAt);
      expect(measurement.wallMs).toBeGreaterThan(turn.voiceToVoiceMs);
      expect(measurement.cpuMs).toBeGreaterThan(0);
      expect(measurement.rssMaxMiB).toBeGreaterThanOrEqual(measurement.rssP50MiB);
      expect(measurement.memory.heapUsed).toBeGreaterThan(0);
    } finally {
      expect(await call.close()).toBe(0);
    }
  });
});
