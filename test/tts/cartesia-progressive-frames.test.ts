// The Cartesia plugin's `progressiveFrames` option (patches/@livekit+agents-plugin-cartesia+1.8.1.patch, applied by
// `postinstall: patch-package`; docs/framework-patches.md), against the local Cartesia stand-in. Stock framing cuts
// 100 ms frames and holds each back until the next is complete, so the first frame waits for 200 ms of audio; the
// progressive framing starts at 20 ms, doubles up to 100 ms, and holds back only a 10 ms tail.
import { initializeLogger, tts as ttsNs } from '@livekit/agents';
import * as cartesia from '@livekit/agents-plugin-cartesia';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createTts } from '../../src/pipeline.js';
import { cartesiaPerTest } from '../support/cartesia-per-test.js';

const RATE = 24_000;
const TEXT = 'Sure thing, happy to help. Here is what I found.';

beforeAll(() => initializeLogger({ pretty: false, level: 'warn' }));

const cartesiaStandIn = cartesiaPerTest();

interface Spoken {
  frames: Array<{ samples: number; final: boolean; at: number }>;
  pcm: Int16Array;
  firstChunkAt: number;
}

/** Speaks TEXT through one stream; Cartesia generates in real time (40 ms chunks 40 ms apart), so framing shows. */
async function speak(progressiveFrames: boolean | undefined): Promise<Spoken> {
  return speakWith((url) => new cartesia.TTS({ apiKey: 'k', baseUrl: url, sampleRate: RATE, ...(progressiveFrames === undefined ? {} : { progressiveFrames }) }));
}

async function speakWith(createTtsFor: (cartesiaUrl: string) => ttsNs.TTS): Promise<Spoken> {
  const server = await cartesiaStandIn.start({ ttfbMs: 20, realTimeFactor: 1 });
  const stream = cartesiaStandIn.use(createTtsFor(server.url)).stream();
  stream.pushText(TEXT);
  stream.endInput();
  const frames: Spoken['frames'] = [];
  const chunks: Int16Array[] = [];
  for await (const ev of stream) {
    if (ev === ttsNs.SynthesizeStream.END_OF_STREAM) break;
    frames.push({ samples: ev.frame.samplesPerChannel, final: ev.final, at: performance.now() });
    chunks.push(ev.frame.data);
  }
  const pcm = new Int16Array(chunks.reduce((n, c) => n + c.length, 0));
  chunks.reduce((at, c) => (pcm.set(c, at), at + c.length), 0);
  return { frames, pcm, firstChunkAt: server.requests.at(-1)!.firstChunkAt! };
}

const ms = (samples: number) => (samples / RATE) * 1000;

describe('cartesia.TTS progressiveFrames (patched plugin option)', () => {
  it('releases the first audio after 20 ms of it, in 10 ms + growing frames, and loses nothing', async () => {
    const stock = await speak(undefined);
    const progressive = await speak(true);

    // Same audio, sample for sample.
    expect(progressive.pcm.length).toBe(stock.pcm.length);
    expect(Buffer.from(progressive.pcm.buffer).equals(Buffer.from(stock.pcm.buffer))).toBe(true);

    // Stock: 100 ms frames. Progressive: a 10 ms head, then the 10 ms tail with the next frame's head (30, 70, 90 ms).
    expect(stock.frames.slice(0, -1).every((f) => ms(f.samples) === 100)).toBe(true);
    expect(progressive.frames.slice(0, 6).map((f) => ms(f.samples))).toEqual([10, 10, 30, 10, 70, 10]);
    expect(Math.max(...progressive.frames.map((f) => ms(f.samples)))).toBeLessThanOrEqual(100);

    // Only the last frame is final, in both.
    for (const s of [stock, progressive]) {
      expect(s.frames.at(-1)!.final).toBe(true);
      expect(s.frames.slice(0, -1).some((f) => f.final)).toBe(false);
    }

    // In real time, stock's first frame needs ~200 ms of audio after the first chunk; progressive's comes with it.
    const stockWait = stock.frames[0]!.at - stock.firstChunkAt;
    const progressiveWait = progressive.frames[0]!.at - progressive.firstChunkAt;
    expect(stockWait).toBeGreaterThan(120);
    expect(progressiveWait).toBeLessThan(stockWait - 100);
  });

  it('the worker turns it on for Cartesia by default; CARTESIA_PROGRESSIVE_FRAMES=false keeps stock framing', async () => {
    const workerTts = (extra: Record<string, string>) => (url: string) =>
      createTts(
        loadConfig(
          { OPENAI_API_KEY: 'sk', DEEPGRAM_API_KEY: 'dg', CARTESIA_API_KEY: 'c', CARTESIA_BASE_URL: url, LETTA_BASE_URL: 'http://127.0.0.1:1', ...extra },
          { requireLiveKit: false },
        ),
      );
    const byDefault = await speakWith(workerTts({}));
    const off = await speakWith(workerTts({ CARTESIA_PROGRESSIVE_FRAMES: 'false' }));
    expect(ms(byDefault.frames[0]!.samples)).toBe(10);
    expect(ms(off.frames[0]!.samples)).toBe(100);
  });
});
