// Caller speech without system software: eSpeak-NG compiled to WebAssembly renders it in
// a worker thread and a band-limited resampler brings it to the rate each plugin wants.
import { describe, expect, it } from 'vitest';
import { clearSpeechCache, synthesize } from '../../simulation/harness/espeak.js';
import { EspeakWasm } from '../../simulation/harness/espeak-wasm.js';
import { resampleLinear, rms, speechBounds } from '../../simulation/harness/pcm.js';
import { resampleBandLimited } from '../../simulation/harness/resample.js';
import { parseStreamingWav } from '../../simulation/harness/wav.js';

const ESPEAK_RATE = 22050;

function tone(freq: number, rate: number, seconds: number, amplitude = 10_000): Int16Array {
  const pcm = new Int16Array(Math.round(rate * seconds));
  for (let i = 0; i < pcm.length; i++) pcm[i] = Math.round(amplitude * Math.sin((2 * Math.PI * freq * i) / rate));
  return pcm;
}

/** RMS of the middle half, away from the resampler's edge transients. */
function middleRms(pcm: Int16Array): number {
  return rms(pcm, Math.floor(pcm.length / 4), Math.floor((3 * pcm.length) / 4));
}

/** Amplitude of the `freq` component (Goertzel over the middle half), normalised like rms(). */
function componentRms(pcm: Int16Array, rate: number, freq: number): number {
  const from = Math.floor(pcm.length / 4);
  const to = Math.floor((3 * pcm.length) / 4);
  const w = (2 * Math.PI * freq) / rate;
  let re = 0;
  let im = 0;
  for (let i = from; i < to; i++) {
    re += (pcm[i] / 32768) * Math.cos(w * i);
    im -= (pcm[i] / 32768) * Math.sin(w * i);
  }
  return (Math.sqrt(re * re + im * im) * Math.SQRT2) / (to - from);
}

/** Windowed-sinc high-pass (Hamming, 255 taps): keeps only what lies above `cutoffHz`. */
function highPass(pcm: Int16Array, rate: number, cutoffHz: number): Int16Array {
  const taps = 255;
  const mid = (taps - 1) / 2;
  const fc = cutoffHz / rate;
  const h = Array.from({ length: taps }, (_, n) => {
    const x = n - mid;
    const lowPass = x === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * x) / (Math.PI * x);
    const window = 0.54 - 0.46 * Math.cos((2 * Math.PI * n) / (taps - 1));
    return (x === 0 ? 1 : 0) - lowPass * window;
  });
  const out = new Int16Array(pcm.length);
  for (let i = 0; i < pcm.length; i++) {
    let acc = 0;
    for (let k = 0; k < taps; k++) {
      const j = i - k + mid;
      if (j >= 0 && j < pcm.length) acc += h[k] * pcm[j];
    }
    out[i] = Math.round(acc);
  }
  return out;
}

