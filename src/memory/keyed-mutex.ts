/** FIFO mutual exclusion per key; keys with no holder and no waiters cost nothing. */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();
  private readonly held = new Set<string>();

  isLocked(key: string): boolean {
    return this.held.has(key) || this.tails.has(key);
  }

  async acquire(key: string): Promise<() => void> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const current = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => current);
    this.tails.set(key, tail);
    await previous;
    this.held.add(key);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.held.delete(key);
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    };
  }

  async runExclusive<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire(key);
    try {
      return await fn();
    } finally {
      release();
    }
  }
}
