import Letta from '@letta-ai/letta-client';
import { afterEach, describe, expect, it } from 'vitest';
import { startLettaServer, type LettaServer } from '../../simulation/stand-ins/letta-server.js';
import { waitFor } from '../support/wait-for.js';

let server: LettaServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function setUp() {
  server = await startLettaServer({ tokenDelayMs: 40, includeToolCalls: false, replyFor: () => Array.from({ length: 50 }, (_, i) => `w${i}`).join(' ') });
  const agent = server.seedAgent({ name: 'runs' });
  const client = new Letta({ baseURL: server.baseURL, apiKey: 'x', maxRetries: 0 });
  return { server, agent, client };
}

describe('Letta stand-in: runs and cancellation (Letta 0.16.8)', () => {
  it('streams carry the run id; the run is running, then completed', async () => {
    const { agent, client } = await setUp();
    server!.options.tokenDelayMs = 1;
    const stream = await client.agents.messages.create(agent.id, { messages: [{ role: 'user', content: 'hi' }], streaming: true, stream_tokens: true });
    const runIds = new Set<string>();
    for await (const event of stream) if ('run_id' in event && typeof event.run_id === 'string') runIds.add(event.run_id);
    expect(runIds.size).toBe(1);
    const [runId] = [...runIds];
    await waitFor(() => server!.runs.timeline(runId!)?.run.status === 'completed', 2_000);
    const run = await client.runs.retrieve(runId!);
    expect(run).toMatchObject({ id: runId, agent_id: agent.id, status: 'completed', stop_reason: 'end_turn' });
    expect(run.completed_at).toBeTruthy();
  });

  it('cancel by run id: the run is cancelled at once, the stream ends with stop_reason cancelled', async () => {
    const { agent, client } = await setUp();
    const stream = await client.agents.messages.create(agent.id, { messages: [{ role: 'user', content: 'hi' }], streaming: true, stream_tokens: true });
    const events: Array<{ message_type?: string; stop_reason?: string }> = [];
    let runId: string | undefined;
    const started = performance.now();
    for await (const event of stream) {
      events.push(event);
      if (runId === undefined && 'run_id' in event && typeof event.run_id === 'string') {
        runId = event.run_id;
        expect(await client.agents.messages.cancel(agent.id, { run_ids: [runId] })).toEqual({ [runId]: 'cancelled' });
        expect((await client.runs.retrieve(runId)).status).toBe('cancelled');
      }
    }
    // The loop noticed within about the 0.5 s check interval, long before the 2 s reply was done.
    expect(performance.now() - started).toBeLessThan(1_500);
    expect(events.at(-1)).toMatchObject({ message_type: 'stop_reason', stop_reason: 'cancelled' });
    const run = await client.runs.retrieve(runId!);
    expect(run).toMatchObject({ status: 'cancelled', stop_reason: 'cancelled' });
    // Idempotent on a finished run; unknown ids are reported failed.
    expect(await client.agents.messages.cancel(agent.id, { run_ids: [runId!, 'run-00000000-0000-4000-8000-000000000000'] })).toEqual({
      [runId!]: 'cancelled',
      'run-00000000-0000-4000-8000-000000000000': 'failed',
    });
  });

  it('cancel without run ids takes the active runs, or answers 409 when there are none', async () => {
    const { agent, client } = await setUp();
    await expect(client.agents.messages.cancel(agent.id)).rejects.toMatchObject({ status: 409 });
    const stream = await client.agents.messages.create(agent.id, { messages: [{ role: 'user', content: 'hi' }], streaming: true, stream_tokens: true });
    const [runId] = server!.runs.ids(agent.id);
    expect(await client.agents.messages.cancel(agent.id)).toEqual({ [runId!]: 'cancelled' });
    for await (const _event of stream) void _event;
    await expect(client.runs.retrieve('run-00000000-0000-4000-8000-000000000000')).rejects.toMatchObject({ status: 404 });
  });

  it('stallAfterPingNext: the initial run ping, then nothing until the run is cancelled', async () => {
    const { agent, client } = await setUp();
    server!.stallAfterPingNext(1);
    const stream = await client.agents.messages.create(agent.id, { messages: [{ role: 'user', content: 'hi' }], streaming: true, stream_tokens: true });
    const iterator = stream[Symbol.asyncIterator]();
    const first = (await iterator.next()).value as { message_type: string; run_id: string };
    expect(first.message_type).toBe('ping');
    const silent = await Promise.race([iterator.next().then(() => 'item'), new Promise((r) => setTimeout(() => r('silent'), 700))]);
    expect(silent).toBe('silent');
    await client.agents.messages.cancel(agent.id, { run_ids: [first.run_id] });
    await waitFor(() => server!.responses[0]!.completed || server!.runs.timeline(first.run_id)?.loopStoppedAt !== undefined, 2_000);
    expect(server!.runs.timeline(first.run_id)!.run.status).toBe('cancelled');
  });
});
