import { execFile } from 'node:child_process';
import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryQueue } from '../../src/memory/memory-queue.js';
import { FakeTurnWriter, rejected, turnInput } from './fake-turn-writer.js';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
const script = (name: string, ...args: string[]) =>
  run(process.execPath, ['--import', 'tsx', join(root, 'scripts', name), ...args], { cwd: root }).then((r) => r.stdout);

let dataDir: string;
beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'memory-cli-'));
});
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

describe('memory CLI scripts', () => {
  it('status and dead-letters read a stopped worker; requeue moves a dead letter back to pending', async () => {
    const writer = new FakeTurnWriter((call) =>
      call.agentId === 'agent-bad' ? { kind: 'fail', error: rejected(422, 'Letta answered 422 unprocessable turn') } : { kind: 'ok' },
    );
    writer.delayMs = 5;
    const queue = await MemoryQueue.open({ dataDir }, { writer });
    const bad = await queue.enqueue(turnInput('agent-bad', 0));
    await queue.whenIdle();
    writer.gate = new Promise(() => {});
    await queue.enqueue(turnInput('agent-slow', 0));
    await queue.enqueue(turnInput('agent-slow', 1));
    await queue.close({ deadlineMs: 0 });

    const status = JSON.parse(await script('memory-status.ts', '--data-dir', dataDir, '--json')) as {
      slots: Array<{ worker: { state: string } }>;
      backlog: Array<{ agentId: string; pending: number }>;
      deadLetters: Array<{ reason: string }>;
    };
    expect(status.slots.map((slot) => slot.worker.state)).toEqual(['stopped']);
    expect(status.backlog).toEqual([expect.objectContaining({ agentId: 'agent-slow', pending: 2 })]);
    expect(status.deadLetters).toEqual([expect.objectContaining({ reason: 'Letta answered 422 unprocessable turn', status: 422 })]);

    const listed = await script('memory-dead-letters.ts', 'list', '--data-dir', dataDir);
    expect(listed).toContain(bad.id);
    expect(listed).toContain('422 unprocessable turn');

    expect(await script('memory-dead-letters.ts', 'requeue', bad.id, '--data-dir', dataDir)).toContain('requeued 1 turn(s)');
    const text = await script('memory-status.ts', '--data-dir', dataDir);
    expect(text).toContain('Depth: 3 turn(s) pending across 2 agent(s)');
    expect(text).toContain('Dead letters: 0');
  });

  it('status shows quarantined lines with their origin', async () => {
    const queue = await MemoryQueue.open({ dataDir }, { writer: new FakeTurnWriter() });
    await queue.close({ deadlineMs: 0 });
    await appendFile(join(dataDir, 'worker-0', 'journal.jsonl'), Buffer.concat([Buffer.from('{"v":1,"type":"turn","turn":{"userText":"caf'), Buffer.from([0xe9]), Buffer.from('"}}\n')]));
    // Opening the queue moves the line to the quarantine before compacting.
    await (await MemoryQueue.open({ dataDir }, { writer: new FakeTurnWriter() })).close({ deadlineMs: 0 });
    const text = await script('memory-status.ts', '--data-dir', dataDir);
    expect(text).toContain('Quarantined (unreadable journal lines, kept byte for byte): 1');
    expect(text).toMatch(/journal\.jsonl line 1 \(offset 0, 48 B, .*\): invalid UTF-8: \{"v":1,"type":"turn","turn":\{"userText":"caf\uFFFD"\}\}/);
  });
});