describe('resampleBandLimited', () => {
  it('keeps the length and the level of in-band audio at every rate the harness uses', () => {
    const input = tone(1000, ESPEAK_RATE, 2);
    for (const rate of [8000, 16000, 24000, 48000]) {
      const out = resampleBandLimited(input, ESPEAK_RATE, rate);
      expect(Math.abs(out.length - 2 * rate)).toBeLessThanOrEqual(1);
      expect(middleRms(out) / middleRms(input)).toBeCloseTo(1, 1);
      expect(componentRms(out, rate, 1000) / middleRms(input)).toBeGreaterThan(0.95);
    }
  });

  it('removes a tone above the new Nyquist instead of folding it back (linear interpolation folds it)', () => {
    // 10 kHz at 22050 Hz -> 16000 Hz: Nyquist 8 kHz, so a 10 kHz tone would alias to 6 kHz.
    const input = tone(10_000, ESPEAK_RATE, 2);
    const filtered = resampleBandLimited(input, ESPEAK_RATE, 16_000);
    const linear = resampleLinear(input, ESPEAK_RATE, 16_000);
    expect(componentRms(linear, 16_000, 6000) / middleRms(input)).toBeGreaterThan(0.1); // the test can tell
    expect(middleRms(filtered) / middleRms(input)).toBeLessThan(0.01); // below -40 dB
  });

  it('leaves no images above the old Nyquist when upsampling', () => {
    // 5 kHz at 22050 Hz -> 48000 Hz: the first image would sit at 22050 - 5000 = 17050 Hz.
    const input = tone(5000, ESPEAK_RATE, 2);
    const filtered = resampleBandLimited(input, ESPEAK_RATE, 48_000);
    const linear = resampleLinear(input, ESPEAK_RATE, 48_000);
    const image = (pcm: Int16Array) => componentRms(pcm, 48_000, 17_050) / middleRms(input);
    expect(image(linear)).toBeGreaterThan(0.01);
    expect(image(filtered)).toBeLessThan(0.001);
    expect(componentRms(filtered, 48_000, 5000) / middleRms(input)).toBeGreaterThan(0.9);
  });

  it('clamps overshoot at full scale instead of wrapping around', () => {
    const square = new Int16Array(ESPEAK_RATE);
    for (let i = 0; i < square.length; i++) square[i] = Math.floor(i / 55) % 2 === 0 ? 32767 : -32768;
    const out = resampleBandLimited(square, ESPEAK_RATE, 24_000);
    // Samples in the middle of each positive half-period stay positive (a wrap would flip them).
    const halfPeriod = (55 * 24_000) / ESPEAK_RATE;
    for (let k = 4; k < 200; k += 2) expect(out[Math.round((k + 0.5) * halfPeriod)]).toBeGreaterThan(16_000);
  });

  it('returns a copy for equal rates and rejects nonsense rates', () => {
    const input = tone(440, 16_000, 0.1);
    const out = resampleBandLimited(input, 16_000, 16_000);
    expect(out).not.toBe(input);
    expect(out).toEqual(input);
    expect(() => resampleBandLimited(input, 0, 16_000)).toThrow(/invalid sample rates/);
  });
});

describe('EspeakWasm', () => {
  it('renders mono PCM16 WAV at 22050 Hz and never reads the text as options', async () => {
    const engine = await EspeakWasm.load();
    const help = parseStreamingWav(engine.render('--help -w /etc/passwd', 'en-us', 175));
    expect(help.sampleRate).toBe(ESPEAK_RATE);
    const bounds = speechBounds(help.pcm, ESPEAK_RATE);
    expect(bounds).not.toBeNull();
    // Spoken: "dash dash help dash w slash etc slash passwd" takes well over a second.
    expect((bounds!.end - bounds!.start) / ESPEAK_RATE).toBeGreaterThan(1);
    expect(() => engine.render('hi', '--stdout', 175)).toThrow(/invalid espeak-ng voice name/);
    expect(() => engine.render('hi', 'xx-no-such-voice', 175)).toThrow(/voice does not exist/);
    expect(() => engine.render('hi', 'en-us', 5000)).toThrow(/wordsPerMinute/);
  });

  it('starts every run from the pristine program state, whatever ran before', async () => {
    const engine = await EspeakWasm.load();
    const first = engine.render('Hello there.', 'en-us', 175);
    engine.render('Something else entirely, said faster.', 'en-gb', 300);
    expect(() => engine.render('hi', 'xx-no-such-voice', 175)).toThrow();
    const again = engine.render('Hello there.', 'en-us', 175);
    expect(Buffer.from(again).equals(Buffer.from(first))).toBe(true);
    // Options are honoured on every run, not only the first (getopt state is reset).
    const slow = parseStreamingWav(engine.render('Hello there.', 'en-us', 100)).pcm.length;
    expect(slow / parseStreamingWav(first).pcm.length).toBeGreaterThan(1.3);
  });
});

