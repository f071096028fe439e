// Issue 12 item 4: core memory is re-read only when a write may have changed it. The writer reads that off Letta's
// answer (a tool call that may edit blocks), through the real SDK against the local Letta stand-in, whose agent
// edits memory only for the lines the test says it should; the queue hands the outcome to its listeners.
import Letta from '@letta-ai/letta-client';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startLettaServer, type LettaServer } from '../../simulation/stand-ins/letta-server.js';
import { LettaTurnWriter, mayHaveEditedBlocks } from '../../src/memory/letta-turn-writer.js';
import { MemoryQueue } from '../../src/memory/memory-queue.js';
import type { WriteOutcome } from '../../src/memory/turn-writer.js';
import { createPendingTurn } from '../../src/memory/turn.js';
import { turnInput } from './fake-turn-writer.js';

const REMEMBER = 'my sister is called Ann';

let server: LettaServer;
let dataDir: string;
beforeEach(async () => {
  server = await startLettaServer({
    messageLatencyMs: 2,
    tokenDelayMs: 0,
    memoryFactFor: (_agent, userText) => (userText === REMEMBER ? `Sam's sister is Ann.` : null),
  });
  dataDir = await mkdtemp(join(tmpdir(), 'write-outcome-'));
});
afterEach(async () => {
  await server.close();
  await rm(dataDir, { recursive: true, force: true });
});

const client = () => new Letta({ baseURL: server.baseURL, apiKey: 'test-key', maxRetries: 0, timeout: 2_000 });
const turn = (agentId: string, n: number, userText: string) => createPendingTurn({ ...turnInput(agentId, n), userText }, Date.now());
const signal = () => new AbortController().signal;

describe('which writes may have changed core memory', () => {
  it('agent strategy: only a step that called a memory tool', async () => {
    const agentId = server.seedAgent({ blocks: [{ label: 'human', value: 'Sam' }] }).id;
    const writer = new LettaTurnWriter(client(), { strategy: 'agent' });
    expect(await writer.write(agentId, [turn(agentId, 0, 'what time is it')], signal())).toEqual({ coreMemoryMayHaveChanged: false });
    expect(await writer.write(agentId, [turn(agentId, 1, REMEMBER)], signal())).toEqual({ coreMemoryMayHaveChanged: true });
    expect(server.blocksOf(agentId).find((b) => b.label === 'human')?.value).toContain('Ann');
  });

  it('a resent batch whose earlier attempt landed counts as changed: that step was never seen', async () => {
    const agentId = server.seedAgent({ blocks: [{ label: 'human', value: 'Sam' }] }).id;
    const writer = new LettaTurnWriter(client(), { strategy: 'agent' });
    const first = turn(agentId, 0, 'what time is it');
    await writer.write(agentId, [first], signal()); // landed, but pretend the answer was lost
    expect(await writer.write(agentId, [{ ...first, attempts: 2 }], signal())).toEqual({ coreMemoryMayHaveChanged: true });
    const second = turn(agentId, 1, 'and in Paris');
    expect(await writer.write(agentId, [{ ...first, attempts: 3 }, { ...second, attempts: 2 }], signal())).toEqual({ coreMemoryMayHaveChanged: true });
    expect(server.duplicatesOf(agentId)).toEqual([]);
  });

  it('archival strategy never changes core memory', async () => {
    const agentId = server.seedAgent({ blocks: [{ label: 'human', value: 'Sam' }] }).id;
    const writer = new LettaTurnWriter(client(), { strategy: 'archival' });
    expect(await writer.write(agentId, [turn(agentId, 0, REMEMBER)], signal())).toEqual({ coreMemoryMayHaveChanged: false });
  });

  it('the queue passes the outcome to its acknowledgement listeners', async () => {
    const agentId = server.seedAgent({ blocks: [{ label: 'human', value: 'Sam' }] }).id;
    const queue = await MemoryQueue.open({ dataDir, retryBaseMs: 10, retryMaxMs: 50 }, { letta: client() });
    const outcomes: WriteOutcome[] = [];
    queue.onAcknowledged((_agentId, _turns, outcome) => outcomes.push(outcome));
    try {
      await queue.enqueue({ ...turnInput(agentId, 0), userText: 'what time is it' });
      await queue.whenIdle();
      await queue.enqueue({ ...turnInput(agentId, 1), userText: REMEMBER });
      await queue.whenIdle();
    } finally {
      await queue.close({ deadlineMs: 0 });
    }
    expect(outcomes.map((o) => o.coreMemoryMayHaveChanged)).toEqual([false, true]);
  });

  it('reads tool names off Letta 0.16.8 message shapes; unknown or unnamed tools count as edits', () => {
    const call = (name: string | null, type = 'tool_call_message') => ({ message_type: type, tool_call: { name } });
    expect(mayHaveEditedBlocks([{ message_type: 'reasoning_message' }, { message_type: 'assistant_message' }])).toBe(false);
    expect(mayHaveEditedBlocks([call('send_message'), call('archival_memory_search'), call('conversation_search')])).toBe(false);
    for (const tool of ['core_memory_append', 'core_memory_replace', 'memory_insert', 'memory_replace', 'memory_rethink', 'memory', 'memory_apply_patch', 'my_custom_tool']) {
      expect(mayHaveEditedBlocks([call(tool)])).toBe(true);
    }
    expect(mayHaveEditedBlocks([call(null)])).toBe(true);
    expect(mayHaveEditedBlocks([call('core_memory_append', 'approval_request_message')])).toBe(true);
    // Parallel tool calls (tool_calls) win over the deprecated single tool_call.
    expect(mayHaveEditedBlocks([{ message_type: 'tool_call_message', tool_call: { name: 'send_message' }, tool_calls: [{ name: 'send_message' }, { name: 'memory_insert' }] }])).toBe(true);
  });
});
