import type Letta from '@letta-ai/letta-client';
import type { AgentState } from '@letta-ai/letta-client/resources/agents/agents';
import { DEFAULT_HUMAN, type ResolvedAgent } from '../letta/agent-bootstrap.js';
import { describeLettaError } from '../letta/errors.js';
import { callerAgentName, callerAgentTags } from './caller-tags.js';
import { winnerOf } from './converge.js';
import { findOrCreateSharedPersona } from './shared-persona.js';

export interface CallerAgentLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface CallerAgentDirectoryOptions {
  client: Letta;
  /** Deployment name (AGENT_NAME): tags every caller agent so deployments sharing a Letta never mix callers. */
  appName: string;
  baseURL: string;
  model: string;
  embedding?: string;
  logger: CallerAgentLogger;
}

/** How many agents one caller can have at most while a race is being settled; more means something else is wrong. */
const LIST_LIMIT = 20;

/**
 * Maps a caller's identity to their own Letta agent: found by tags, else created with the shared persona block
 * (attached by id) and a `human` block of their own. Lookups are single-flight per identity and found agents are
 * cached for the process. Two first calls racing converge on one agent (see converge.ts); the loser deletes the
 * agent it just created, before anything was written to it (its id is never handed out).
 */
export class CallerAgentDirectory {
  private readonly known = new Map<string, ResolvedAgent>();
  private readonly lookups = new Map<string, Promise<ResolvedAgent | undefined>>();
  private readonly resolutions = new Map<string, Promise<ResolvedAgent>>();
  private persona: Promise<string> | undefined;

  constructor(private readonly options: CallerAgentDirectoryOptions) {}

  /** The caller's agent if one exists (undefined for a first-time caller). Rejects when Letta cannot be asked. */
  lookup(identity: string): Promise<ResolvedAgent | undefined> {
    const cached = this.known.get(identity);
    if (cached) return Promise.resolve(cached);
    let pending = this.lookups.get(identity);
    if (!pending) {
      pending = this.listAgents(identity)
        .then((agents) => {
          const winner = winnerOf(agents);
          if (!winner) return undefined;
          if (agents.length > 1) this.logDuplicates(identity, winner, agents);
          return this.remember(identity, { id: winner.id, name: winner.name, created: false });
        })
        .finally(() => this.lookups.delete(identity));
      this.lookups.set(identity, pending);
    }
    return pending;
  }

  /** The caller's agent, created when they have none. Failures are not cached: the next call tries again. */
  resolve(identity: string): Promise<ResolvedAgent> {
    const cached = this.known.get(identity);
    if (cached) return Promise.resolve(cached);
    let pending = this.resolutions.get(identity);
    if (!pending) {
      pending = this.lookup(identity)
        .then((found) => found ?? this.createAndConverge(identity))
        .finally(() => this.resolutions.delete(identity));
      this.resolutions.set(identity, pending);
    }
    return pending;
  }

  private async createAndConverge(identity: string): Promise<ResolvedAgent> {
    const { client, appName, baseURL, model, embedding, logger } = this.options;
    const personaId = await this.sharedPersona();
    let created: AgentState;
    try {
      created = await client.agents.create({
        name: callerAgentName(appName, identity),
        model,
        ...(embedding ? { embedding } : {}),
        tags: callerAgentTags(appName, identity),
        block_ids: [personaId],
        memory_blocks: [{ label: 'human', value: DEFAULT_HUMAN }],
      });
    } catch (err) {
      throw describeLettaError(`create the Letta agent of caller ${identity}`, baseURL, err);
    }
    const agents = await this.listAgents(identity);
    const winner = winnerOf(agents.some((a) => a.id === created.id) ? agents : [...agents, created]) ?? created;
    if (winner.id !== created.id) {
      logger.info(
        { callerIdentity: identity, kept: winner.id, dropped: created.id },
        'two first calls created an agent for the same caller: keeping the oldest, deleting ours',
      );
      await client.agents.delete(created.id).catch((err: unknown) =>
        logger.warn({ callerIdentity: identity, agentId: created.id, err: String(err) }, 'could not delete the losing duplicate agent; lookups ignore it'),
      );
      return this.remember(identity, { id: winner.id, name: winner.name, created: false });
    }
    logger.info({ callerIdentity: identity, lettaAgentId: created.id }, 'created a Letta agent for a first-time caller');
    return this.remember(identity, { id: created.id, name: created.name, created: true });
  }

  private sharedPersona(): Promise<string> {
    const { client, appName, baseURL, logger } = this.options;
    this.persona ??= findOrCreateSharedPersona({ client, appName, baseURL, logger }).catch((err: unknown) => {
      this.persona = undefined;
      throw err;
    });
    return this.persona;
  }

  private async listAgents(identity: string): Promise<AgentState[]> {
    const { client, appName, baseURL } = this.options;
    try {
      const page = await client.agents.list({ tags: callerAgentTags(appName, identity), match_all_tags: true, order: 'asc', limit: LIST_LIMIT });
      return page.items;
    } catch (err) {
      throw describeLettaError(`find the Letta agent of caller ${identity}`, baseURL, err);
    }
  }

  private remember(identity: string, agent: ResolvedAgent): ResolvedAgent {
    this.known.set(identity, agent);
    return agent;
  }

  private logDuplicates(identity: string, winner: AgentState, agents: readonly AgentState[]): void {
    this.options.logger.warn(
      { callerIdentity: identity, kept: winner.id, ignored: agents.filter((a) => a.id !== winner.id).map((a) => a.id) },
      'caller has more than one agent (a race whose loser could not be deleted): using the oldest',
    );
  }
}
