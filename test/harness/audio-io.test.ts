// The harness audio I/O on its own: real-time pacing, playout accounting, interruption,
// pause/resume and the call recording.
import { initializeLogger } from '@livekit/agents';
import { AudioFrame } from '@livekit/rtc-node';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import wavefile from 'wavefile';
import { beforeAll, describe, expect, it } from 'vitest';
import { CallerAudioInput, RecordingAudioOutput } from '../../simulation/harness/audio-io.js';
import { synthesize } from '../../simulation/harness/espeak.js';
import { pcmToFrames } from '../../simulation/harness/frames.js';
import { rms } from '../../simulation/harness/pcm.js';
import { CallRecorder } from '../../simulation/harness/recorder.js';

const RATE = 24000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(() => {
  initializeLogger({ pretty: false, level: 'warn' });
});

/** A tone, so played audio is easy to find in recordings. */
function tone(seconds: number, rate = RATE): Int16Array {
  const pcm = new Int16Array(Math.round(seconds * rate));
  for (let i = 0; i < pcm.length; i++) pcm[i] = Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / rate));
  return pcm;
}

describe('CallerAudioInput', () => {
  it('streams real-time frames, plays a line, then keeps streaming silence', async () => {
    const recorder = new CallRecorder({ sampleRate: RATE });
    const input = new CallerAudioInput({ sampleRate: RATE, frameMs: 20, recorder });
    const received: AudioFrame[] = [];
    const reader = input.stream.getReader();
    const reading = (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done || !value) return;
        received.push(value);
      }
    })();
    const startedAt = performance.now();
    input.start();
    await sleep(200);
    const line = await synthesize('Hello, is anybody there?', { sampleRate: RATE });
    const said = await input.say(line);
    await sleep(200);
    const elapsed = performance.now() - startedAt;
    await input.close();
    await reading;

    // Paced by the wall clock: about one 20 ms frame per 20 ms.
    expect(received.length).toBeGreaterThan((elapsed / 20) * 0.8);
    expect(received.length).toBeLessThanOrEqual(elapsed / 20 + 1);
    expect(received.every((f) => f.samplesPerChannel === 480 && f.sampleRate === RATE)).toBe(true);

    // say() reports capture times consistent with the audio.
    expect(said.playEnd - said.playStart).toBeCloseTo(line.durationSeconds * 1000, -1);
    expect(said.speechStart).toBeGreaterThanOrEqual(said.playStart);
    expect(said.speechEnd).toBeLessThanOrEqual(said.playEnd);
    expect(said.speechEnd - said.speechStart).toBeCloseTo((line.speechEndSeconds - line.speechStartSeconds) * 1000, -1);
    expect(performance.now()).toBeGreaterThan(said.playEnd);

    // The line sits in the stream exactly where say() says it does, silence around it.
    const all = new Int16Array(received.length * 480);
    received.forEach((f, i) => all.set(f.data, i * 480));
    const firstVoiced = all.findIndex((s) => s !== 0);
    const lineFirstVoiced = line.pcm.findIndex((s) => s !== 0);
    expect(firstVoiced - lineFirstVoiced).toBeGreaterThan(0.15 * RATE); // ~200 ms of silence first
    const t0 = said.playStart - ((firstVoiced - lineFirstVoiced) / RATE) * 1000;
    expect(Math.abs(t0 - startedAt)).toBeLessThan(50);
    expect(rms(all, all.length - RATE * 0.1)).toBe(0);
    expect(recorder.durationSeconds).toBeGreaterThan(line.durationSeconds);
  });
});

