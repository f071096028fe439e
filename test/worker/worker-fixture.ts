import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { initializeLogger, log, voice } from '@livekit/agents';
import { prepareVoiceCall, type VoiceCall } from '../../src/call/voice-call.js';
import type { TurnReport } from '../../src/call/turn-recorder.js';
import { loadConfig } from '../../src/config.js';
import { redactingLogger } from '../../src/logging.js';
import { createFrameworkLlm } from '../../src/pipeline.js';
import { createWorkerServices, type WorkerServices } from '../../src/services.js';
import type { MemoryQueueOptions } from '../../src/memory/options.js';
import { startLettaServer, type LettaServer, type LettaServerOptions } from '../../simulation/stand-ins/letta-server.js';
import { startOpenAIServer, type OpenAIServer, type OpenAIServerOptions } from '../../simulation/stand-ins/openai-server.js';

initializeLogger({ pretty: false, level: process.env.TEST_LOG_LEVEL ?? 'silent' });

export const SEEDED_HUMAN = 'The user is called Sam. Sam sails a small boat on weekends.';
export const SEEDED_PERSONA = 'I am Ada, a calm and concise voice assistant.';

/**
 * Records every text chunk the session receives from the LLM node, with its arrival time. The framework does not
 * export its TextOutput base class, so this implements the same shape.
 */
export class RecordingTextOutput {
  readonly chunks: Array<{ text: string; at: number }> = [];
  async captureText(text: string | { text: string }): Promise<void> {
    this.chunks.push({ text: typeof text === 'string' ? text : text.text, at: performance.now() });
  }
  flush(): void {}
  onAttached(): void {}
  onDetached(): void {}
  reset(): void {
    this.chunks.length = 0;
  }
}

export interface WorkerFixture {
  openai: OpenAIServer;
  letta: LettaServer;
  agentId: string;
  services: WorkerServices;
  session: voice.AgentSession;
  call: VoiceCall;
  text: RecordingTextOutput;
  turns: TurnReport[];
  /** Runs one user turn in text mode and returns the assistant's reply text. */
  say(userText: string): Promise<{ reply: string; ms: number }>;
  close(): Promise<void>;
}

export interface WorkerFixtureOptions {
  env?: Record<string, string>;
  openai?: Partial<OpenAIServerOptions>;
  letta?: Partial<LettaServerOptions>;
  queue?: Partial<MemoryQueueOptions>;
  /** Runs before the call starts, e.g. to take Letta down. */
  beforeCall?: (fixture: { openai: OpenAIServer; letta: LettaServer }) => Promise<void> | void;
  memoryTimeoutMs?: number;
}

/**
 * A real AgentSession in text mode running the worker's own wiring (services, LettaVoiceAgent, turn recorder)
 * against the local OpenAI and Letta protocol servers.
 */
export async function startWorkerFixture(options: WorkerFixtureOptions = {}): Promise<WorkerFixture> {
  const openai = await startOpenAIServer({ apiKey: 'sk-test', ...options.openai });
  const letta = await startLettaServer({ apiKey: 'letta-test', ...options.letta });
  const agent = letta.seedAgent({
    name: 'Agent_66',
    blocks: [
      { label: 'persona', value: SEEDED_PERSONA },
      { label: 'human', value: SEEDED_HUMAN },
    ],
  });
  const dataDir = mkdtempSync(path.join(tmpdir(), 'worker-journal-'));
  const config = loadConfig(
    {
      OPENAI_BASE_URL: openai.baseURL,
      OPENAI_API_KEY: 'sk-test',
      DEEPGRAM_API_KEY: 'unused-in-text-mode',
      LETTA_BASE_URL: letta.baseURL,
      LETTA_API_KEY: 'letta-test',
      LETTA_TIMEOUT_MS: '5000',
      MEMORY_DATA_DIR: dataDir,
      // The fixture seeds one agent for everyone; caller-scope tests set LETTA_MEMORY_SCOPE=caller and a callerIdentity.
      LETTA_MEMORY_SCOPE: 'shared',
      ...options.env,
    },
    { requireLiveKit: false },
  );
  await options.beforeCall?.({ openai, letta });
  const services = await createWorkerServices(config, redactingLogger(['sk-test', 'letta-test'], log()), {
    queueOptions: { retryBaseMs: 20, retryMaxMs: 200, breakerCooldownMs: 200, ...options.queue },
    lettaRetryDelayMs: 100,
  });
  const session = new voice.AgentSession({ llm: createFrameworkLlm(config, services.chat) });
  const text = new RecordingTextOutput();
  const turns: TurnReport[] = [];
  const call = await prepareVoiceCall(services, session, {
    memoryTimeoutMs: options.memoryTimeoutMs ?? 2_000,
    onTurn: (report) => turns.push(report),
  });
  await session.start({ agent: call.agent });
  session.output.transcription = text as unknown as typeof session.output.transcription;

  return {
    openai,
    letta,
    agentId: agent.id,
    services,
    session,
    call,
    text,
    turns,
    async say(userText) {
      const started = performance.now();
      const result = await session.run({ userInput: userText }).wait();
      const ms = performance.now() - started;
      const reply = result.events
        .flatMap((e) => (e.type === 'message' && e.item.role === 'assistant' ? [e.item.textContent ?? ''] : []))
        .join(' ');
      return { reply, ms };
    },
    async close() {
      await session.close();
      await services.close();
      await Promise.all([openai.close(), letta.close()]);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
