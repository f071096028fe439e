/**
 * The fake microphone's recording: synthesized caller lines with silence between them, as one WAV that Chromium
 * plays once from the moment the page opens the microphone. A file cannot wait for the agent, so the silence after
 * each line is sized to hold the agent's answer (`gapAfterMs`).
 */
import { writeFile } from 'node:fs/promises';
import wavefile from 'wavefile';
import { synthesize } from '../harness/espeak.js';

export interface CallerWavOptions {
  /** Silence before the first line (VAD wants to hear some before speech). Default 1000 ms. */
  leadSilenceMs?: number;
  /** Silence after line `i`: time for the agent to answer before the caller speaks again. */
  gapAfterMs: (line: { index: number; text: string; durationMs: number }) => number;
  /** Default 48000 Hz (Chromium's capture rate, so it does not resample). */
  sampleRate?: number;
}

export interface CallerWavLine {
  text: string;
  /** Offsets in the file (ms) of the first and last voiced sample of the line. */
  speechStartMs: number;
  speechEndMs: number;
}

export interface CallerWav {
  file: string;
  sampleRate: number;
  durationMs: number;
  lines: CallerWavLine[];
}

export async function writeCallerWav(file: string, texts: readonly string[], options: CallerWavOptions): Promise<CallerWav> {
  const sampleRate = options.sampleRate ?? 48_000;
  const samplesFor = (ms: number) => Math.round((ms / 1000) * sampleRate);
  const parts: Int16Array[] = [new Int16Array(samplesFor(options.leadSilenceMs ?? 1000))];
  let offset = parts[0].length;
  const lines: CallerWavLine[] = [];
  for (const [index, text] of texts.entries()) {
    const speech = await synthesize(text, { sampleRate });
    lines.push({
      text,
      speechStartMs: ((offset + speech.speechStartSeconds * sampleRate) / sampleRate) * 1000,
      speechEndMs: ((offset + speech.speechEndSeconds * sampleRate) / sampleRate) * 1000,
    });
    const gap = new Int16Array(samplesFor(options.gapAfterMs({ index, text, durationMs: speech.durationSeconds * 1000 })));
    parts.push(speech.pcm, gap);
    offset += speech.pcm.length + gap.length;
  }
  const pcm = new Int16Array(offset);
  let at = 0;
  for (const part of parts) {
    pcm.set(part, at);
    at += part.length;
  }
  const wav = new wavefile.WaveFile();
  wav.fromScratch(1, sampleRate, '16', pcm);
  await writeFile(file, wav.toBuffer());
  return { file, sampleRate, durationMs: (pcm.length / sampleRate) * 1000, lines };
}
