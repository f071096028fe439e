import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { log, voice } from '@livekit/agents';
import { prepareVoiceCall, type VoiceCall } from '../../src/call/voice-call.js';
import { loadConfig, type Config } from '../../src/config.js';
import { redactingLogger } from '../../src/logging.js';
import { createFrameworkLlm } from '../../src/pipeline.js';
import { createWorkerServices, type WorkerServices } from '../../src/services.js';
import { startLettaServer, type LettaServer, type LettaServerOptions } from '../../simulation/stand-ins/letta-server.js';
import { startOpenAIServer, type OpenAIServer } from '../../simulation/stand-ins/openai-server.js';
import { RecordingTextOutput } from '../worker/worker-fixture.js';

/** One Letta and one OpenAI stand-in; job processes (WorkerServices, own journal) and calls are opened on them. */
export interface CallerWorld {
  openai: OpenAIServer;
  letta: LettaServer;
  config: Config;
  /** A worker job process: its own services and journal directory, like a separate LiveKit job process. */
  openProcess(): Promise<WorkerServices>;
  /** A call from `identity` on `services` (a real AgentSession in text mode through prepareVoiceCall). */
  call(services: WorkerServices, identity: string): Promise<CallerCall>;
  close(): Promise<void>;
}

export interface CallerCall {
  identity: string;
  voiceCall: VoiceCall;
  session: voice.AgentSession;
  /** What STT would report while the caller is still speaking. */
  hearInterim(text: string): void;
  say(userText: string): Promise<string>;
  /** Hangs up: waits until the call's turns are handed to the queue and the queue is idle. */
  hangUp(): Promise<void>;
}

export async function startCallerWorld(options: { letta?: Partial<LettaServerOptions>; env?: Record<string, string> } = {}): Promise<CallerWorld> {
  const openai = await startOpenAIServer({ apiKey: 'sk-test' });
  const letta = await startLettaServer({ apiKey: 'letta-test', ...options.letta });
  const dirs: string[] = [];
  const processes: WorkerServices[] = [];
  const sessions: voice.AgentSession[] = [];
  const configFor = (dataDir: string) =>
    loadConfig(
      {
        OPENAI_BASE_URL: openai.baseURL,
        OPENAI_API_KEY: 'sk-test',
        DEEPGRAM_API_KEY: 'unused-in-text-mode',
        LETTA_BASE_URL: letta.baseURL,
        LETTA_API_KEY: 'letta-test',
        LETTA_TIMEOUT_MS: '5000',
        LETTA_MEMORY_SCOPE: 'caller',
        AGENT_NAME: 'isolation-test',
        MEMORY_DATA_DIR: dataDir,
        ...options.env,
      },
      { requireLiveKit: false },
    );
  const newDir = () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'caller-journal-'));
    dirs.push(dir);
    return dir;
  };
  const config = configFor(newDir());
  return {
    openai,
    letta,
    config,
    async openProcess() {
      const services = await createWorkerServices(configFor(newDir()), redactingLogger(['sk-test', 'letta-test'], log()), {
        queueOptions: { retryBaseMs: 20, retryMaxMs: 200, breakerCooldownMs: 200 },
        lettaRetryDelayMs: 100,
      });
      processes.push(services);
      return services;
    },
    async call(services, identity) {
      const session = new voice.AgentSession({ llm: createFrameworkLlm(services.config, services.chat) });
      sessions.push(session);
      const voiceCall = await prepareVoiceCall(services, session, { callerIdentity: identity, memoryTimeoutMs: 2_000 });
      await session.start({ agent: voiceCall.agent });
      session.output.transcription = new RecordingTextOutput() as unknown as typeof session.output.transcription;
      return {
        identity,
        voiceCall,
        session,
        hearInterim(text) {
          session.emit(voice.AgentSessionEventTypes.UserInputTranscribed, voice.createUserInputTranscribedEvent({ transcript: text, isFinal: false }));
        },
        async say(userText) {
          const result = await session.run({ userInput: userText }).wait();
          return result.events
            .flatMap((e) => (e.type === 'message' && e.item.role === 'assistant' ? [e.item.textContent ?? ''] : []))
            .join(' ');
        },
        async hangUp() {
          await session.close();
          await voiceCall.recorder.flushed();
          await services.queue.whenIdle();
        },
      };
    },
    async close() {
      await Promise.allSettled(sessions.map((s) => s.close()));
      await Promise.allSettled(processes.map((p) => p.close()));
      await Promise.all([openai.close(), letta.close()]);
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    },
  };
}
