// The worker's load limit (src/worker-load.ts): the framework's measurement and comparison, made visible.
import { ServerOptions, type AgentServer } from '@livekit/agents';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { frameworkLoadThreshold, isProductionCommand, watchLoad } from '../../src/worker-load.js';

const worker = {} as AgentServer;

function recordingLogger() {
  const lines: Array<{ level: 'warn' | 'info'; fields: object; msg?: string }> = [];
  return {
    lines,
    warn: (fields: object, msg?: string) => lines.push({ level: 'warn', fields, msg }),
    info: (fields: object, msg?: string) => lines.push({ level: 'info', fields, msg }),
  };
}

function sequence(loads: number[]) {
  let i = 0;
  return async () => loads[Math.min(i++, loads.length - 1)]!;
}

describe('watchLoad', () => {
  it('warns once when the load reaches the threshold, with the load and the threshold, and says when it recovers', async () => {
    const logger = recordingLogger();
    const limit = watchLoad({ threshold: 0.7, measure: sequence([0.2, 0.85, 0.9, 0.3]), logger, remindEveryMs: 60_000, now: () => 0 });
    const reported = [];
    for (let i = 0; i < 4; i++) reported.push(await limit.loadFunc(worker));
    expect(reported).toEqual([0.2, 0.85, 0.9, 0.3]);
    expect(logger.lines.map((l) => l.level)).toEqual(['warn', 'info']);
    expect(logger.lines[0]!.fields).toEqual({ load: 0.85, loadThreshold: 0.7 });
    expect(logger.lines[0]!.msg).toMatch(/no new jobs.*WORKER_LOAD_THRESHOLD/s);
  });

  it('repeats the warning while the worker stays full', async () => {
    const logger = recordingLogger();
    let clock = 0;
    const limit = watchLoad({ threshold: 0.5, measure: sequence([0.9]), logger, remindEveryMs: 10_000, now: () => clock });
    for (let i = 0; i < 5; i++) {
      await limit.loadFunc(worker);
      clock += 2_500;
    }
    // warned at 0 and 10 000 ms
    expect(logger.lines.filter((l) => l.level === 'warn')).toHaveLength(2);
  });

  it('threshold 0 keeps the worker full even at zero load, through ServerOptions as cli.runApp rebuilds it', async () => {
    const logger = recordingLogger();
    const limit = watchLoad({ threshold: 0, measure: async () => 0, logger });
    // cli.js runServer: new ServerOptions({ ...opts, production }); a plain 0 would become the default 0.7 there.
    const rebuilt = new ServerOptions({ ...new ServerOptions({ agent: 'x.js', ...limit }), production: true });
    const load = await rebuilt.loadFunc(worker);
    expect(load >= rebuilt.loadThreshold).toBe(true); // worker.js: isFull = currentLoad >= loadThreshold
    expect(logger.lines[0]?.level).toBe('warn');
  });

  it('keeps a configured threshold through ServerOptions, and never marks a worker without a limit full', async () => {
    const logger = recordingLogger();
    const limit = watchLoad({ threshold: Infinity, measure: async () => 1, logger });
    expect(new ServerOptions({ agent: 'x.js', ...watchLoad({ threshold: 0.95, measure: async () => 0, logger }) }).loadThreshold).toBe(0.95);
    expect(await limit.loadFunc(worker)).toBe(1);
    expect(logger.lines).toEqual([]);
  });
});

describe('the default threshold follows the CLI mode, as in @livekit/agents', () => {
  it('is 0.7 for start and none for dev', () => {
    expect(isProductionCommand(['node', 'src/main.ts', 'start'])).toBe(true);
    expect(isProductionCommand(['node', 'src/main.ts', 'dev'])).toBe(false);
    expect(frameworkLoadThreshold(true)).toBe(new ServerOptions({ agent: 'x.js', production: true }).loadThreshold);
    expect(frameworkLoadThreshold(false)).toBe(new ServerOptions({ agent: 'x.js', production: false }).loadThreshold);
  });
});

describe('WORKER_LOAD_THRESHOLD', () => {
  const base = { DEEPGRAM_API_KEY: 'dg', OPENAI_API_KEY: 'sk' };
  it('accepts 0 to 1 or off, and leaves the framework default when unset', () => {
    expect(loadConfig({ ...base, WORKER_LOAD_THRESHOLD: '0.9' }, { requireLiveKit: false }).livekit.loadThreshold).toBe(0.9);
    expect(loadConfig({ ...base, WORKER_LOAD_THRESHOLD: '0' }, { requireLiveKit: false }).livekit.loadThreshold).toBe(0);
    expect(loadConfig({ ...base, WORKER_LOAD_THRESHOLD: '1' }, { requireLiveKit: false }).livekit.loadThreshold).toBe(1);
    expect(loadConfig({ ...base, WORKER_LOAD_THRESHOLD: '' }, { requireLiveKit: false }).livekit.loadThreshold).toBeUndefined();
    expect(loadConfig({ ...base, WORKER_LOAD_THRESHOLD: 'off' }, { requireLiveKit: false }).livekit.loadThreshold).toBe(Infinity);
  });
  it.each(['1.5', '-0.1', 'high', '70%'])('rejects %s naming the variable', (value) => {
    expect(() => loadConfig({ ...base, WORKER_LOAD_THRESHOLD: value }, { requireLiveKit: false })).toThrow(/WORKER_LOAD_THRESHOLD: must be a number from 0 to 1 .*or off/);
  });
});

describe('WORKER_IDLE_PROCESSES and WORKER_PROCESS_START_TIMEOUT_MS', () => {
  const base = { DEEPGRAM_API_KEY: 'dg', OPENAI_API_KEY: 'sk' };
  const livekit = (env: Record<string, string>) => loadConfig({ ...base, ...env }, { requireLiveKit: false }).livekit;
  it('default to the framework: its idle-process rule and a 10 s start limit', () => {
    expect(livekit({}).idleProcesses).toBeUndefined();
    expect(livekit({ WORKER_IDLE_PROCESSES: '0' }).idleProcesses).toBeUndefined();
    expect(livekit({}).processStartTimeoutMs).toBe(10_000);
  });
  it('take bounded values and name the variable when out of bounds', () => {
    expect(livekit({ WORKER_IDLE_PROCESSES: '2', WORKER_PROCESS_START_TIMEOUT_MS: '60000' })).toMatchObject({ idleProcesses: 2, processStartTimeoutMs: 60_000 });
    expect(() => livekit({ WORKER_IDLE_PROCESSES: '17' })).toThrow(/WORKER_IDLE_PROCESSES: must be a whole number from 0 to 16/);
    expect(() => livekit({ WORKER_PROCESS_START_TIMEOUT_MS: '999999999999' })).toThrow(/WORKER_PROCESS_START_TIMEOUT_MS: must be a whole number from 1000 to 300000 ms/);
  });
});
