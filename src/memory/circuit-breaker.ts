export type CircuitState = 'closed' | 'open' | 'half-open';

export type CircuitBreakerOptions = {
  /** Consecutive failed requests that open the circuit. */
  failureThreshold: number;
  /** How long the circuit stays open before one probe request is let through. */
  cooldownMs: number;
};

/**
 * One breaker per Letta server: while Letta is down, agents stop hammering it independently
 * and a single probe decides when everyone may resume.
 */
export class CircuitBreaker {
  private state: CircuitState = 'closed';
  private consecutiveFailures = 0;
  private openedAt = 0;
  private probeInFlight = false;

  constructor(
    private readonly options: CircuitBreakerOptions,
    private readonly now: () => number = Date.now,
  ) {}

  get currentState(): CircuitState {
    if (this.state === 'open' && this.now() - this.openedAt >= this.options.cooldownMs) return 'half-open';
    return this.state;
  }

  /** Epoch ms at which a request may next be attempted; Infinity while a probe is out. */
  nextAttemptAt(): number {
    if (this.state === 'open') return this.openedAt + this.options.cooldownMs;
    if (this.state === 'half-open' && this.probeInFlight) return Number.POSITIVE_INFINITY;
    return this.now();
  }

  /** Reserves permission for one request; in half-open only a single probe is allowed. */
  tryAcquire(): boolean {
    const state = this.currentState;
    if (state === 'closed') return true;
    if (state === 'open' || this.probeInFlight) return false;
    this.state = 'half-open';
    this.probeInFlight = true;
    return true;
  }

  recordSuccess(): void {
    this.state = 'closed';
    this.consecutiveFailures = 0;
    this.probeInFlight = false;
  }

  recordFailure(): void {
    this.consecutiveFailures += 1;
    const probeFailed = this.state === 'half-open';
    this.probeInFlight = false;
    if (probeFailed || this.consecutiveFailures >= this.options.failureThreshold) {
      this.state = 'open';
      this.openedAt = this.now();
    }
  }

  /** A request that ended without a verdict on server health (e.g. aborted at shutdown). */
  recordNeutral(): void {
    if (this.state === 'half-open') {
      this.probeInFlight = false;
      this.state = 'open';
    }
  }
}
