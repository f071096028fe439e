// Records both sides of a simulated call on one wall-clock timeline, so a test run can be
// listened to (and latencies eyeballed in an audio editor) as a single WAV.
import { writeFile } from 'node:fs/promises';
import wavefile from 'wavefile';
import { resampleLinear } from './pcm.js';

export type CallTrack = 'caller' | 'agent';

interface Piece {
  /** performance.now() ms at which the first sample sounds. */
  at: number;
  pcm: Int16Array;
  sampleRate: number;
}

export interface WavOptions {
  /** 'stereo' = caller left, agent right (default); 'mix' = both summed into mono. */
  layout?: 'stereo' | 'mix';
  /** Output rate. Default: the recorder's sampleRate. */
  sampleRate?: number;
}

export class CallRecorder {
  /** Timeline origin (performance.now() ms); sample 0 of the WAV. */
  readonly startedAt: number;
  readonly sampleRate: number;
  readonly #tracks: Record<CallTrack, Piece[]> = { caller: [], agent: [] };

  constructor(opts: { sampleRate?: number; startedAt?: number } = {}) {
    this.sampleRate = opts.sampleRate ?? 24000;
    this.startedAt = opts.startedAt ?? performance.now();
  }

  /** Place `pcm` (mono PCM16) on `track` starting at wall time `at` (performance.now() ms). */
  add(track: CallTrack, at: number, pcm: Int16Array, sampleRate: number): void {
    if (pcm.length === 0) return;
    this.#tracks[track].push({ at, pcm, sampleRate });
  }

  /** Seconds from the origin to the end of the last recorded sample. */
  get durationSeconds(): number {
    let end = 0;
    for (const pieces of Object.values(this.#tracks)) {
      for (const p of pieces) end = Math.max(end, (p.at - this.startedAt) / 1000 + p.pcm.length / p.sampleRate);
    }
    return end;
  }

  /** One track rendered to `sampleRate` (pieces summed where they overlap). */
  render(track: CallTrack, sampleRate = this.sampleRate, length?: number): Int16Array {
    const total = length ?? Math.ceil(this.durationSeconds * sampleRate);
    const acc = new Int32Array(total);
    for (const p of this.#tracks[track]) {
      const pcm = p.sampleRate === sampleRate ? p.pcm : resampleLinear(p.pcm, p.sampleRate, sampleRate);
      const offset = Math.round(((p.at - this.startedAt) / 1000) * sampleRate);
      for (let i = 0; i < pcm.length; i++) {
        const j = offset + i;
        if (j >= 0 && j < total) acc[j] += pcm[i];
      }
    }
    return clip(acc);
  }

  /** The whole call as a 16-bit WAV file. */
  toWav(opts: WavOptions = {}): Uint8Array {
    const rate = opts.sampleRate ?? this.sampleRate;
    const length = Math.ceil(this.durationSeconds * rate);
    const caller = this.render('caller', rate, length);
    const agent = this.render('agent', rate, length);
    const wav = new wavefile.WaveFile();
    if ((opts.layout ?? 'stereo') === 'stereo') {
      wav.fromScratch(2, rate, '16', [caller, agent]);
    } else {
      const mixed = new Int32Array(length);
      for (let i = 0; i < length; i++) mixed[i] = caller[i] + agent[i];
      wav.fromScratch(1, rate, '16', clip(mixed));
    }
    return wav.toBuffer();
  }

  async writeWav(path: string, opts: WavOptions = {}): Promise<void> {
    await writeFile(path, this.toWav(opts));
  }
}

function clip(acc: Int32Array): Int16Array {
  const out = new Int16Array(acc.length);
  for (let i = 0; i < acc.length; i++) out[i] = Math.max(-32768, Math.min(32767, acc[i]));
  return out;
}
