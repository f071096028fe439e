// Drives the local Cartesia stand-in with the REAL @livekit/agents-plugin-cartesia.
import { initializeLogger, tts as ttsNs } from '@livekit/agents';
import * as cartesia from '@livekit/agents-plugin-cartesia';
import { beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { synthesize } from '../../simulation/harness/espeak.js';
import { makeSelfSignedCert, trustInGlobalHttpsAgent } from '../../simulation/harness/tls.js';
import { cartesiaPerTest } from '../support/cartesia-per-test.js';

const RATE = 24000;

beforeAll(() => {
  initializeLogger({ pretty: false, level: 'warn' });
});

const cartesiaStandIn = cartesiaPerTest();

interface Collected {
  samples: number;
  firstFrameAt?: number;
  lastFrameAt?: number;
  finals: number;
  words: string[];
}

async function collectStream(stream: AsyncIterable<ttsNs.SynthesizedAudio | typeof ttsNs.SynthesizeStream.END_OF_STREAM>): Promise<Collected> {
  const out: Collected = { samples: 0, finals: 0, words: [] };
  for await (const ev of stream) {
    if (ev === ttsNs.SynthesizeStream.END_OF_STREAM) break;
    const now = performance.now();
    out.firstFrameAt ??= now;
    out.lastFrameAt = now;
    out.samples += ev.frame.samplesPerChannel;
    expect(ev.frame.sampleRate).toBe(RATE);
    if (ev.final) out.finals++;
    for (const t of ev.timedTranscripts ?? []) out.words.push(t.text.trim());
  }
  return out;
}

/** Samples the server must have produced: espeak audio of each transcript part it received. */
async function expectedSamples(texts: string[]): Promise<number> {
  let n = 0;
  for (const t of texts) if (t.trim()) n += (await synthesize(t, { sampleRate: RATE })).pcm.length;
  return n;
}

describe('CartesiaServer with the real cartesia plugin', () => {
  it('stream() returns espeak speech for the text after the configured TTFB, with word timestamps', async () => {
    const ttfbMs = 300;
    const server = await cartesiaStandIn.start({ ttfbMs });
    const tts = cartesiaStandIn.use(new cartesia.TTS({ apiKey: 'test-key', baseUrl: server.url, sampleRate: RATE, voice: 'voice-a' }));
    const text = 'Sure, I can help you with that booking tonight.';
    await synthesize(text + ' ', { sampleRate: RATE }); // warm the cache so TTFB is the configured one
    const stream = tts.stream();
    const pushedAt = performance.now();
    stream.pushText(text);
    stream.endInput();
    const got = await collectStream(stream);
    stream.close();

    const record = server.requests[0];
    expect(record.kind).toBe('websocket');
    expect(record.text.trim()).toBe(text);
    expect(record.modelId).toBe('sonic-3');
    expect(record.sampleRate).toBe(RATE);
    expect(record.addTimestamps).toBe(true);
    expect(record.transcripts.at(-1)?.text).toBe(' '); // the plugin's continue:false closer
    expect(server.connections[0].apiKey).toBe('test-key');
    expect(server.connections[0].version).toBe('2025-04-16');

    // Every sample the server generated reached the plugin's output.
    expect(got.samples).toBe(await expectedSamples(record.transcripts.map((t) => t.text)));
    expect(got.samples / RATE).toBeGreaterThan(1.5);
    expect(got.finals).toBe(1);

    // TTFB: server side exactly, client side at least.
    const first = record.transcripts[0];
    expect((first.firstChunkAt ?? 0) - first.receivedAt).toBeGreaterThanOrEqual(ttfbMs - 5);
    expect((got.firstFrameAt ?? 0) - pushedAt).toBeGreaterThanOrEqual(ttfbMs - 5);
    expect(got.words.join(' ')).toBe(text);
  });

  it('paces chunks at realTimeFactor of the audio duration', async () => {
    const server = await cartesiaStandIn.start({ realTimeFactor: 0.5 });
    const tts = cartesiaStandIn.use(new cartesia.TTS({ apiKey: 'k', baseUrl: server.url, sampleRate: RATE }));
    const text = 'This sentence is long enough to measure how fast the audio arrives here.';
    await synthesize(text + ' ', { sampleRate: RATE });
    const stream = tts.stream();
    stream.pushText(text);
    stream.endInput();
    const got = await collectStream(stream);
    stream.close();
    const audioMs = (got.samples / RATE) * 1000;
    const record = server.requests[0];
    const spanMs = (record.transcripts[0].lastChunkAt ?? 0) - (record.transcripts[0].firstChunkAt ?? 0);
    // Paced at half real time, minus one chunk; generous bounds for a busy machine.
    expect(spanMs / audioMs).toBeGreaterThan(0.4);
    expect(spanMs / audioMs).toBeLessThan(0.95);
  });

  it('serves several generations over the pooled socket, as fast as possible by default', async () => {
    const server = await cartesiaStandIn.start();
    const tts = cartesiaStandIn.use(new cartesia.TTS({ apiKey: 'k', baseUrl: server.url, sampleRate: RATE }));
    for (const text of ['First reply.', 'Second reply, a little longer.']) {
      const stream = tts.stream();
      stream.pushText(text);
      stream.endInput();
      const got = await collectStream(stream);
      stream.close();
      expect(got.samples).toBeGreaterThan(0.5 * RATE);
    }
    expect(server.requests).toHaveLength(2);
    expect(new Set(server.requests.map((r) => r.contextId)).size).toBe(2);
    expect(server.connections).toHaveLength(1);
    expect(server.requests.every((r) => r.doneAt !== undefined)).toBe(true);
  });

  it('synthesize() streams /tts/bytes over TLS', async () => {
    const tls = makeSelfSignedCert();
    const untrust = trustInGlobalHttpsAgent(tls.cert);
    try {
      const server = await cartesiaStandIn.start({ tls, ttfbMs: 100 });
      const tts = cartesiaStandIn.use(new cartesia.TTS({ apiKey: 'k', baseUrl: server.url, sampleRate: RATE }));
      const text = 'Your table is booked.';
      const expected = (await synthesize(text, { sampleRate: RATE })).pcm.length;
      let samples = 0;
      for await (const ev of tts.synthesize(text)) samples += ev.frame.samplesPerChannel;
      expect(samples).toBe(expected);
      expect(server.requests[0].kind).toBe('bytes');
      expect(server.requests[0].doneAt).toBeDefined();
    } finally {
      untrust();
    }
  });
});

describe('CartesiaServer wire protocol', () => {
  async function open(url: string, headers: Record<string, string> = { 'X-API-Key': 'k', 'Cartesia-Version': '2025-04-16' }) {
    const ws = new WebSocket(url, { headers });
    const messages: Array<Record<string, unknown>> = [];
    ws.on('message', (d) => messages.push(JSON.parse(d.toString()) as Record<string, unknown>));
    await new Promise((r, j) => {
      ws.once('open', r);
      ws.once('error', j);
    });
    return { ws, messages };
  }

  const base = {
    model_id: 'sonic-3',
    voice: { mode: 'id', id: 'x' },
    output_format: { container: 'raw', encoding: 'pcm_s16le', sample_rate: 16000 },
    language: 'en',
  };

  const until = async (cond: () => boolean, ms = 5000) => {
    const end = performance.now() + ms;
    while (!cond()) {
      if (performance.now() > end) throw new Error('condition not met');
      await new Promise((r) => setTimeout(r, 10));
    }
  };

  it('rejects a socket without an API key (401)', async () => {
    const server = await cartesiaStandIn.start();
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`${server.url.replace('http', 'ws')}/tts/websocket`, { headers: { 'Cartesia-Version': '2025-04-16' } });
      ws.on('unexpected-response', (_q, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => resolve(101));
      ws.on('error', () => undefined);
    });
    expect(status).toBe(401);
  });

  it('accepts query credentials, answers flush with flush_done, errors on bad format, stops on cancel', async () => {
    const server = await cartesiaStandIn.start({ realTimeFactor: 1 });
    const { ws, messages } = await open(`${server.url.replace('http', 'ws')}/tts/websocket?api_key=k&cartesia_version=2025-04-16`, {});
    ws.send(JSON.stringify({ ...base, context_id: 'a', transcript: 'Hello.', continue: true, flush: true }));
    await until(() => messages.some((m) => m.type === 'flush_done'));
    ws.send(JSON.stringify({ ...base, context_id: 'a', transcript: '', continue: false }));
    await until(() => messages.some((m) => m.type === 'done' && m.context_id === 'a'));

    ws.send(JSON.stringify({ ...base, output_format: { container: 'mp3' }, context_id: 'b', transcript: 'x' }));
    await until(() => messages.some((m) => m.type === 'error' && m.context_id === 'b'));
    expect(messages.find((m) => m.type === 'error')?.status_code).toBe(400);

    ws.send(JSON.stringify({ ...base, context_id: 'c', transcript: 'This one will be cancelled after the first chunk arrives.' }));
    await until(() => messages.some((m) => m.type === 'chunk' && m.context_id === 'c'));
    ws.send(JSON.stringify({ context_id: 'c', cancel: true }));
    await new Promise((r) => setTimeout(r, 300));
    const count = messages.filter((m) => m.context_id === 'c').length;
    await new Promise((r) => setTimeout(r, 300));
    expect(messages.filter((m) => m.context_id === 'c').length).toBe(count);
    expect(messages.some((m) => m.type === 'done' && m.context_id === 'c')).toBe(false);
    expect(server.requests.find((r) => r.contextId === 'c')?.cancelled).toBe(true);
    ws.close();
  });
});
