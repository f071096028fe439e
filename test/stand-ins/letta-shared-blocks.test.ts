/** Letta stand-in: standalone blocks shared by agents (block_ids), block and agent deletion, through the real SDK. */
import Letta, { NotFoundError } from '@letta-ai/letta-client';
import { afterEach, describe, expect, it } from 'vitest';
import { startLettaServer, type LettaServer } from '../../simulation/stand-ins/letta-server.js';

let server: LettaServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(): Promise<Letta> {
  server = await startLettaServer({ apiKey: null });
  return new Letta({ baseURL: server.baseURL, apiKey: 'unused', maxRetries: 0 });
}

describe('shared blocks', () => {
  it('lists standalone blocks by label and tags, oldest first, and attaches one block to many agents', async () => {
    const client = await start();
    const first = await client.blocks.create({ label: 'persona', value: 'I am Ada.', read_only: true, tags: ['app:x', 'shared-persona'] });
    await client.blocks.create({ label: 'persona', value: 'Other app.', tags: ['app:y', 'shared-persona'] });
    const second = await client.blocks.create({ label: 'persona', value: 'Later copy.', tags: ['app:x', 'shared-persona'] });
    const found = await client.blocks.list({ label: 'persona', tags: ['app:x', 'shared-persona'], match_all_tags: true });
    expect(found.items.map((b) => b.id)).toEqual([first.id, second.id]);
    expect(found.items[0]).toMatchObject({ read_only: true, value: 'I am Ada.' });
    const newest = await client.blocks.list({ label: 'persona', tags: ['app:x'], order: 'desc', limit: 1 });
    expect(newest.items.map((b) => b.id)).toEqual([second.id]);

    const a = await client.agents.create({ name: 'a', block_ids: [first.id, 'block-00000000-0000-4000-8000-000000000000'], memory_blocks: [{ label: 'human', value: 'A' }], tags: ['caller:a'] });
    const b = await client.agents.create({ name: 'b', block_ids: [first.id], memory_blocks: [{ label: 'human', value: 'B' }] });
    // Attached blocks come first (unknown ids are ignored), then the created ones.
    const aBlocks = (await client.agents.blocks.list(a.id)).items;
    expect(aBlocks.map((x) => x.label)).toEqual(['persona', 'human']);
    expect(aBlocks[0]!.id).toBe(first.id);
    // One block: an edit through one agent shows in the other.
    await client.agents.blocks.update('persona', { agent_id: a.id, value: 'I am Ada, edited.' });
    expect((await client.agents.blocks.retrieve('persona', { agent_id: b.id })).value).toBe('I am Ada, edited.');
    expect((await client.agents.list({ tags: ['caller:a'], match_all_tags: true })).items.map((x) => x.id)).toEqual([a.id]);
  });

  it('deletes agents and blocks (a deleted block is detached from every agent)', async () => {
    const client = await start();
    const shared = await client.blocks.create({ label: 'persona', value: 'P' });
    const agent = await client.agents.create({ name: 'gone', block_ids: [shared.id], memory_blocks: [{ label: 'human', value: 'H' }] });
    await client.blocks.delete(shared.id);
    expect((await client.agents.blocks.list(agent.id)).items.map((x) => x.label)).toEqual(['human']);
    await expect(client.blocks.delete(shared.id)).rejects.toBeInstanceOf(NotFoundError);
    await client.agents.delete(agent.id);
    await expect(client.agents.retrieve(agent.id)).rejects.toBeInstanceOf(NotFoundError);
    expect(server!.agentIds()).not.toContain(agent.id);
  });
});