describe('synthesize', () => {
  const SHORT = 'Hello there.';
  const LONG = 'Hello there. I would like to book a table for four people tomorrow evening at eight, near the window.';

  it('returns speech at the requested rate with a voiced region between near-silent padding', async () => {
    for (const sampleRate of [16_000, 24_000, 48_000]) {
      const a = await synthesize(SHORT, { sampleRate });
      expect(a.sampleRate).toBe(sampleRate);
      expect(a.durationSeconds).toBeCloseTo(a.pcm.length / sampleRate, 6);
      expect(a.speechStartSeconds).toBeLessThan(0.2);
      expect(a.speechEndSeconds - a.speechStartSeconds).toBeGreaterThan(0.4);
      expect(a.speechEndSeconds).toBeLessThanOrEqual(a.durationSeconds);
      const start = Math.round(a.speechStartSeconds * sampleRate);
      const end = Math.round(a.speechEndSeconds * sampleRate);
      expect(rms(a.pcm, start, end)).toBeGreaterThan(0.03);
      expect(rms(a.pcm, end)).toBeLessThan(0.01);
    }
    const at16 = await synthesize(SHORT, { sampleRate: 16_000 });
    const at48 = await synthesize(SHORT, { sampleRate: 48_000 });
    expect(Math.abs(at16.speechEndSeconds - at48.speechEndSeconds)).toBeLessThan(0.03);
  });

  it('takes longer for longer text and less at a faster speaking rate', async () => {
    const voiced = (a: { speechStartSeconds: number; speechEndSeconds: number }) => a.speechEndSeconds - a.speechStartSeconds;
    const short = voiced(await synthesize(SHORT));
    const long = voiced(await synthesize(LONG));
    const words = LONG.split(' ').length / SHORT.split(' ').length; // 9x the words
    expect(long / short).toBeGreaterThan(words / 3);
    expect(long / short).toBeLessThan(words * 1.5);
    const fast = voiced(await synthesize(LONG, { wordsPerMinute: 350 }));
    expect(long / fast).toBeGreaterThan(1.5);
    expect(long / fast).toBeLessThan(2.5);
  });

  it('drops content above the new Nyquist when going down to 8 kHz', async () => {
    // espeak's fricatives put real energy between 5 and 11 kHz; at 8 kHz all of it must go.
    const engine = await EspeakWasm.load();
    const original = parseStreamingWav(engine.render('Sister Sue sells sea shells by the sea shore.', 'en-us', 175)).pcm;
    const high = highPass(original, ESPEAK_RATE, 5000);
    expect(rms(high) / rms(original)).toBeGreaterThan(0.05);
    expect(rms(resampleLinear(high, ESPEAK_RATE, 8000)) / rms(high)).toBeGreaterThan(0.1);
    expect(rms(resampleBandLimited(high, ESPEAK_RATE, 8000)) / rms(high)).toBeLessThan(0.01);
  });

  it('caches per text and options, returning the same object until the cache is cleared', async () => {
    const first = await synthesize(SHORT, { sampleRate: 16_000 });
    const concurrent = await Promise.all([synthesize(SHORT, { sampleRate: 16_000 }), synthesize(SHORT, { sampleRate: 16_000 })]);
    expect(concurrent[0]).toBe(first);
    expect(concurrent[1]).toBe(first);
    expect(await synthesize(SHORT, { sampleRate: 16_000, wordsPerMinute: 200 })).not.toBe(first);
    clearSpeechCache();
    const again = await synthesize(SHORT, { sampleRate: 16_000 });
    expect(again).not.toBe(first);
    expect(again.pcm).toEqual(first.pcm); // espeak is deterministic
  });

  it('reports failures with espeak-ng\'s reason and does not cache them', async () => {
    await expect(synthesize(SHORT, { voice: 'xx-no-such-voice' })).rejects.toThrow(/speech synthesis failed: .*voice does not exist/);
    await expect(synthesize(SHORT, { voice: '-w' })).rejects.toThrow(/invalid espeak-ng voice name/);
    const ok = await synthesize(SHORT, { voice: 'en-gb' });
    expect(ok.speechEndSeconds).toBeGreaterThan(ok.speechStartSeconds);
  });

  it('keeps the event loop free while rendering (work runs in a worker thread)', async () => {
    clearSpeechCache();
    await synthesize(SHORT); // worker started and warm
    let last = performance.now();
    let worstGapMs = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      worstGapMs = Math.max(worstGapMs, now - last);
      last = now;
    }, 5);
    const started = performance.now();
    await synthesize(`${LONG} ${LONG} ${LONG}`, { sampleRate: 48_000 });
    const tookMs = performance.now() - started;
    clearInterval(timer);
    // Rendering ~18 s of speech and resampling it takes far longer than one timer gap.
    expect(tookMs).toBeGreaterThan(150);
    expect(worstGapMs).toBeLessThan(tookMs / 2);
  });
});
