import type Letta from '@letta-ai/letta-client';
import { AgentLane } from './agent-lane.js';
import { backoffDelayMs } from './backoff.js';
import { CircuitBreaker } from './circuit-breaker.js';
import type { JournalFs } from './journal/journal-fs.js';
import { JournalTurnStore } from './journal/journal-store.js';
import { KeyedMutex } from './keyed-mutex.js';
import { Listeners } from './listeners.js';
import { LettaTurnWriter } from './letta-turn-writer.js';
import { silentLogger, type MemoryLogger } from './logger.js';
import { deadLetterRetentionMs, MEMORY_DEFAULTS, resolveTuning, type MemoryQueueOptions, type QueueTuning } from './options.js';
import type { QueueStats } from './queue-stats.js';
import { InMemoryTurnStore, type RequeueSelection, type TurnStore } from './turn-store.js';
import { asTurnWriteError, type TurnWriteError, type TurnWriter, type WriteOutcome } from './turn-writer.js';
import { bySpokenTime, mergeBySpokenTime } from './spoken-order.js';
import { WakeTimer } from './wake-timer.js';
import { assertValidTurnInput, createPendingTurn, type DeadLetter, type PendingTurn, type TurnInput } from './turn.js';

/** How long close() waits for aborted requests to settle before giving up on them. */
const ABORT_GRACE_MS = 1_000;
/** A lane that let another process's earlier-spoken turn go first looks again after this. */
const YIELD_MS = 25;

export type AcknowledgedListener = (agentId: string, turns: readonly PendingTurn[], outcome: WriteOutcome) => void;
export type DeadLetterListener = (letter: DeadLetter) => void;

export type MemoryQueueDeps = {
  /** Either a ready writer or a Letta client (configure it with maxRetries: 0; retries are ours). */
  writer?: TurnWriter;
  letta?: Letta;
  logger?: MemoryLogger;
  now?: () => number;
  random?: () => number;
  /** The journal's file-system layer (tests inject short writes and ENOSPC). */
  journalFs?: JournalFs;
};

export type CloseResult = { written: number; pending: PendingTurn[] };

/** The journal could not take the turn and the in-memory overflow (unjournaledMax) is full. */
export class MemoryJournalUnavailableError extends Error {
  constructor(cause: unknown, held: number) {
    super(`memory journal cannot be written (${(cause as Error)?.message ?? String(cause)}) and ${held} unjournaled turns are already held in memory`, { cause });
    this.name = 'MemoryJournalUnavailableError';
  }
}

export class MemoryQueueClosedError extends Error {
  constructor() {
    super('memory queue is closed');
    this.name = 'MemoryQueueClosedError';
  }
}

/**
 * Write-behind queue from finished voice turns to Letta.
 * Per agent: strictly one request at a time, in enqueue order. Across agents: bounded parallelism.
 * A failed batch is retried unchanged (same turns, same otids) with capped, jittered backoff.
 */
export class MemoryQueue {
  private readonly lanes = new Map<string, AgentLane>();
  private readonly mutex = new KeyedMutex();
  private readonly breaker: CircuitBreaker;
  private readonly acknowledged: Listeners<Parameters<AcknowledgedListener>>;
  private readonly deadLettered: Listeners<Parameters<DeadLetterListener>>;
  private readonly controllers = new Set<AbortController>();
  private readonly running = new Set<Promise<void>>();
  /** Enqueues whose journal append has not finished; shutdown lets them land first. */
  private readonly appending = new Set<Promise<void>>();
  /** Turns the journal could not take (disk full): delivered from memory, journaled when space returns. */
  private readonly unjournaled = new Map<string, PendingTurn>();
  /** Acknowledgements the journal could not take; retried, or the turns would be resent after a restart. */
  private unjournaledAcks: string[] = [];
  /** Agents whose current batch failed with an unknown outcome: it may be applied, so it must be resent as is. */
  private readonly batchMayBeApplied = new Set<string>();
  /** Agents that adopted earlier-spoken turns while their batch was in flight: if Letta did not take it, re-form it. */
  private readonly reorderAfterBatch = new Set<string>();
  private idleWaiters: Array<() => void> = [];
  private activeRequests = 0;
  private inFlightTurns = 0;
  private readonly wake = new WakeTimer(() => this.pump());
  private housekeepingTimer: NodeJS.Timeout | undefined;
  private housekeepingRun: Promise<void> = Promise.resolve();
  private accepting = true;
  private aborted = false;
  private closing: Promise<CloseResult> | undefined;
  private readonly counters = { written: 0, retries: 0, failedPermanently: 0 };
  private lastWriteLatencyMs: number | null = null;
  private writeLagMs: number | null = null;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly logger: MemoryLogger;

