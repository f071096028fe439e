// Small PCM16 helpers shared by the fake provider servers and the harness audio I/O.
// Everything here is mono Int16 PCM unless a name says otherwise.

/** Full-scale value used to normalise Int16 samples to [-1, 1]. */
const INT16_SCALE = 32768;

/** Root-mean-square level of `pcm[start, end)`, normalised to [0, 1]. */
export function rms(pcm: Int16Array, start = 0, end = pcm.length): number {
  const from = Math.max(0, start);
  const to = Math.min(pcm.length, end);
  if (to <= from) return 0;
  let sum = 0;
  for (let i = from; i < to; i++) {
    const v = pcm[i] / INT16_SCALE;
    sum += v * v;
  }
  return Math.sqrt(sum / (to - from));
}

/** Duration in seconds of `samples` samples at `sampleRate`. */
export function durationSeconds(samples: number, sampleRate: number): number {
  return samples / sampleRate;
}

/**
 * Level (normalised RMS over a 10 ms window) above which a window counts as speech.
 * The agents AudioEnergyFilter treats > 0.004 as non-silent; espeak speech sits far
 * above that, while pauses inside espeak output are near-exact zeros.
 */
export const DEFAULT_SPEECH_THRESHOLD = 0.01;

/**
 * First and last sample (end exclusive) of the voiced part of `pcm`, scanning 10 ms
 * windows. Returns null when nothing crosses the threshold.
 */
export function speechBounds(
  pcm: Int16Array,
  sampleRate: number,
  threshold = DEFAULT_SPEECH_THRESHOLD,
): { start: number; end: number } | null {
  const win = Math.max(1, Math.round(sampleRate / 100));
  let first = -1;
  let last = -1;
  for (let i = 0; i < pcm.length; i += win) {
    if (rms(pcm, i, i + win) > threshold) {
      if (first < 0) first = i;
      last = Math.min(pcm.length, i + win);
    }
  }
  return first < 0 ? null : { start: first, end: last };
}

/**
 * Linear-interpolation resampler. No anti-aliasing filter: cheap enough for frame-by-frame
 * conversion of audio that is already band-limited. Whole clips (synthesized speech) go
 * through resampleBandLimited (resample.ts) instead.
 */
export function resampleLinear(pcm: Int16Array, fromRate: number, toRate: number): Int16Array {
  if (fromRate === toRate || pcm.length === 0) return pcm.slice();
  const outLen = Math.max(1, Math.round((pcm.length * toRate) / fromRate));
  const out = new Int16Array(outLen);
  const step = fromRate / toRate;
  for (let i = 0; i < outLen; i++) {
    const pos = i * step;
    const i0 = Math.floor(pos);
    const i1 = Math.min(i0 + 1, pcm.length - 1);
    const frac = pos - i0;
    const a = pcm[Math.min(i0, pcm.length - 1)];
    out[i] = Math.round(a + (pcm[i1] - a) * frac);
  }
  return out;
}

/** View the bytes of an Int16Array (no copy). */
export function pcmToBuffer(pcm: Int16Array): Buffer {
  return Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength);
}

/**
 * Copy little-endian PCM16 bytes into a fresh Int16Array. Copying (rather than
 * viewing) avoids alignment errors when the bytes start at an odd offset, as
 * WebSocket message buffers often do. A trailing odd byte is dropped.
 */
export function bufferToPcm(bytes: Uint8Array): Int16Array {
  const n = bytes.byteLength >> 1;
  const out = new Int16Array(n);
  const view = new DataView(bytes.buffer, bytes.byteOffset, n * 2);
  for (let i = 0; i < n; i++) out[i] = view.getInt16(i * 2, true);
  return out;
}

/** Concatenate PCM chunks. */
export function concatPcm(chunks: readonly Int16Array[]): Int16Array {
  const total = chunks.reduce((n, c) => n + c.length, 0);
  const out = new Int16Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Little-endian float32 bytes of `pcm` scaled to [-1, 1] (Cartesia's pcm_f32le). */
export function pcmToF32leBuffer(pcm: Int16Array): Buffer {
  const out = Buffer.alloc(pcm.length * 4);
  for (let i = 0; i < pcm.length; i++) out.writeFloatLE(pcm[i] / INT16_SCALE, i * 4);
  return out;
}
