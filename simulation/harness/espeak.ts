// Real (robotic but intelligible) speech for tests, demo and benchmarks, from eSpeak-NG
// compiled to WebAssembly (the `espeak-ng` npm package): nothing to install beyond npm.
// Both the simulated caller and the Cartesia stand-in use it, so every audio path in the
// harness carries actual speech that VAD and energy detectors react to. Rendering and
// band-limited resampling run in a worker thread (speech-worker.ts) so they never stall
// the real-time audio on the main thread.
import { speechBounds } from './pcm.js';
import { SpeechSynthesizer } from './speech-synthesizer.js';

export { parseStreamingWav } from './wav.js';

export interface SpeakOptions {
  /** espeak-ng voice name (e.g. 'en-us', 'en-gb', 'de', 'en-us+f3'). Default 'en-us'. */
  voice?: string;
  /** Output sample rate in Hz. Default 24000. */
  sampleRate?: number;
  /** Speaking rate in words per minute (espeak `-s`, 80-450). Default 175 (espeak's own default). */
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

const synthesizer = new SpeechSynthesizer();
const cache = new Map<string, Promise<SpeechAudio>>();

async function synthesizeUncached(text: string, voice: string, sampleRate: number, wordsPerMinute: number): Promise<SpeechAudio> {
  const pcm = await synthesizer.render({ text, voice, sampleRate, wordsPerMinute });
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
 * Speak `text` with espeak-ng and return mono PCM16 at the requested rate. The text is
 * only ever spoken, never read as an espeak option. Results are cached in memory by
 * (text, voice, rate, wpm); concurrent calls for the same key share one synthesis.
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
    // A failure (bad voice name, worker crash) must not poison the cache.
    entry.catch(() => cache.delete(key));
  }
  return entry;
}

/** Drop all cached audio (tests of the cache itself, or to free memory). */
export function clearSpeechCache(): void {
  cache.clear();
}