  private constructor(
    private readonly store: TurnStore,
    private readonly writer: TurnWriter,
    private readonly tuning: QueueTuning,
    deps: MemoryQueueDeps,
  ) {
    this.now = deps.now ?? Date.now;
    this.random = deps.random ?? Math.random;
    this.logger = deps.logger ?? silentLogger;
    this.breaker = new CircuitBreaker(tuning.breaker, this.now);
    this.acknowledged = new Listeners('onAcknowledged', this.logger);
    this.deadLettered = new Listeners('onDeadLetter', this.logger);
  }

  /** Opens the durable, journal-backed queue on options.dataDir and replays what was left. */
  static async open(options: MemoryQueueOptions, deps: MemoryQueueDeps): Promise<MemoryQueue> {
    const store = await JournalTurnStore.open({
      dataDir: options.dataDir,
      compactEvery: options.compactEvery ?? MEMORY_DEFAULTS.compactEvery,
      deadLetterRetentionMs: deadLetterRetentionMs(options),
      logger: deps.logger ?? silentLogger,
      ...(deps.journalFs ? { fs: deps.journalFs } : {}),
    });
    try {
      return await MemoryQueue.withStore(store, options, deps);
    } catch (error) {
      await store.close();
      throw error;
    }
  }

  /** A queue that loses unwritten turns on a crash; for tests and throwaway setups. */
  static inMemory(options: Partial<MemoryQueueOptions>, deps: MemoryQueueDeps): Promise<MemoryQueue> {
    return MemoryQueue.withStore(new InMemoryTurnStore(), options, deps);
  }

  static async withStore(store: TurnStore, options: Partial<MemoryQueueOptions>, deps: MemoryQueueDeps): Promise<MemoryQueue> {
    const queue = new MemoryQueue(store, buildWriter(options, deps), resolveTuning(options), deps);
    const recovered = await store.recover();
    // Turns of several calls (adopted slots) interleave by when they were spoken.
    for (const turn of [...recovered.pending].sort(bySpokenTime)) queue.laneFor(turn.agentId).pending.push(turn);
    for (const agentId of queue.lanes.keys()) queue.refreshHead(agentId);
    if (recovered.pending.length > 0 || recovered.deadLetters.length > 0) {
      queue.logger.info(
        { pending: recovered.pending.length, deadLetters: recovered.deadLetters.length, agents: queue.lanes.size },
        'memory queue replaying journal',
      );
    }
    store.watchHandovers?.(() => queue.scheduleHousekeeping());
    queue.startHousekeeping();
    queue.pump();
    return queue;
  }

  /** Hands a finished turn to the queue; resolves once it is stored (durably, for the journal). */
  async enqueue(input: TurnInput): Promise<PendingTurn> {
    if (!this.accepting) throw new MemoryQueueClosedError();
    assertValidTurnInput(input);
    const turn = createPendingTurn(input, this.now());
    // Lane insertion happens after the append: stores resolve appends in call order, so
    // per-agent order is preserved, and a turn is never sent before it is durable.
    const appended = this.store.append(turn);
    this.appending.add(appended);
    try {
      await appended;
    } catch (error) {
      this.holdUnjournaled(turn, error);
    } finally {
      this.appending.delete(appended);
    }
    this.laneFor(turn.agentId).pending.push(turn);
    // Awaited: once enqueue resolves, other processes already see this turn when ordering theirs.
    const published = this.refreshHead(turn.agentId);
    this.pump();
    if (this.store.publishHead) await published;
    return { ...turn };
  }

