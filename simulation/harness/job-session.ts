// One call as a LiveKit job process runs it, minus the room: the agent file the framework's job process imports
// (src/main.ts, for its module graph and its prewarm, which loads silero VAD once), then the entry's steps
// (loadConfig → createWorkerServices → createAgentSession → prepareVoiceCall → session.start) with a simulated
// microphone that plays the PCM it is given in real time and a loudspeaker that plays the reply out in real time.
// Nothing else lives here (no espeak, no stand-ins): `npm run bench:scale` measures this as "a job process".
import { randomUUID } from 'node:crypto';
import { JobProcess, type VAD } from '@livekit/agents';
import { CALLER_AUDIO_SAMPLE_RATE } from '../../src/call/caller-audio.js';
import { prepareVoiceCall } from '../../src/call/voice-call.js';
import { loadConfig, secretsOf } from '../../src/config.js';
import { redactingLogger } from '../../src/logging.js';
import { createAgentSession } from '../../src/pipeline.js';
import { createWorkerServices } from '../../src/services.js';
import type { AgentSegmentRecord } from './audio-io.js';
import { attachCallAudio } from './session-io.js';

/** One caller line as the job process heard and answered it. Times are performance.now() ms in the job process. */
export interface JobTurn {
  /** End of the line's last voiced sample, as delivered to the session. */
  speechEnd: number;
  /** First agent frame handed to the loudspeaker. */
  firstFrameAt: number;
  /** First agent sample played out: the caller starts hearing the reply. */
  playoutStartedAt: number;
  playoutEndedAt?: number;
  /** playoutStartedAt − speechEnd. */
  voiceToVoiceMs: number;
}

export interface JobSession {
  readonly inputSampleRate: number;
  /** Plays one line (mono PCM16 at `inputSampleRate`) and resolves once the agent's reply has played out. */
  say(pcm: Int16Array): Promise<JobTurn>;
  close(): Promise<void>;
}

export interface JobSessionOptions {
  /** The worker's environment (provider addresses and keys). */
  env: Record<string, string>;
  /** The caller's audio as the room delivers it to the session. Default: the worker's (src/call/caller-audio.ts). */
  inputSampleRate?: number;
  /** The agent's audio. Default 24000 (RoomIO's default). */
  outputSampleRate?: number;
  /** Longest wait for the agent to start answering, after the line ends. Default 20 s. */
  answerTimeoutMs?: number;
}

/** The agent definition the job process loads, and its prewarm (as job_proc_lazy_main in @livekit/agents runs it). */
async function prewarmedProcess(): Promise<JobProcess> {
  const agent = (await import('../../src/main.js')).default;
  const proc = new JobProcess();
  await agent.prewarm?.(proc);
  return proc;
}

export async function startJobSession(options: JobSessionOptions): Promise<JobSession> {
  const inputSampleRate = options.inputSampleRate ?? CALLER_AUDIO_SAMPLE_RATE;
  const answerTimeoutMs = options.answerTimeoutMs ?? 20_000;
  const proc = await prewarmedProcess();
  // The entry's steps (src/main.ts), without the room, the metrics push and the greeting.
  const config = loadConfig(options.env, { requireLiveKit: false });
  const services = await createWorkerServices(config, redactingLogger(secretsOf(config)));
  const session = createAgentSession(config, services.chat, proc.userData.vad as VAD);
  const call = await prepareVoiceCall(services, session, { sessionId: randomUUID() });
  const audio = await attachCallAudio(session, { sampleRate: options.outputSampleRate ?? 24_000, inputSampleRate });
  await session.start({ agent: call.agent });
  // VAD needs to hear some silence before the first line, as on a real call.
  await new Promise((resolve) => setTimeout(resolve, 300));
  const { input, output } = audio;
  return {
    inputSampleRate,
    async say(pcm) {
      const lineMs = (pcm.length / inputSampleRate) * 1000;
      const started = output.nextSegmentStarted(answerTimeoutMs + lineMs);
      started.catch(() => undefined); // awaited below, after the line has been said
      const said = await input.say(pcm);
      const segment: AgentSegmentRecord = await started;
      if (!segment.finished) await output.nextSegmentFinished(60_000);
      const playoutStartedAt = segment.playoutStartedAt ?? segment.firstFrameAt;
      return {
        speechEnd: said.speechEnd,
        firstFrameAt: segment.firstFrameAt,
        playoutStartedAt,
        playoutEndedAt: segment.playoutEndedAt,
        voiceToVoiceMs: playoutStartedAt - said.speechEnd,
      };
    },
    async close() {
      await session.close().catch(() => undefined);
      await audio.close();
      await call.recorder.flushed(config.memory.drainDeadlineMs).catch(() => 0);
      await services.close().catch(() => undefined);
    },
  };
}
