// Smoke test of the harness pieces inside a REAL AgentSession (no room): caller speech
// (espeak) -> silero VAD + deepgram plugin -> local Deepgram -> FakeLLM -> cartesia plugin
// -> local Cartesia -> recording loudspeaker. Proves the I/O satisfies the framework and
// shows how a harness reads the latency of one turn.
import { initializeLogger, voice } from '@livekit/agents';
import * as cartesia from '@livekit/agents-plugin-cartesia';
import * as deepgram from '@livekit/agents-plugin-deepgram';
import * as silero from '@livekit/agents-plugin-silero';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CartesiaServer } from '../../simulation/stand-ins/cartesia-server.js';
import { DeepgramServer } from '../../simulation/stand-ins/deepgram-server.js';
import { CallerAudioInput, RecordingAudioOutput } from '../../simulation/harness/audio-io.js';
import { synthesize } from '../../simulation/harness/espeak.js';
import { CallRecorder } from '../../simulation/harness/recorder.js';

const RATE = 24000;
let dg: DeepgramServer;
let ct: CartesiaServer;

beforeAll(async () => {
  initializeLogger({ pretty: false, level: 'warn' });
  dg = await DeepgramServer.start({ recognitionDelayMs: 50 });
  ct = await CartesiaServer.start({ ttfbMs: 150, realTimeFactor: 0.3 });
});

afterAll(async () => {
  await dg?.close();
  await ct?.close();
});

describe('harness inside a real AgentSession', () => {
  it('runs one caller turn to agent audio and measures it', async () => {
    const question = 'What time do you open tomorrow?';
    const answer = 'We open at nine in the morning.';
    const recorder = new CallRecorder({ sampleRate: RATE });
    const input = new CallerAudioInput({ sampleRate: RATE, recorder });
    const output = new RecordingAudioOutput({ sampleRate: RATE, recorder });

    const session = new voice.AgentSession({
      vad: await silero.VAD.load(),
      stt: new deepgram.STT({ apiKey: 'test', baseUrl: dg.url }),
      tts: new cartesia.TTS({ apiKey: 'test', baseUrl: ct.url, sampleRate: RATE }),
      llm: new voice.testing.FakeLLM([{ input: question, content: answer }]),
    });
    session.input.audio = input;
    session.output.audio = output;
    await session.start({ agent: new voice.Agent({ instructions: 'You are a receptionist.' }) });

    try {
      const line = await synthesize(question, { sampleRate: RATE });
      dg.expectUtterance(question, { durationSeconds: line.speechEndSeconds - line.speechStartSeconds });
      await new Promise((r) => setTimeout(r, 300)); // let VAD see some silence first
      const agentStarts = output.nextSegmentStarted(20_000);
      const said = await input.say(line);
      const segment = await agentStarts;
      await output.nextSegmentFinished(20_000);

      const utt = dg.utterances[0];
      const tts = ct.requests[0];
      expect(utt.finalTranscript).toBe(question);
      expect(tts.text.trim()).toBe(answer);
      expect(segment.playoutStartedAt).toBeGreaterThan(said.speechEnd);
      expect(segment.playedSeconds).toBeGreaterThan(1);

      // The latency chain a benchmark reports (all performance.now() ms).
      const chain = {
        sttFinal: (utt.finalAt ?? 0) - said.speechEnd,
        ttsRequest: tts.startedAt - said.speechEnd,
        ttsFirstByte: (tts.firstChunkAt ?? 0) - said.speechEnd,
        agentAudible: (segment.playoutStartedAt ?? 0) - said.speechEnd,
      };
      // HARNESS_DEBUG=1 prints the measured chain, handy when tuning the stand-ins.
      if (process.env.HARNESS_DEBUG) console.log(chain, dg.results.map((r) => [r.isFinal, r.transcript]));
      expect(chain.sttFinal).toBeGreaterThan(0);
      expect(chain.ttsFirstByte).toBeGreaterThanOrEqual(chain.ttsRequest + 150 - 5);
      expect(chain.agentAudible).toBeGreaterThanOrEqual(chain.ttsFirstByte);
      expect(chain.agentAudible).toBeLessThan(5000);

      const dir = mkdtempSync(path.join(tmpdir(), 'harness-call-'));
      await recorder.writeWav(path.join(dir, 'call.wav'));
      expect(recorder.durationSeconds).toBeGreaterThan(line.durationSeconds + segment.playedSeconds);
    } finally {
      await session.close();
      output.close();
      await input.close();
    }
  });
});
