import type Letta from '@letta-ai/letta-client';
import type { Config } from '../config.js';
import { describeLettaError } from './errors.js';

export const DEFAULT_PERSONA =
  'I am a warm, concise voice assistant. I speak in short sentences, remember what people tell me, and use it naturally.';
export const DEFAULT_HUMAN = 'Nothing is known about this person yet.';

export interface ResolvedAgent {
  id: string;
  name: string;
  created: boolean;
}

/**
 * Finds the Letta agent that holds this deployment's memory: by LETTA_AGENT_ID, else by LETTA_AGENT_NAME,
 * else creates it with persona/human blocks. Callers run it once per process.
 */
export async function resolveLettaAgent(client: Letta, letta: Config['letta']): Promise<ResolvedAgent> {
  if (letta.agentId) {
    try {
      const agent = await client.agents.retrieve(letta.agentId);
      return { id: agent.id, name: agent.name, created: false };
    } catch (err) {
      throw describeLettaError(`retrieve agent ${letta.agentId} (LETTA_AGENT_ID)`, letta.baseURL, err);
    }
  }
  try {
    const matches = await client.agents.list({ name: letta.agentName, limit: 10 });
    const existing = matches.items.find((a) => a.name === letta.agentName);
    if (existing) return { id: existing.id, name: existing.name, created: false };
  } catch (err) {
    throw describeLettaError(`find agent named "${letta.agentName}"`, letta.baseURL, err);
  }
  try {
    const created = await client.agents.create({
      name: letta.agentName,
      model: letta.model,
      ...(letta.embedding ? { embedding: letta.embedding } : {}),
      memory_blocks: [
        { label: 'persona', value: DEFAULT_PERSONA },
        { label: 'human', value: DEFAULT_HUMAN },
      ],
    });
    return { id: created.id, name: created.name, created: true };
  } catch (err) {
    throw describeLettaError(`create agent "${letta.agentName}"`, letta.baseURL, err);
  }
}

/** Memoises the bootstrap so every session in a process shares one lookup; a failure is retried next time. */
export function onceLettaAgent(client: Letta, letta: Config['letta']): () => Promise<ResolvedAgent> {
  let pending: Promise<ResolvedAgent> | undefined;
  return () => {
    pending ??= resolveLettaAgent(client, letta).catch((err: unknown) => {
      pending = undefined;
      throw err;
    });
    return pending;
  };
}
