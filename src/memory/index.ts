export { MemoryJournalUnavailableError, MemoryQueue, MemoryQueueClosedError, type AcknowledgedListener, type CloseResult, type DeadLetterListener, type MemoryQueueDeps } from './memory-queue.js';
export { MEMORY_DEFAULTS, type MemoryQueueOptions } from './options.js';
export type { QueueStats } from './queue-stats.js';
export type { DeadLetter, PendingTurn, TurnInput } from './turn.js';
export { TurnWriteError, type TurnWriter } from './turn-writer.js';
export { LettaTurnWriter, type LettaTurnWriterOptions, type WriteStrategy } from './letta-turn-writer.js';
export { InMemoryTurnStore, type TurnStore } from './turn-store.js';
export { DataDirLockedError } from './journal/data-dir-lock.js';
export type { MemoryLogger } from './logger.js';
