// DEEPGRAM_AUDIO_CHUNK_MS: the worker's Deepgram plugin sends audio in 20 ms chunks (patched plugin option,
// patches/@livekit+agents-plugin-deepgram+1.8.1.patch; the plugin's own chunks are 100 ms), so the end of an
// utterance and the silence that ends it reach Deepgram sooner. Against the local Deepgram stand-in.
import { initializeLogger, stt as sttNs } from '@livekit/agents';
import * as deepgram from '@livekit/agents-plugin-deepgram';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { synthesize } from '../../simulation/harness/espeak.js';
import { pcmToFrames, silenceFrames } from '../../simulation/harness/frames.js';
import { DeepgramServer } from '../../simulation/stand-ins/deepgram-server.js';
import { loadConfig } from '../../src/config.js';
import { createStt } from '../../src/pipeline.js';

const RATE = 16_000;
const LINE = 'What is the weather like today';

beforeAll(() => initializeLogger({ pretty: false, level: 'warn' }));

let server: DeepgramServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** Says LINE through the given STT, then silence; returns the final transcript and the stand-in's connection record. */
async function transcribe(createFor: (url: string) => deepgram.STT) {
  server = await DeepgramServer.start();
  const audio = await synthesize(LINE, { sampleRate: RATE });
  server.expectUtterance(LINE, { durationSeconds: audio.speechEndSeconds - audio.speechStartSeconds });
  const stt = createFor(server.url);
  const stream = stt.stream();
  for (const frame of [...pcmToFrames(audio.pcm, RATE, 10), ...silenceFrames(600, RATE, 10)]) stream.pushFrame(frame);
  let final = '';
  for await (const ev of stream) {
    if (ev.type === sttNs.SpeechEventType.FINAL_TRANSCRIPT) final += ev.alternatives?.[0]?.text ?? '';
    if (ev.type === sttNs.SpeechEventType.END_OF_SPEECH) break;
  }
  stream.close();
  await stt.close();
  return { final, connection: server.connections[0]! };
}

const env = (url: string, extra: Record<string, string> = {}) =>
  loadConfig({ OPENAI_API_KEY: 'sk', DEEPGRAM_API_KEY: 'dg', DEEPGRAM_BASE_URL: url, LETTA_BASE_URL: 'http://127.0.0.1:1', ...extra }, { requireLiveKit: false });

describe('Deepgram audio chunk size', () => {
  it('the worker sends 20 ms chunks by default, the stock plugin 100 ms; the transcript is the same', async () => {
    const worker = await transcribe((url) => createStt(env(url)));
    const stock = await transcribe((url) => new deepgram.STT({ apiKey: 'dg', baseUrl: url }));
    expect(worker.final).toBe(LINE);
    expect(stock.final).toBe(LINE);
    const chunkMs = (c: { audioSeconds: number; audioMessages: number }) => (1000 * c.audioSeconds) / c.audioMessages;
    expect(chunkMs(worker.connection)).toBeGreaterThan(18);
    expect(chunkMs(worker.connection)).toBeLessThanOrEqual(20.5);
    expect(chunkMs(stock.connection)).toBeGreaterThan(90);
    expect(chunkMs(stock.connection)).toBeLessThanOrEqual(100.5);
  });

  it('DEEPGRAM_AUDIO_CHUNK_MS sets it, within 10-250 ms', async () => {
    const fifty = await transcribe((url) => createStt(env(url, { DEEPGRAM_AUDIO_CHUNK_MS: '50' })));
    expect((1000 * fifty.connection.audioSeconds) / fifty.connection.audioMessages).toBeGreaterThan(45);
    expect(() => env('ws://127.0.0.1:1', { DEEPGRAM_AUDIO_CHUNK_MS: '5' })).toThrow(/DEEPGRAM_AUDIO_CHUNK_MS/);
    expect(() => env('ws://127.0.0.1:1', { DEEPGRAM_AUDIO_CHUNK_MS: '1000' })).toThrow(/DEEPGRAM_AUDIO_CHUNK_MS/);
  });
});
