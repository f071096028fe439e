import { randomUUID } from 'node:crypto';
import { voice } from '@livekit/agents';
import { LettaVoiceAgent } from '../agent.js';
import { LettaRunStopper } from '../replies/letta-runs.js';
import type { WorkerServices } from '../services.js';
import { TurnRecorder, type TurnReport } from './turn-recorder.js';

export interface VoiceCallOptions {
  sessionId?: string;
  /** The caller's LiveKit identity: picks their own memory when LETTA_MEMORY_SCOPE=caller (required there). */
  callerIdentity?: string;
  /** How long session start may wait for Letta before the call goes on without memory context. */
  memoryTimeoutMs?: number;
  onTurn?: (report: TurnReport) => void;
}

export interface VoiceCall {
  agent: LettaVoiceAgent;
  recorder: TurnRecorder;
  memoryAvailable: boolean;
}

/**
 * Prepares one call: reads the Letta agent's core memory (bounded wait), builds the agent whose LLM node holds
 * the fast and full Letta paths, and records finished turns into the memory queue.
 */
export async function prepareVoiceCall(services: WorkerServices, session: voice.AgentSession, options: VoiceCallOptions = {}): Promise<VoiceCall> {
  const { config, queue, logger } = services;
  const memory = services.memoryFor(options.callerIdentity);
  const sessionId = options.sessionId ?? randomUUID();
  const memoryAvailable = await memory.refreshAtSessionStart(options.memoryTimeoutMs ?? 3_000);
  const mode = config.hybridStreaming ? 'hybrid' : 'letta';
  const recorder = new TurnRecorder({
    queue,
    agentId: () => memory.agentId,
    whenAgent: () => memory.whenAgent(),
    sessionId,
    mode,
    logger,
    onTurn: options.onTurn,
  });
  const runs = new LettaRunStopper({ client: services.letta, waitMs: config.replies.lettaCancelWaitMs, logger });
  const agent = new LettaVoiceAgent({
    instructions: config.instructions,
    mode,
    onReply: recorder.recordReply,
    replies: {
      chat: { client: services.chat, model: config.openai.model },
      memory: () => memory.blocks,
      deadlines: config.replies,
      letta: {
        client: services.letta,
        baseURL: config.letta.baseURL,
        agentId: () => memory.agentId,
        acquireAgent: (agentId) => holdAgent(services, agentId),
        stopRun: (agentId, runId) => runs.stop(agentId, runId),
      },
    },
  });
  recorder.attach(session);
  // Caller scope: what the caller is saying drives the archival search, whose matches a reply uses if they are in time.
  if (memory.onTranscript) {
    const onTranscript = memory.onTranscript.bind(memory);
    session.on(voice.AgentSessionEventTypes.UserInputTranscribed, (event) => onTranscript(event.transcript));
  }
  logger.info(
    { sessionId, mode, memoryScope: config.memoryScope, callerIdentity: options.callerIdentity, memoryAvailable, memoryBlocks: memory.blocks.length },
    'voice call ready',
  );
  return { agent, recorder, memoryAvailable };
}

/** Takes the memory queue's per-agent lock and returns its release, so a streamed reply can hold it throughout. */
function holdAgent(services: WorkerServices, agentId: string): Promise<() => void> {
  return new Promise((acquired) => {
    void services.queue.runExclusive(agentId, () => new Promise<void>((release) => acquired(release)));
  });
}