  /**
   * A full disk must not cost the turn while Letta can still take it: it is delivered from
   * memory and journaled once space returns (housekeeping). The bound keeps memory finite;
   * beyond it the caller is told (loudly) that the turn was not stored.
   */
  private holdUnjournaled(turn: PendingTurn, error: unknown): void {
    const context = { err: error, agentId: turn.agentId, turnId: turn.id, heldInMemory: this.unjournaled.size };
    if (!this.accepting || this.unjournaled.size >= this.tuning.unjournaledMax) {
      this.logger.error(context, 'memory journal write failed; turn NOT stored');
      throw new MemoryJournalUnavailableError(error, this.unjournaled.size);
    }
    this.unjournaled.set(turn.id, turn);
    this.logger.error(context, 'memory journal write failed; turn kept in memory only until the journal takes it');
  }

  /**
   * Runs fn while no memory write for agentId is in flight: waits for the current write,
   * and holds back further writes until fn settles (fn may be a whole streamed reply).
   * A write waiting out a retry backoff does not delay fn.
   */
  async runExclusive<T>(agentId: string, fn: () => Promise<T>): Promise<T> {
    const release = await this.mutex.acquire(agentId);
    try {
      const releaseLease = await this.store.leaseAgent?.(agentId);
      try {
        return await fn();
      } finally {
        await releaseLease?.();
      }
    } finally {
      release();
      this.pump();
    }
  }

  /** Returns the unsubscribe function. */
  onAcknowledged(listener: AcknowledgedListener): () => void {
    return this.acknowledged.add(listener);
  }

  onDeadLetter(listener: DeadLetterListener): () => void {
    return this.deadLettered.add(listener);
  }

  deadLetters(): readonly DeadLetter[] {
    return this.store.deadLetters();
  }

  /** Puts dead letters back at the end of their agent's queue (same id and otid). */
  async requeueDeadLetters(selection: RequeueSelection): Promise<PendingTurn[]> {
    const turns = await this.store.requeue(selection);
    for (const turn of turns) this.laneFor(turn.agentId).pending.push(turn);
    for (const agentId of new Set(turns.map((turn) => turn.agentId))) this.refreshHead(agentId);
    if (turns.length > 0) this.logger.info({ turns: turns.length }, 'memory dead letters requeued');
    this.pump();
    return turns;
  }

  stats(): QueueStats {
    const now = this.now();
    let depth = 0;
    let oldest = Number.POSITIVE_INFINITY;
    const pendingByAgent: Record<string, number> = {};
    for (const lane of this.lanes.values()) {
      if (lane.isEmpty) continue;
      depth += lane.pending.length;
      pendingByAgent[lane.agentId] = lane.pending.length;
      for (const turn of lane.pending) oldest = Math.min(oldest, turn.enqueuedAt);
    }
    return {
      depth,
      inFlight: this.inFlightTurns,
      oldestPendingAgeMs: depth === 0 ? 0 : Math.max(0, now - oldest),
      lastWriteLatencyMs: this.lastWriteLatencyMs,
      writeLagMs: this.writeLagMs,
      written: this.counters.written,
      retries: this.counters.retries,
      deadLetters: this.store.deadLetters().length,
      failedPermanently: this.counters.failedPermanently,
      pendingByAgent,
      circuit: this.breaker.currentState,
      unjournaled: this.unjournaled.size,
    };
  }

