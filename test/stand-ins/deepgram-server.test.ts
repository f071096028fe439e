// Drives the local Deepgram stand-in with the REAL @livekit/agents-plugin-deepgram.
// Audio is pushed faster than real time: the server works on the audio timeline, like
// Deepgram, so results do not depend on wall-clock pacing (fast and robust on a busy box).
import { initializeLogger, stt as sttNs } from '@livekit/agents';
import * as deepgram from '@livekit/agents-plugin-deepgram';
import type { AudioFrame } from '@livekit/rtc-node';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { synthesize, type SpeechAudio } from '../../simulation/harness/espeak.js';
import { pcmToFrames, silenceFrames } from '../../simulation/harness/frames.js';
import { DeepgramServer } from '../../simulation/stand-ins/deepgram-server.js';

const RATE = 16000;
const { SpeechEventType } = sttNs;

beforeAll(() => {
  initializeLogger({ pretty: false, level: 'warn' });
});

let server: DeepgramServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

function voicedSeconds(a: SpeechAudio): number {
  return a.speechEndSeconds - a.speechStartSeconds;
}

/** Collect plugin events until `stop` matches (or the timeout passes). */
async function collect(
  stream: AsyncIterable<sttNs.SpeechEvent>,
  stop: (ev: sttNs.SpeechEvent, all: sttNs.SpeechEvent[]) => boolean,
  timeoutMs = 10_000,
): Promise<sttNs.SpeechEvent[]> {
  const events: sttNs.SpeechEvent[] = [];
  const reading = (async () => {
    for await (const ev of stream) {
      if (ev.type === SpeechEventType.RECOGNITION_USAGE) continue;
      events.push(ev);
      if (stop(ev, events)) return;
    }
  })();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out; got ${events.map((e) => SpeechEventType[e.type]).join(',')}`)), timeoutMs);
  });
  try {
    await Promise.race([reading, timeout]);
  } finally {
    clearTimeout(timer);
  }
  return events;
}

function push(stream: { pushFrame(f: AudioFrame): void }, frames: AudioFrame[]): void {
  for (const f of frames) stream.pushFrame(f);
}

const text = (ev: sttNs.SpeechEvent) => ev.alternatives?.[0]?.text ?? '';

describe('DeepgramServer with the real deepgram plugin', () => {
  it('streams interim then final results of the scripted line, then END_OF_SPEECH', async () => {
    server = await DeepgramServer.start();
    const line = 'I would like to book a table for two people tonight.';
    const audio = await synthesize(line, { sampleRate: RATE });
    server.expectUtterance(line, { durationSeconds: voicedSeconds(audio) });

    const stt = new deepgram.STT({ apiKey: 'test-key', baseUrl: server.url, sampleRate: RATE, endpointing: 25 });
    const stream = stt.stream();
    push(stream, pcmToFrames(audio.pcm, RATE, 20));
    push(stream, silenceFrames(600, RATE, 20));
    const events = await collect(stream, (ev) => ev.type === SpeechEventType.END_OF_SPEECH);
    stream.close();

    const types = events.map((e) => e.type);
    expect(types[0]).toBe(SpeechEventType.START_OF_SPEECH);
    const firstInterim = types.indexOf(SpeechEventType.INTERIM_TRANSCRIPT);
    const firstFinal = types.indexOf(SpeechEventType.FINAL_TRANSCRIPT);
    expect(firstInterim).toBeGreaterThan(0);
    expect(firstFinal).toBeGreaterThan(firstInterim);
    expect(types[types.length - 1]).toBe(SpeechEventType.END_OF_SPEECH);

    // Interims grow word by word towards the line.
    const interims = events.filter((e) => e.type === SpeechEventType.INTERIM_TRANSCRIPT).map(text);
    expect(line.startsWith(interims[0])).toBe(true);
    const finals = events.filter((e) => e.type === SpeechEventType.FINAL_TRANSCRIPT);
    expect(finals.map(text).join(' ')).toBe(line);

    // Word timings sit inside the voiced audio and are ordered.
    const words = finals.flatMap((f) => f.alternatives?.[0]?.words ?? []);
    expect(words.map((w) => w.text).join(' ')).toBe(line);
    expect(words[0].startTime).toBeGreaterThanOrEqual(audio.speechStartSeconds - 0.02);
    expect(words[words.length - 1].endTime).toBeLessThanOrEqual(audio.speechEndSeconds + 0.05);

    // What the plugin sent: header auth, query, binary audio.
    const conn = server.connections[0];
    expect(conn.authorization).toBe('Token test-key');
    expect(conn.query.get('encoding')).toBe('linear16');
    expect(conn.query.get('sample_rate')).toBe(String(RATE));
    expect(conn.query.get('endpointing')).toBe('25');
    expect(conn.audioSeconds).toBeGreaterThan(audio.durationSeconds * 0.9);

    // Timing records for the harness.
    const utt = server.utterances[0];
    expect(utt.done).toBe(true);
    expect(utt.finalTranscript).toBe(line);
    expect(utt.finalAt).toBeDefined();
    expect(utt.speechFinalAt).toBeDefined();
    expect(utt.firstInterimAt).toBeLessThanOrEqual(utt.finalAt ?? 0);
    await stt.close();
  });

  it('splits a line with a sentence pause into two finals when given its duration', async () => {
    server = await DeepgramServer.start({ minEndpointingMs: 250 });
    const line = 'What is the weather like in Paris tomorrow? Please tell me.';
    const audio = await synthesize(line, { sampleRate: RATE });
    server.expectUtterance(line, { durationSeconds: voicedSeconds(audio) });
    const stt = new deepgram.STT({ apiKey: 'k', baseUrl: server.url, sampleRate: RATE, endpointing: 25 });
    const stream = stt.stream();
    push(stream, pcmToFrames(audio.pcm, RATE, 20));
    push(stream, silenceFrames(600, RATE, 20));
    let ends = 0;
    const events = await collect(stream, (ev, all) => {
      if (ev.type === SpeechEventType.END_OF_SPEECH) ends++;
      const finals = all.filter((e) => e.type === SpeechEventType.FINAL_TRANSCRIPT).map(text);
      return ends >= 1 && finals.join(' ') === line;
    });
    stream.close();
    const finals = events.filter((e) => e.type === SpeechEventType.FINAL_TRANSCRIPT).map(text);
    expect(finals).toEqual(['What is the weather like in Paris tomorrow?', 'Please tell me.']);
    expect(server.utterances).toHaveLength(1);
    await stt.close();
  });

  it('plays a script of two lines and sends UtteranceEnd when utterance_end_ms is set', async () => {
    const lines = ['Hello there.', 'Can you hear me now?'];
    server = await DeepgramServer.start({ script: lines });
    const stt = new deepgram.STT({
      apiKey: 'k',
      baseUrl: server.url,
      sampleRate: RATE,
      endpointing: 300,
      utteranceEndMs: 500,
    });
    const stream = stt.stream();
    for (const l of lines) {
      const a = await synthesize(l, { sampleRate: RATE });
      push(stream, pcmToFrames(a.pcm, RATE, 20));
      push(stream, silenceFrames(800, RATE, 20));
    }
    let ends = 0;
    const events = await collect(stream, (ev) => ev.type === SpeechEventType.END_OF_SPEECH && ++ends === 2);
    stream.close();
    const finals = events.filter((e) => e.type === SpeechEventType.FINAL_TRANSCRIPT).map(text);
    expect(finals).toEqual(lines);
    expect(server.utterances.map((u) => u.text)).toEqual(lines);
    expect(server.results.filter((r) => r.isFinal && r.speechFinal).map((r) => r.transcript)).toEqual(lines);
    expect(server.sent.filter((m) => m.type === 'UtteranceEnd')).toHaveLength(2);
    await stt.close();
  });

  it('delays results by recognitionDelayMs and records speech-end to final latency', async () => {
    const delay = 300;
    server = await DeepgramServer.start({ recognitionDelayMs: delay });
    const line = 'Okay, thanks.';
    const audio = await synthesize(line, { sampleRate: RATE });
    server.expectUtterance(line);
    const stt = new deepgram.STT({ apiKey: 'k', baseUrl: server.url, sampleRate: RATE });
    const stream = stt.stream();
    push(stream, pcmToFrames(audio.pcm, RATE, 20));
    push(stream, silenceFrames(400, RATE, 20));
    await collect(stream, (ev) => ev.type === SpeechEventType.END_OF_SPEECH);
    stream.close();
    const utt = server.utterances[0];
    expect(utt.finalAt).toBeDefined();
    // speechEndAt is estimated from arrival time; audio was pushed in a burst so it is
    // earlier than real time would give, never later than the final minus the delay.
    expect((utt.finalAt ?? 0) - utt.speechEndAt).toBeGreaterThanOrEqual(delay * 0.9);
    await stt.close();
  });

  it('answers Finalize (stream.flush) with a from_finalize final', async () => {
    server = await DeepgramServer.start({ minEndpointingMs: 2000 });
    const line = 'Just one moment please.';
    const audio = await synthesize(line, { sampleRate: RATE });
    server.expectUtterance(line);
    const stt = new deepgram.STT({ apiKey: 'k', baseUrl: server.url, sampleRate: RATE });
    const stream = stt.stream();
    push(stream, pcmToFrames(audio.pcm, RATE, 20));
    push(stream, silenceFrames(200, RATE, 20));
    stream.flush();
    const events = await collect(stream, (ev) => ev.type === SpeechEventType.FINAL_TRANSCRIPT);
    stream.close();
    expect(text(events[events.length - 1])).toBe(line);
    const final = server.results.find((r) => r.isFinal);
    expect(final?.fromFinalize).toBe(true);
    expect(server.connections[0].controlMessages).toContain('Finalize');
    await stt.close();
  });
});

describe('DeepgramServer wire protocol', () => {
  it('rejects a handshake without credentials with 401', async () => {
    server = await DeepgramServer.start();
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`${server?.url}/v1/listen?encoding=linear16&sample_rate=16000`);
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => resolve(101));
      ws.on('error', () => undefined);
    });
    expect(status).toBe(401);
  });

  it('sends SpeechStarted with vad_events, and Metadata then close on CloseStream', async () => {
    server = await DeepgramServer.start({ script: ['Hello there.'] });
    const audio = await synthesize('Hello there.', { sampleRate: RATE });
    const ws = new WebSocket(`${server.url}/v1/listen?encoding=linear16&sample_rate=${RATE}&vad_events=true&interim_results=false&endpointing=300`, {
      headers: { Authorization: 'Token abc' },
    });
    const messages: Array<Record<string, unknown>> = [];
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    ws.on('message', (d) => messages.push(JSON.parse(d.toString()) as Record<string, unknown>));
    await new Promise((r) => ws.once('open', r));
    ws.send(Buffer.from(audio.pcm.buffer, audio.pcm.byteOffset, audio.pcm.byteLength));
    ws.send(JSON.stringify({ type: 'KeepAlive' }));
    ws.send(JSON.stringify({ type: 'CloseStream' }));
    expect(await closed).toBe(1000);
    const types = messages.map((m) => m.type);
    expect(types[0]).toBe('SpeechStarted');
    expect(types[types.length - 1]).toBe('Metadata');
    const results = messages.filter((m) => m.type === 'Results');
    expect(results.every((r) => r.is_final === true)).toBe(true); // interim_results=false
    const alt = (results[0].channel as { alternatives: Array<{ transcript: string }> }).alternatives[0];
    expect(alt.transcript).toBe('hello there'); // no punctuate/smart_format: plain words
    const meta = messages[messages.length - 1];
    expect(meta.duration as number).toBeCloseTo(audio.durationSeconds, 1);
  });
});
