import type { MemoryLogger } from './logger.js';

/** Listeners whose failures are logged, never propagated into the delivery loop. */
export class Listeners<Args extends unknown[]> {
  private readonly listeners = new Set<(...args: Args) => void>();

  constructor(
    private readonly name: string,
    private readonly logger: MemoryLogger,
  ) {}

  add(listener: (...args: Args) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(...args: Args): void {
    for (const listener of this.listeners) {
      try {
        listener(...args);
      } catch (error) {
        this.logger.warn({ err: error }, `memory ${this.name} listener threw`);
      }
    }
  }
}
