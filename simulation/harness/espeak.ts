// Real (robotic but intelligible) speech for tests, from the espeak-ng CLI.
// Both the simulated caller and the fake Cartesia server use it, so every audio
// path in the harness carries actual speech that VAD and energy detectors react to.
import { spawn, spawnSync } from 'node:child_process';
import { bufferToPcm, resampleLinear, speechBounds } from './pcm.js';

export interface SpeakOptions {
  /** espeak-ng voice name (`espeak-ng --voices`). Default 'en-us'. */
  voice?: string;
  /** Output sample rate in Hz. Default 24000. */
  sampleRate?: number;
  /** Speaking rate in words per minute (espeak `-s`). Default 175 (espeak's own default). */
  wordsPerMinute?: number;
}

export interface SpeechAudio {
  text: string;
  /** Mono PCM16 at `sampleRate`. Shared with the cache: treat as read-only. */
  pcm: Int16Array;
  sampleRate: number;
  durationSeconds: number;
  /** Where the voiced part starts/ends inside `pcm`, in seconds (espeak pads with silence). */
  speechStartSeconds: number;
  speechEndSeconds: number;
}

export class EspeakMissingError extends Error {
  constructor(cause?: unknown) {
    super(
      'espeak-ng is not installed or not on PATH; the voice harness needs it to synthesise speech ' +
        '(Debian: `apt-get install -y espeak-ng sox`)',
      { cause },
    );
    this.name = 'EspeakMissingError';
  }
}

let espeakChecked: boolean | undefined;
let soxChecked: boolean | undefined;

function commandWorks(cmd: string, args: string[]): boolean {
  const res = spawnSync(cmd, args, { stdio: 'ignore' });
  return !res.error && res.status === 0;
}

/** True when `espeak-ng` can be run. Checked once per process. */
export function espeakAvailable(): boolean {
  espeakChecked ??= commandWorks('espeak-ng', ['--version']);
  return espeakChecked;
}

/** True when `sox` can be run (used for band-limited resampling). Checked once. */
export function soxAvailable(): boolean {
  soxChecked ??= commandWorks('sox', ['--version']);
  return soxChecked;
}

/** Run a command with `input` on stdin and collect stdout. */
function runPipe(cmd: string, args: string[], input: Buffer | string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out));
      else reject(new Error(`${cmd} exited with ${code}: ${Buffer.concat(err).toString().trim()}`));
    });
    child.stdin.on('error', () => {
      // The child may exit before reading all input; the close handler reports it.
    });
    child.stdin.end(input);
  });
}

/**
 * Parse espeak's WAV. `--stdout` writes a streaming header whose RIFF/data sizes are
 * placeholders (0x7ffff...), so the chunk walk trusts sizes only for chunks before
 * `data` and takes everything after the data header as samples.
 */
export function parseStreamingWav(wav: Buffer): { pcm: Int16Array; sampleRate: number } {
  if (wav.length < 12 || wav.toString('ascii', 0, 4) !== 'RIFF' || wav.toString('ascii', 8, 12) !== 'WAVE') {
    throw new Error('not a RIFF/WAVE stream');
  }
  let pos = 12;
  let sampleRate = 0;
  let channels = 0;
  let bits = 0;
  while (pos + 8 <= wav.length) {
    const id = wav.toString('ascii', pos, pos + 4);
    const size = wav.readUInt32LE(pos + 4);
    const body = pos + 8;
    if (id === 'fmt ') {
      const format = wav.readUInt16LE(body);
      channels = wav.readUInt16LE(body + 2);
      sampleRate = wav.readUInt32LE(body + 4);
      bits = wav.readUInt16LE(body + 14);
      if (format !== 1 || bits !== 16 || channels !== 1) {
        throw new Error(`unsupported WAV format ${format}, ${bits} bit, ${channels} channel(s)`);
      }
    } else if (id === 'data') {
      if (!sampleRate) throw new Error('WAV data before fmt chunk');
      const end = size > 0 && body + size <= wav.length ? body + size : wav.length;
      return { pcm: bufferToPcm(wav.subarray(body, end)), sampleRate };
    }
    pos = body + size + (size & 1);
  }
  throw new Error('WAV has no data chunk');
}

/** Resample with sox when present (filtered, cleaner for VAD), else linearly. */
export async function resample(pcm: Int16Array, fromRate: number, toRate: number): Promise<Int16Array> {
  if (fromRate === toRate) return pcm;
  if (!soxAvailable()) return resampleLinear(pcm, fromRate, toRate);
  const raw = ['-t', 'raw', '-e', 'signed-integer', '-b', '16', '-c', '1', '-L'];
  const out = await runPipe(
    'sox',
    [...raw, '-r', String(fromRate), '-', ...raw, '-r', String(toRate), '-'],
    Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength),
  );
  return bufferToPcm(out);
}

const cache = new Map<string, Promise<SpeechAudio>>();

async function synthesizeUncached(text: string, voice: string, sampleRate: number, wpm: number): Promise<SpeechAudio> {
  if (!espeakAvailable()) throw new EspeakMissingError();
  // Text goes through stdin so nothing in it can be read as a CLI option.
  const wav = await runPipe('espeak-ng', ['--stdout', '-b', '1', '-v', voice, '-s', String(wpm), '--stdin'], text);
  const parsed = parseStreamingWav(wav);
  const pcm = await resample(parsed.pcm, parsed.sampleRate, sampleRate);
  const bounds = speechBounds(pcm, sampleRate);
  return {
    text,
    pcm,
    sampleRate,
    durationSeconds: pcm.length / sampleRate,
    speechStartSeconds: bounds ? bounds.start / sampleRate : 0,
    speechEndSeconds: bounds ? bounds.end / sampleRate : 0,
  };
}

/**
 * Speak `text` with espeak-ng and return mono PCM16 at the requested rate.
 * Results are cached in memory by (text, voice, rate, wpm); concurrent calls share
 * one espeak process.
 */
export function synthesize(text: string, opts: SpeakOptions = {}): Promise<SpeechAudio> {
  const voice = opts.voice ?? 'en-us';
  const sampleRate = opts.sampleRate ?? 24000;
  const wpm = opts.wordsPerMinute ?? 175;
  const key = JSON.stringify([text, voice, sampleRate, wpm]);
  let entry = cache.get(key);
  if (!entry) {
    entry = synthesizeUncached(text, voice, sampleRate, wpm);
    cache.set(key, entry);
    // A failure must not poison the cache (e.g. espeak installed later in the run).
    entry.catch(() => cache.delete(key));
  }
  return entry;
}

/** Drop all cached audio (tests of the cache itself, or to free memory). */
export function clearSpeechCache(): void {
  cache.clear();
}