  /** Resolves when nothing is pending or in flight. */
  whenIdle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Stops accepting turns, keeps writing until everything is acknowledged or the deadline passes,
   * then aborts in-flight requests. Returns what was not written (still journaled when durable).
   */
  close({ deadlineMs }: { deadlineMs: number }): Promise<CloseResult> {
    this.closing ??= this.shutdown(deadlineMs);
    return this.closing;
  }

  private async shutdown(deadlineMs: number): Promise<CloseResult> {
    this.accepting = false;
    this.stopHousekeeping();
    await Promise.allSettled([this.housekeepingRun, ...this.appending]);
    const writtenBefore = this.counters.written;
    let deadline: NodeJS.Timeout | undefined;
    await Promise.race([
      this.whenIdle(),
      new Promise<void>((resolve) => (deadline = setTimeout(resolve, Math.max(0, deadlineMs)))),
    ]);
    clearTimeout(deadline);
    this.aborted = true;
    this.wake.cancel();
    for (const controller of this.controllers) controller.abort(new MemoryQueueClosedError());
    // A writer that ignores the abort must not hold shutdown hostage; its turns stay pending.
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.running]),
      new Promise<void>((resolve) => (grace = setTimeout(resolve, ABORT_GRACE_MS))),
    ]);
    clearTimeout(grace);
    const pending = [...this.lanes.values()].flatMap((lane) => lane.pending.map((turn) => ({ ...turn })));
    await this.journalHeldTurns();
    if (this.unjournaled.size > 0) {
      this.logger.error(
        { turnIds: [...this.unjournaled.keys()] },
        'memory queue closing with turns the journal never took (disk full); they are lost when this process exits',
      );
    }
    await this.store.close();
    this.resolveIdleWaiters();
    const written = this.counters.written - writtenBefore;
    if (pending.length > 0) {
      this.logger.warn(
        { written, unwritten: pending.length, durable: this.store.durable },
        this.store.durable ? 'memory queue closed; unwritten turns stay journaled' : 'memory queue closed with unwritten turns',
      );
    } else {
      this.logger.info({ written }, 'memory queue drained and closed');
    }
    return { written, pending };
  }

  /** How many of the lane's next turns were spoken no later than any other process's undelivered turn for the agent. */
  private async spokenOrderLimit(lane: AgentLane): Promise<number> {
    const elsewhere = await this.store.earliestHeadElsewhere?.(lane.agentId).catch(() => undefined);
    if (elsewhere === undefined) return Number.POSITIVE_INFINITY;
    const later = lane.pending.findIndex((turn) => turn.userAt > elsewhere);
    return later === -1 ? lane.pending.length : later;
  }

  /**
   * Tells other processes when this one's next turn for the agent was spoken. The next turn,
   * not the earliest: both sides compare next turns, so two processes never wait for each other.
   */
  private refreshHead(agentId: string): Promise<void> {
    if (!this.store.publishHead) return Promise.resolve();
    const next = this.lanes.get(agentId)?.pending[0];
    return this.store.publishHead(agentId, next?.userAt).catch(() => {});
  }

  private laneFor(agentId: string): AgentLane {
    let lane = this.lanes.get(agentId);
    if (!lane) {
      lane = new AgentLane(agentId);
      this.lanes.set(agentId, lane);
    }
    return lane;
  }

  private pump(): void {
    if (this.aborted) return;
    const now = this.now();
    while (this.activeRequests < this.tuning.maxConcurrency) {
      const lane = this.nextReadyLane(now);
      if (!lane || !this.breaker.tryAcquire()) break;
      this.start(lane);
    }
    this.scheduleWake(now);
    if (this.isIdle()) this.resolveIdleWaiters();
  }

  /** Lanes are visited round-robin: a lane that just ran moves to the back of the map. */
  private nextReadyLane(now: number): AgentLane | undefined {
    for (const lane of this.lanes.values()) {
      if (!lane.isEmpty && !lane.running && lane.retryAt <= now && !this.mutex.isLocked(lane.agentId)) return lane;
    }
    return undefined;
  }

  private start(lane: AgentLane): void {
    lane.running = true;
    this.activeRequests += 1;
    const run = this.deliverBatch(lane).finally(() => {
      lane.running = false;
      this.activeRequests -= 1;
      this.running.delete(run);
      this.lanes.delete(lane.agentId);
      if (!lane.isEmpty) this.lanes.set(lane.agentId, lane);
      this.pump();
    });
    this.running.add(run);
  }

  private async deliverBatch(lane: AgentLane): Promise<void> {
    const release = await this.mutex.acquire(lane.agentId);
    const controller = new AbortController();
    this.controllers.add(controller);
    // Waits out another job process writing to or replying through the same agent.
    let releaseLease: (() => Promise<void>) | undefined;
    try {
      if (this.aborted) return this.breaker.recordNeutral();
      try {
        // No await without a lease store: the write should start in this tick.
        if (this.store.leaseAgent) releaseLease = await this.store.leaseAgent(lane.agentId, controller.signal);
      } catch (error) {
        this.breaker.recordNeutral();
        if (this.aborted) return;
        this.logger.warn({ err: error, agentId: lane.agentId }, 'could not take the agent lease; will retry');
        lane.retryAt = this.now() + this.tuning.backoff.baseMs;
        return;
      }
      // No await without cross-process order: the batch is formed in this tick.
      const limit = lane.batch || !this.store.earliestHeadElsewhere ? this.tuning.batchMax : await this.spokenOrderLimit(lane);
      if (limit === 0) {
        // Another call's process holds a turn spoken before ours: it goes first (it waits for this lease).
        this.breaker.recordNeutral();
        lane.retryAt = this.now() + YIELD_MS;
        return;
      }
      const batch = lane.currentBatch(Math.min(this.tuning.batchMax, limit));
      for (const turn of batch) turn.attempts += 1;
      this.inFlightTurns += batch.length;
      const startedAt = this.now();
      let outcome: WriteOutcome;
      try {
        outcome = (await this.writer.write(lane.agentId, batch.map((turn) => ({ ...turn })), controller.signal)) ?? {};
      } catch (error) {
        await this.handleFailure(lane, batch, asTurnWriteError(error), controller.signal.aborted);
        return;
      } finally {
        this.inFlightTurns -= batch.length;
      }
      await this.handleSuccess(lane, startedAt, outcome);
    } finally {
      this.controllers.delete(controller);
      await releaseLease?.().catch((error: unknown) => this.logger.warn({ err: error, agentId: lane.agentId }, 'could not release agent lease'));
      release();
    }
  }

  private async handleSuccess(lane: AgentLane, startedAt: number, outcome: WriteOutcome): Promise<void> {
    this.breaker.recordSuccess();
    lane.consecutiveFailures = 0;
    lane.retryAt = 0;
    const turns = lane.settleBatch();
    this.batchMayBeApplied.delete(lane.agentId);
    this.reorderAfterBatch.delete(lane.agentId);
    this.refreshHead(lane.agentId);
    for (const turn of turns) this.unjournaled.delete(turn.id);
    const now = this.now();
    this.counters.written += turns.length;
    this.lastWriteLatencyMs = now - startedAt;
    this.writeLagMs = now - turns[turns.length - 1].enqueuedAt;
    this.logger.debug({ agentId: lane.agentId, turns: turns.length, latencyMs: this.lastWriteLatencyMs }, 'memory turns written');
    try {
      await this.store.acknowledge(turns.map((turn) => turn.id));
    } catch (error) {
      // Retried by housekeeping; until then a restart would resend these turns.
      this.unjournaledAcks.push(...turns.map((turn) => turn.id));
      this.logger.warn({ err: error, agentId: lane.agentId }, 'could not journal memory acknowledgement; will retry');
    }
    this.acknowledged.emit(lane.agentId, turns.map((turn) => ({ ...turn })), outcome);
  }

  private async handleFailure(lane: AgentLane, batch: PendingTurn[], error: TurnWriteError, abortedByUs: boolean): Promise<void> {
    const context = {
      agentId: lane.agentId,
      turns: batch.length,
      attempts: batch[0].attempts,
      status: error.status,
      outcomeUnknown: error.outcomeUnknown,
      err: error.message,
    };
    if (abortedByUs && this.aborted) {
      this.breaker.recordNeutral();
      return;
    }
    if (!error.retryable) {
      // The server answered, so it is healthy; the problem is this request.
      this.breaker.recordSuccess();
      lane.consecutiveFailures = 0;
      lane.retryAt = 0;
      if (batch.length > 1) {
        this.logger.warn(context, 'memory batch rejected; resending its turns one by one to isolate the bad one');
        lane.sendSinglyRemaining = batch.length;
        lane.batch = null;
        return;
      }
      await this.deadLetter(lane, error.message, error.status);
      return;
    }
    this.breaker.recordFailure();
    lane.consecutiveFailures += 1;
    if (error.outcomeUnknown) this.batchMayBeApplied.add(lane.agentId);
    if (batch[0].attempts >= this.tuning.maxAttempts) {
      await this.deadLetter(lane, `gave up after ${batch[0].attempts} attempts: ${error.message}`, error.status);
      return;
    }
    if (this.reorderAfterBatch.delete(lane.agentId) && !this.batchMayBeApplied.has(lane.agentId)) {
      // Letta did not take the batch: form it again so turns adopted meanwhile go in spoken order.
      lane.batch = null;
      lane.pending.sort(bySpokenTime);
      void this.refreshHead(lane.agentId);
    }
    this.counters.retries += 1;
    const backoff = error.retryAfterMs ?? backoffDelayMs(lane.consecutiveFailures, this.tuning.backoff, this.random);
    const delay = error.outcomeUnknown ? Math.max(backoff, this.tuning.settleAfterTimeoutMs) : backoff;
    lane.retryAt = this.now() + delay;
    this.logger.warn({ ...context, retryInMs: delay, circuit: this.breaker.currentState }, 'memory write failed; will retry');
  }

  private async deadLetter(lane: AgentLane, reason: string, status: number | undefined): Promise<void> {
    const deadAt = this.now();
    const settled = lane.settleBatch();
    this.batchMayBeApplied.delete(lane.agentId);
    this.reorderAfterBatch.delete(lane.agentId);
    this.refreshHead(lane.agentId);
    const letters = settled.map((turn): DeadLetter => ({ turn: { ...turn }, reason, deadAt, ...(status === undefined ? {} : { status }) }));
    this.counters.failedPermanently += letters.length;
    try {
      await this.store.deadLetter(letters);
      for (const letter of letters) this.unjournaled.delete(letter.turn.id);
    } catch (error) {
      this.logger.error({ err: error, agentId: lane.agentId }, 'could not store memory dead letter');
    }
    for (const letter of letters) {
      this.logger.error({ agentId: lane.agentId, turnId: letter.turn.id, reason, status }, 'memory turn dead-lettered');
      this.deadLettered.emit(letter);
    }
  }

  private scheduleWake(now: number): void {
    let next = Number.POSITIVE_INFINITY;
    for (const lane of this.lanes.values()) {
      if (!lane.isEmpty && !lane.running && lane.retryAt > now) next = Math.min(next, lane.retryAt);
    }
    const breakerBlocks = this.breaker.currentState !== 'closed';
    if (breakerBlocks && [...this.lanes.values()].some((lane) => !lane.isEmpty && !lane.running)) {
      next = Math.min(next, Math.max(now + 1, this.breaker.nextAttemptAt()));
    }
    if (next !== Number.POSITIVE_INFINITY) this.wake.wakeAt(next, now);
  }

  private startHousekeeping(): void {
    if (!this.store.takeRequeueRequests && !this.store.publishStats && !this.store.adoptOrphans) return;
    this.housekeepingTimer = setInterval(() => this.scheduleHousekeeping(), this.tuning.housekeepingIntervalMs);
    this.housekeepingTimer.unref();
  }

  private scheduleHousekeeping(): void {
    if (!this.accepting) return;
    this.housekeepingRun = this.housekeepingRun.then(() => this.housekeeping());
  }

  private stopHousekeeping(): void {
    clearInterval(this.housekeepingTimer);
    this.housekeepingTimer = undefined;
  }

  private async housekeeping(): Promise<void> {
    if (!this.accepting) return;
    await this.journalHeldTurns();
    try {
      await this.adoptLeftBehindTurns();
      const requests = (await this.store.takeRequeueRequests?.()) ?? [];
      for (const selection of requests) await this.requeueDeadLetters(selection);
    } catch (error) {
      this.logger.warn({ err: error }, 'memory housekeeping failed');
    }
    // Separate: status.json needs disk space, the steps above must not wait for it.
    await this.store.publishStats?.(this.stats()).catch((error: unknown) => this.logger.debug({ err: error }, 'could not publish memory stats'));
  }

  /** Turns another call left in its slot join this process's lanes, in spoken order. */
  private async adoptLeftBehindTurns(): Promise<void> {
    const adopted = (await this.store.adoptOrphans?.()) ?? [];
    if (adopted.length === 0) return;
    const byAgent = new Map<string, PendingTurn[]>();
    for (const turn of adopted) byAgent.set(turn.agentId, [...(byAgent.get(turn.agentId) ?? []), turn]);
    for (const [agentId, turns] of byAgent) {
      const lane = this.laneFor(agentId);
      // A batch that is in flight, or may have been applied, stays first and unchanged; one Letta
      // is known not to have taken (refused, 5xx) is formed again, so earlier-spoken turns go first.
      if (lane.batch && !lane.running && !this.batchMayBeApplied.has(agentId)) lane.batch = null;
      if (lane.batch && lane.running) this.reorderAfterBatch.add(agentId);
      mergeBySpokenTime(lane.pending, turns, lane.batch?.length ?? 0);
      this.refreshHead(agentId);
    }
    this.logger.info({ turns: adopted.length, agents: byAgent.size }, 'memory queue took over turns another call left behind');
    this.pump();
  }

  /** Retries the journal for turns and acknowledgements it could not take earlier; stops at the first failure (still no space). */
  private async journalHeldTurns(): Promise<void> {
    if (this.unjournaledAcks.length > 0) {
      const ids = this.unjournaledAcks;
      this.unjournaledAcks = [];
      try {
        await this.store.acknowledge(ids);
      } catch {
        this.unjournaledAcks = [...ids, ...this.unjournaledAcks];
        return;
      }
    }
    for (const turn of [...this.unjournaled.values()]) {
      if (!this.unjournaled.has(turn.id)) continue;
      try {
        await this.store.append(turn);
      } catch {
        return;
      }
      this.unjournaled.delete(turn.id);
      this.logger.info({ turnId: turn.id, agentId: turn.agentId }, 'memory turn held in memory is now journaled');
    }
  }

  private isIdle(): boolean {
    if (this.activeRequests > 0) return false;
    for (const lane of this.lanes.values()) if (!lane.isEmpty) return false;
    return true;
  }

  private resolveIdleWaiters(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

function buildWriter(options: Partial<MemoryQueueOptions>, deps: MemoryQueueDeps): TurnWriter {
  if (deps.writer) return deps.writer;
  if (!deps.letta) throw new TypeError('MemoryQueue needs deps.writer or deps.letta');
  return new LettaTurnWriter(deps.letta, {
    strategy: options.writeStrategy ?? MEMORY_DEFAULTS.writeStrategy,
    ...(options.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: options.requestTimeoutMs }),
  });
}
