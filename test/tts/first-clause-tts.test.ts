// The first-clause wrapper in front of the REAL Cartesia plugin, against the local Cartesia stand-in.
import { initializeLogger, tts as ttsNs } from '@livekit/agents';
import * as cartesia from '@livekit/agents-plugin-cartesia';
import { beforeAll, describe, expect, it } from 'vitest';
import { FirstClauseTTS, withFirstClauseFlush } from '../../src/tts/first-clause-tts.js';
import { cartesiaPerTest } from '../support/cartesia-per-test.js';

const RATE = 24000;
const REPLY = 'Sure thing, happy to help. Here is what I found.';

beforeAll(() => initializeLogger({ pretty: false, level: 'warn' }));

const cartesiaStandIn = cartesiaPerTest();

/** Pushes LLM-like tokens 40 ms apart; returns when each was pushed. */
async function pushTokens(stream: ttsNs.SynthesizeStream, text: string): Promise<number[]> {
  const at: number[] = [];
  for (const token of text.match(/\s*\S+/g) ?? []) {
    stream.pushText(token);
    at.push(performance.now());
    await new Promise((resolve) => setTimeout(resolve, 40));
  }
  stream.endInput();
  return at;
}

async function drain(stream: ttsNs.SynthesizeStream): Promise<number> {
  let samples = 0;
  for await (const ev of stream) {
    if (ev === ttsNs.SynthesizeStream.END_OF_STREAM) break;
    samples += ev.frame.samplesPerChannel;
  }
  return samples;
}

async function speak(
  wrap: boolean,
): Promise<{ tts: ttsNs.TTS; transcripts: Array<{ text: string; receivedAt: number }>; pushedAt: number[]; samples: number }> {
  const server = await cartesiaStandIn.start({ ttfbMs: 20 });
  const plugin = new cartesia.TTS({ apiKey: 'k', baseUrl: server.url, sampleRate: RATE });
  const tts = cartesiaStandIn.use(wrap ? withFirstClauseFlush(plugin) : plugin);
  const stream = tts.stream();
  const [pushedAt, samples] = await Promise.all([pushTokens(stream, REPLY), drain(stream)]);
  const record = server.requests.at(-1)!;
  return { tts, transcripts: record.transcripts.map((t) => ({ text: t.text, receivedAt: t.receivedAt })), pushedAt, samples };
}

describe('withFirstClauseFlush(cartesia.TTS)', () => {
  it('sends the first clause on the token that completes it, the rest in whole sentences, in one context', async () => {
    const { tts, transcripts, pushedAt, samples } = await speak(true);
    expect(tts).toBeInstanceOf(FirstClauseTTS);
    expect(transcripts.map((t) => t.text.trim()).filter(Boolean)).toEqual(['Sure thing,', 'happy to help.', 'Here is what I found.']);
    // "Sure thing," left right after the 2nd token, before the 3rd was even pushed.
    expect(transcripts[0]!.receivedAt).toBeGreaterThanOrEqual(pushedAt[1]!);
    expect(transcripts[0]!.receivedAt).toBeLessThan(pushedAt[2]!);
    expect(samples).toBeGreaterThan(RATE); // the whole reply was spoken (espeak: well over a second)
  });

  it('without it, the plugin waits for the whole first sentence and the start of the next', async () => {
    const { transcripts, pushedAt } = await speak(false);
    expect(transcripts[0]!.text.trim()).toBe('Sure thing, happy to help.');
    expect(transcripts[0]!.receivedAt).toBeGreaterThanOrEqual(pushedAt[5]!); // " Here" was the 6th token
  });

  it('speaks the same audio as the plugin alone', async () => {
    const wrapped = await speak(true);
    const plain = await speak(false);
    // Same words, split differently: espeak renders each piece separately, so allow a small difference.
    expect(Math.abs(wrapped.samples - plain.samples) / plain.samples).toBeLessThan(0.15);
  });
});
