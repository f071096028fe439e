// `npx tsx scripts/bench-framework-helpers.ts`: the two @livekit/agents audio helpers as patched
// (patches/@livekit+agents+1.8.1.patch, the installed code) against their 1.8.1 logic, copied here for comparison.
import { AudioByteStream, initializeLogger, mergeFrames } from '@livekit/agents';
import { AudioFrame } from '@livekit/rtc-node';

initializeLogger({ pretty: false, level: 'error' });

/** @livekit/agents 1.8.1 AudioByteStream.write: re-spreads the residual and the chunk into a new array per call. */
function writeAsReleased(state: { buf: Int8Array }, bytes: Int8Array, bytesPerFrame: number): Int8Array[] {
  state.buf = new Int8Array([...state.buf, ...bytes]);
  const frames: Int8Array[] = [];
  while (state.buf.length >= bytesPerFrame) {
    frames.push(state.buf.slice(0, bytesPerFrame));
    state.buf = state.buf.slice(bytesPerFrame);
  }
  return frames;
}

/** @livekit/agents 1.8.1 mergeFrames: rebuilds the whole output with spread for every frame. */
function mergeAsReleased(frames: Int16Array[]): Int16Array {
  let data = new Int16Array();
  for (const f of frames) data = new Int16Array([...data, ...f]);
  return data;
}

function time(label: string, fn: () => void): void {
  const t = performance.now();
  fn();
  console.log(`${label.padEnd(34)} ${(performance.now() - t).toFixed(1)} ms`);
}

const RATE = 24_000;
const chunk = new Int8Array(960); // 20 ms of 24 kHz PCM16, a typical network chunk
const chunksPerMinute = 50 * 60;
console.log('One minute of 24 kHz audio written in 20 ms chunks, cut into 100 ms frames:');
time('  AudioByteStream.write 1.8.1', () => {
  const state = { buf: new Int8Array() };
  for (let i = 0; i < chunksPerMinute; i++) writeAsReleased(state, chunk, RATE / 5);
});
time('  AudioByteStream.write patched', () => {
  const stream = new AudioByteStream(RATE, 1);
  for (let i = 0; i < chunksPerMinute; i++) stream.write(chunk);
});
const frames = Array.from({ length: 50 }, () => new Int16Array(RATE / 100)); // one second of 10 ms frames
console.log('60 merges of one second of audio (50 frames of 10 ms):');
time('  mergeFrames 1.8.1', () => {
  for (let i = 0; i < 60; i++) mergeAsReleased(frames);
});
time('  mergeFrames patched', () => {
  const audio = frames.map((d) => new AudioFrame(d, RATE, 1, d.length));
  for (let i = 0; i < 60; i++) mergeFrames(audio);
});