describe('RecordingAudioOutput', () => {
  it('plays a segment out in real time and reports the full playback position', async () => {
    const out = new RecordingAudioOutput({ sampleRate: RATE });
    const audio = tone(0.8);
    const started = performance.now();
    for (const f of pcmToFrames(audio, RATE, 20)) await out.captureFrame(f);
    const captureMs = performance.now() - started;
    out.flush();
    const ev = await out.waitForPlayout();
    const totalMs = performance.now() - started;
    out.close();

    // captureFrame applies backpressure: only ~200 ms can be queued ahead.
    expect(captureMs).toBeGreaterThan(800 - 200 - 100);
    expect(totalMs).toBeGreaterThan(800 * 0.95);
    expect(totalMs).toBeLessThan(800 * 2);
    expect(ev.interrupted).toBe(false);
    expect(ev.playbackPosition).toBeCloseTo(0.8, 2);
    const seg = out.segments[0];
    expect((seg.playoutStartedAt ?? 0) - seg.firstFrameAt).toBeLessThan(30);
    expect((seg.playoutEndedAt ?? 0) - (seg.playoutStartedAt ?? 0)).toBeCloseTo(800, -2);
  });

  it('clearBuffer interrupts with the position actually played', async () => {
    const out = new RecordingAudioOutput({ sampleRate: RATE, queueSizeMs: 5000 });
    for (const f of pcmToFrames(tone(2), RATE, 20)) await out.captureFrame(f);
    out.flush();
    const finished = out.waitForPlayout();
    await sleep(500);
    out.clearBuffer();
    const ev = await finished;
    out.close();
    expect(ev.interrupted).toBe(true);
    expect(ev.playbackPosition).toBeGreaterThan(0.4);
    expect(ev.playbackPosition).toBeLessThan(1.2);
    expect(out.segments[0].interrupted).toBe(true);
  });

  it('pause holds the playhead and resume continues', async () => {
    const out = new RecordingAudioOutput({ sampleRate: RATE, queueSizeMs: 5000 });
    for (const f of pcmToFrames(tone(0.6), RATE, 20)) await out.captureFrame(f);
    out.flush();
    const started = performance.now();
    const finished = out.waitForPlayout();
    await sleep(200);
    out.pause();
    await sleep(400);
    out.resume();
    const ev = await finished;
    const totalMs = performance.now() - started;
    out.close();
    expect(ev.interrupted).toBe(false);
    expect(ev.playbackPosition).toBeCloseTo(0.6, 2);
    expect(totalMs).toBeGreaterThan(950); // 600 ms of audio + 400 ms paused
  });

  it('records both sides of a call into a stereo WAV on one timeline', async () => {
    const recorder = new CallRecorder({ sampleRate: RATE });
    const input = new CallerAudioInput({ sampleRate: RATE, recorder });
    const out = new RecordingAudioOutput({ sampleRate: RATE, recorder });
    const reader = input.stream.getReader();
    void (async () => {
      while (!(await reader.read()).done);
    })();
    input.start();
    const said = await input.say(tone(0.3));
    for (const f of pcmToFrames(tone(0.3), RATE, 20)) await out.captureFrame(f);
    out.flush();
    await out.waitForPlayout();
    out.close();
    await input.close();

    const dir = mkdtempSync(path.join(tmpdir(), 'harness-wav-'));
    const file = path.join(dir, 'call.wav');
    await recorder.writeWav(file);
    const wav = new wavefile.WaveFile(readFileSync(file));
    const samples = wav.getSamples(false, Int16Array) as unknown as Int16Array[];
    expect(samples).toHaveLength(2);
    const [left, right] = samples;
    const firstNonZero = (a: Int16Array) => a.findIndex((s) => s !== 0);
    const callerAt = firstNonZero(left) / RATE;
    const agentAt = firstNonZero(right) / RATE;
    expect(callerAt).toBeCloseTo((said.playStart - recorder.startedAt) / 1000, 2);
    expect(agentAt).toBeGreaterThanOrEqual((said.playEnd - recorder.startedAt) / 1000 - 0.02);
    const seg = out.segments[0];
    expect(agentAt).toBeCloseTo(((seg.playoutStartedAt ?? 0) - recorder.startedAt) / 1000, 2);

    const mono = new wavefile.WaveFile(recorder.toWav({ layout: 'mix', sampleRate: 16000 }));
    expect((mono.fmt as { numChannels: number }).numChannels).toBe(1);
  });
});
