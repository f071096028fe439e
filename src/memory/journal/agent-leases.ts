import { createHash } from 'node:crypto';
import { mkdir, readdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { DataDirLock, DataDirLockedError, isOwnerAlive } from './data-dir-lock.js';
import { nodeJournalFs, type JournalFs } from './journal-fs.js';

const POLL_MS = 10;
const TICKET_PREFIX = 'ticket-';
/** Tickets this process holds (all instances): any other ticket naming our pid is a leftover of an aborted wait. */
const ticketsOfThisProcess = new Set<string>();
let sequence = 0;
const HEAD_PREFIX = 'head-';
/** Head markers of live stores in this process (several queues in one process, as in tests). */
const headsOfThisProcess = new Set<string>();
let instances = 0;

export type LeaseRelease = () => Promise<void>;

/**
 * Cross-process "one request per agent at a time": every job process writing to, or replying
 * through, the same Letta agent takes this file lease first. A lease of a dead process is
 * taken over, so a crash never blocks an agent.
 *
 * Fair: a waiter first draws a ticket (a link named by the time it started waiting) and only
 * the oldest live ticket may take the lock, so a process that releases and asks again queues
 * behind the processes already waiting (FIFO) instead of winning every race.
 *
 * A lease that cannot be created (disk full, inodes exhausted, read-only) must not stop
 * delivery or a reply: the caller then goes ahead with in-process exclusion only, and
 * onUnavailable reports it.
 */
export class AgentLeases {
  private readonly created = new Set<string>();
  private readonly headName = `${HEAD_PREFIX}${process.pid}-${instances++}`;
  /** Last published head per agent dir, and the chain that keeps publishes in call order. */
  private readonly heads = new Map<string, { userAt: number | undefined; chain: Promise<void> }>();

  constructor(
    private readonly dir: string,
    private readonly onUnavailable: (agentId: string, error: unknown) => void = () => {},
    private readonly fs: JournalFs = nodeJournalFs,
  ) {}

  async acquire(agentId: string, signal?: AbortSignal): Promise<LeaseRelease> {
    let ticket: string;
    let dir: string;
    try {
      dir = await this.dirOf(agentId);
      ticket = await this.drawTicket(dir);
    } catch (error) {
      this.onUnavailable(agentId, error);
      return async () => {};
    }
    try {
      for (;;) {
        signal?.throwIfAborted();
        if (await this.isFirstInLine(dir, ticket)) {
          try {
            const lock = await DataDirLock.acquire(dir, this.fs);
            return () => lock.release();
          } catch (error) {
            if (!(error instanceof DataDirLockedError)) {
              this.onUnavailable(agentId, error);
              return async () => {};
            }
          }
        }
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
    } finally {
      ticketsOfThisProcess.delete(ticket);
      await this.fs.unlink(join(dir, ticket)).catch(() => {});
    }
  }

  /**
   * Publishes when this process's earliest undelivered turn for the agent was spoken (undefined:
   * none), so other processes holding later turns let it go first: turns of overlapping calls
   * reach Letta in the order they were spoken. Best effort: a marker that cannot be written only
   * weakens the order, never blocks delivery.
   */
  publishHead(agentId: string, userAt: number | undefined): Promise<void> {
    const key = agentId;
    const entry = this.heads.get(key) ?? { userAt: undefined, chain: Promise.resolve() };
    if (entry.userAt === userAt) return entry.chain;
    entry.userAt = userAt;
    entry.chain = entry.chain.then(() => this.writeHead(agentId, userAt)).catch(() => {});
    this.heads.set(key, entry);
    return entry.chain;
  }

  /** When the earliest undelivered turn of any other live process was spoken, if it has one. */
  async earliestHeadElsewhere(agentId: string): Promise<number | undefined> {
    let dir: string;
    try {
      dir = await this.dirOf(agentId);
    } catch {
      return undefined;
    }
    let earliest: number | undefined;
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (!name.startsWith(HEAD_PREFIX) || name === this.headName) continue;
      const target = await this.fs.readlink(join(dir, name)).catch(() => undefined);
      const match = target === undefined ? null : /^(\d+)@(\d+):(\d+):(.+)$/.exec(target);
      if (!match) continue;
      const owner = { pid: Number(match[2]), startedAt: Number(match[3]), host: match[4] };
      const live = owner.pid === process.pid && owner.host === hostname() ? headsOfThisProcess.has(name) : isOwnerAlive(owner);
      if (!live) {
        await this.fs.unlink(join(dir, name)).catch(() => {});
        continue;
      }
      earliest = Math.min(earliest ?? Number.POSITIVE_INFINITY, Number(match[1]));
    }
    return earliest;
  }

  /** Removes this process's head markers (its queue closed; turns left behind are adopted by others). */
  async clearHeads(): Promise<void> {
    await Promise.all([...this.heads.keys()].map((agentId) => this.publishHead(agentId, undefined)));
    headsOfThisProcess.delete(this.headName);
  }

  private async writeHead(agentId: string, userAt: number | undefined): Promise<void> {
    const path = join(await this.dirOf(agentId), this.headName);
    if (userAt === undefined) {
      await this.fs.unlink(path).catch(() => {});
      return;
    }
    headsOfThisProcess.add(this.headName);
    const tmp = join(dirname(path), `tmp-${this.headName}-${Math.random().toString(36).slice(2)}`);
    await this.fs.symlink(`${userAt}@${process.pid}:${Date.now()}:${hostname()}`, tmp);
    await this.fs.rename(tmp, path);
  }

  private async dirOf(agentId: string): Promise<string> {
    const dir = join(this.dir, createHash('sha256').update(agentId).digest('hex').slice(0, 32));
    if (!this.created.has(dir)) {
      await mkdir(dir, { recursive: true });
      this.created.add(dir);
    }
    return dir;
  }

  private async drawTicket(dir: string): Promise<string> {
    // Fixed-width time first, so names sort in the order the waits began.
    const name = `${TICKET_PREFIX}${String(Date.now()).padStart(15, '0')}-${String(process.pid).padStart(10, '0')}-${String(sequence++).padStart(8, '0')}`;
    await this.fs.symlink(`${process.pid}:${Date.now()}:${hostname()}`, join(dir, name));
    ticketsOfThisProcess.add(name);
    return name;
  }

  /** Tickets of dead processes (and our own abandoned ones) are removed, so they never block the line. */
  private async isFirstInLine(dir: string, ticket: string): Promise<boolean> {
    const tickets = (await readdir(dir)).filter((name) => name.startsWith(TICKET_PREFIX)).sort();
    for (const name of tickets) {
      if (name === ticket) return true;
      if (await this.isLive(dir, name)) return false;
      await this.fs.unlink(join(dir, name)).catch(() => {});
    }
    // Our ticket vanished (removed by hand): still allowed to compete.
    return true;
  }

  private async isLive(dir: string, name: string): Promise<boolean> {
    const target = await this.fs.readlink(join(dir, name)).catch(() => undefined);
    const match = target === undefined ? null : /^(\d+):(\d+):(.+)$/.exec(target);
    if (!match) return false;
    const owner = { pid: Number(match[1]), startedAt: Number(match[2]), host: match[3] };
    if (owner.pid === process.pid && owner.host === hostname()) return ticketsOfThisProcess.has(name);
    return isOwnerAlive(owner);
  }
}
