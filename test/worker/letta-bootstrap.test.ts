import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_HUMAN, DEFAULT_PERSONA, resolveLettaAgent } from '../../src/letta/agent-bootstrap.js';
import { createLettaClient } from '../../src/letta/client.js';
import { LettaAccessError } from '../../src/letta/errors.js';
import type { Config } from '../../src/config.js';
import { startLettaServer, type LettaServer } from '../../simulation/stand-ins/letta-server.js';

let server: LettaServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

function lettaConfig(overrides: Partial<Config['letta']>): Config['letta'] {
  return { baseURL: server!.baseURL, apiKey: 'letta-key', agentName: 'Agent_66', model: 'openai/gpt-4o-mini', timeoutMs: 2_000, ...overrides };
}

describe('Letta agent bootstrap', () => {
  it('uses LETTA_AGENT_ID when set', async () => {
    server = await startLettaServer({ apiKey: 'letta-key' });
    const seeded = server.seedAgent({ name: 'Someone else' });
    const config = lettaConfig({ agentId: seeded.id });
    await expect(resolveLettaAgent(createLettaClient(config), config)).resolves.toEqual({ id: seeded.id, name: 'Someone else', created: false });
  });

  it('finds the agent by name before creating one', async () => {
    server = await startLettaServer({ apiKey: 'letta-key' });
    server.seedAgent({ name: 'Other' });
    const seeded = server.seedAgent({ name: 'Agent_66' });
    const config = lettaConfig({});
    await expect(resolveLettaAgent(createLettaClient(config), config)).resolves.toMatchObject({ id: seeded.id, created: false });
    expect(server.agentIds()).toHaveLength(2);
  });

  it('creates the agent with persona and human blocks and the configured model', async () => {
    server = await startLettaServer({ apiKey: 'letta-key' });
    const config = lettaConfig({ model: 'openai/gpt-4.1-mini' });
    const agent = await resolveLettaAgent(createLettaClient(config), config);

    expect(agent.created).toBe(true);
    expect(server.agentState(agent.id)).toMatchObject({ name: 'Agent_66' });
    const blocks = Object.fromEntries(server.blocksOf(agent.id).map((b) => [b.label, b.value]));
    expect(blocks).toMatchObject({ persona: DEFAULT_PERSONA, human: DEFAULT_HUMAN });
    const create = server.requests.find((r) => r.route === 'agents.create');
    expect(create?.body).toMatchObject({ model: 'openai/gpt-4.1-mini' });
  });

  it('says clearly when Letta rejects the key, without quoting it', async () => {
    server = await startLettaServer({ apiKey: 'the-right-key' });
    const config = lettaConfig({ apiKey: 'wrong-key-value' });
    const error = await resolveLettaAgent(createLettaClient(config), config).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LettaAccessError);
    expect((error as LettaAccessError).kind).toBe('unauthorized');
    expect((error as Error).message).toContain('LETTA_API_KEY');
    expect((error as Error).message).not.toContain('wrong-key-value');
  });

  it('says clearly when Letta is unreachable', async () => {
    server = await startLettaServer();
    await server.refuse();
    const config = lettaConfig({});
    const error = await resolveLettaAgent(createLettaClient(config), config).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LettaAccessError);
    expect((error as LettaAccessError).kind).toBe('unreachable');
    expect((error as Error).message).toContain(server.baseURL);
  });
});
