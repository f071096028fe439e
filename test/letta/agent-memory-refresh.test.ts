// Core memory is re-read only after writes that may have changed it (agent strategy, and a memory tool was called
// or the writer cannot tell), and a burst of acknowledgements shares one read. Against the local Letta stand-in
// through the real SDK.
import { afterEach, describe, expect, it } from 'vitest';
import { startLettaServer, type LettaServer } from '../../simulation/stand-ins/letta-server.js';
import { LettaAgentMemory } from '../../src/letta/agent-memory.js';
import { createLettaClient } from '../../src/letta/client.js';

let server: LettaServer | undefined;
let memory: LettaAgentMemory | undefined;
afterEach(async () => {
  memory?.close();
  await server?.close();
  server = undefined;
  memory = undefined;
});

const silent = { info: () => undefined, warn: () => undefined };

async function ready(): Promise<{ memory: LettaAgentMemory; reads: () => number }> {
  server = await startLettaServer({ apiKey: 'k' });
  const agent = server.seedAgent({ name: 'Agent_66', blocks: [{ label: 'human', value: 'Sam' }] });
  const letta = { baseURL: server.baseURL, apiKey: 'k', agentId: agent.id, agentName: 'Agent_66', model: 'openai/gpt-4o-mini', timeoutMs: 5_000 };
  memory = new LettaAgentMemory({ client: createLettaClient(letta), letta, logger: silent, refreshCoalesceMs: 50 });
  expect(await memory.refreshAtSessionStart(5_000)).toBe(true);
  const reads = () => server!.requests.filter((r) => r.route === 'blocks.list').length;
  return { memory, reads };
}

describe('LettaAgentMemory.afterWritesAcknowledged', () => {
  it('re-reads core memory once for a burst of acknowledged agent writes', async () => {
    const { memory, reads } = await ready();
    const before = reads();
    for (let i = 0; i < 5; i++) memory.afterWritesAcknowledged('agent');
    await memory.settled();
    expect(reads() - before).toBe(1);
    memory.afterWritesAcknowledged('agent'); // a later write: another read
    await memory.settled();
    expect(reads() - before).toBe(2);
  });

  it('does not read after an agent write whose step called no tool that edits memory', async () => {
    const { memory, reads } = await ready();
    const before = reads();
    memory.afterWritesAcknowledged('agent', { coreMemoryMayHaveChanged: false });
    await memory.settled();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(reads()).toBe(before);
    memory.afterWritesAcknowledged('agent', {}); // the writer could not tell: read
    await memory.settled();
    expect(reads() - before).toBe(1);
  });

  it('does not read after archival inserts (they never touch core memory)', async () => {
    const { memory, reads } = await ready();
    const before = reads();
    memory.afterWritesAcknowledged('archival');
    await memory.settled();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(reads()).toBe(before);
  });
});
