import type Letta from '@letta-ai/letta-client';
import type OpenAI from 'openai';
import type { CallMemory } from './callers/call-memory.js';
import { CallerMemories } from './callers/caller-memories.js';
import type { Config } from './config.js';
import { createChatClient } from './fast-path/openai-chat.js';
import { LettaAgentMemory } from './letta/agent-memory.js';
import { createLettaClient } from './letta/client.js';
import type { Logger } from './logging.js';
import type { MemoryQueue } from './memory/memory-queue.js';
import { openMemoryQueue } from './memory/open-queue.js';
import type { MemoryQueueOptions } from './memory/options.js';

/** What every call in a worker process shares: one client per provider, the Letta agent, the memory queue. */
export interface WorkerServices {
  config: Config;
  logger: Logger;
  chat: OpenAI;
  letta: Letta;
  /** The deployment's shared agent (LETTA_MEMORY_SCOPE=shared); unused, never contacted, in caller scope. */
  memory: LettaAgentMemory;
  /** Per-caller agents (LETTA_MEMORY_SCOPE=caller). */
  callers: CallerMemories;
  /** The memory a call uses: the caller's own in caller scope (identity required), else the shared one. */
  memoryFor(callerIdentity: string | undefined): CallMemory;
  queue: MemoryQueue;
  close(): Promise<void>;
}

export interface CreateServicesOptions {
  /** Tests tune retry timings. */
  queueOptions?: Partial<MemoryQueueOptions>;
  lettaRetryDelayMs?: number;
}

export function memoryQueueOptions(config: Config): MemoryQueueOptions {
  return {
    dataDir: config.memory.dataDir,
    writeStrategy: config.memory.writeStrategy,
    batchMax: config.memory.batchMax,
    maxConcurrency: config.memory.maxConcurrency,
    deadLetterRetentionDays: config.memory.deadLetterRetentionDays,
    requestTimeoutMs: config.letta.timeoutMs,
  };
}

export async function createWorkerServices(config: Config, logger: Logger, options: CreateServicesOptions = {}): Promise<WorkerServices> {
  const chat = createChatClient(config.openai);
  const letta = createLettaClient(config.letta);
  const memory = new LettaAgentMemory({ client: letta, letta: config.letta, logger, retryDelayMs: options.lettaRetryDelayMs });
  const queueOptions: MemoryQueueOptions = { ...memoryQueueOptions(config), ...options.queueOptions };
  const callers = new CallerMemories({
    client: letta,
    letta: config.letta,
    appName: config.livekit.agentName,
    logger,
    retryDelayMs: options.lettaRetryDelayMs,
    recentMessages: config.recallRecentMessages,
    search: config.recallSearch,
  });
  const queue = await openMemoryQueue(queueOptions, config.memory.store, { letta, logger });
  // Freshness: the fast path's copy of core memory is re-read after writes that may have changed it, coalesced.
  const stopRefreshing = queue.onAcknowledged((agentId, _turns, outcome) => {
    const written = config.memoryScope === 'caller' ? callers.ofAgent(agentId) : memory;
    written?.afterWritesAcknowledged(config.memory.writeStrategy, outcome);
  });
  const memoryFor = (callerIdentity: string | undefined): CallMemory => {
    if (config.memoryScope === 'shared') return memory;
    // Never fall back to a shared agent: that would put one caller's memory in another's prompt.
    if (!callerIdentity) throw new Error('LETTA_MEMORY_SCOPE=caller needs the caller\'s identity to pick their memory');
    return callers.memoryFor(callerIdentity);
  };
  return {
    config,
    logger,
    chat,
    letta,
    memory,
    callers,
    memoryFor,
    queue,
    async close() {
      stopRefreshing();
      memory.close();
      callers.close();
      const left = await queue.close({ deadlineMs: config.memory.drainDeadlineMs });
      if (left.pending.length > 0) {
        logger.warn(
          { unwritten: left.pending.length, turnIds: left.pending.map((t) => t.id) },
          'memory queue closed with turns not yet written to Letta; they stay in the journal for the next start',
        );
      }
    },
  };
}
