import { silentLogger } from './logger.js';
import { MemoryQueue, type MemoryQueueDeps } from './memory-queue.js';
import { deadLetterRetentionMs, type MemoryQueueOptions } from './options.js';

/** MEMORY_STORE: the local journal (default, one machine) or PostgreSQL shared by every worker. */
export type MemoryStoreChoice = { kind: 'file' } | { kind: 'postgres'; databaseUrl: string; leaseTimeoutMs: number };

/** Opens the memory queue on the configured store and replays what the store holds. */
export async function openMemoryQueue(options: MemoryQueueOptions, store: MemoryStoreChoice, deps: MemoryQueueDeps): Promise<MemoryQueue> {
  if (store.kind === 'file') return MemoryQueue.open(options, deps);
  // Loaded only here: every job process opens a queue, and on the file store pg is never needed (~3 MiB resident).
  const { PostgresTurnStore } = await import('./postgres/postgres-store.js');
  const postgres = await PostgresTurnStore.open({
    databaseUrl: store.databaseUrl,
    leaseTimeoutMs: store.leaseTimeoutMs,
    deadLetterRetentionMs: deadLetterRetentionMs(options),
    logger: deps.logger ?? silentLogger,
  });
  try {
    return await MemoryQueue.withStore(postgres, options, deps);
  } catch (error) {
    await postgres.close();
    throw error;
  }
}
