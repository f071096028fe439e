import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

const repo = path.resolve(import.meta.dirname, '../..');
const validEnv = {
  LIVEKIT_URL: 'wss://example.livekit.cloud',
  LIVEKIT_API_KEY: 'APIkey123',
  LIVEKIT_API_SECRET: 'livekit-secret-value',
  OPENAI_API_KEY: 'sk-openai-secret-value',
  DEEPGRAM_API_KEY: 'deepgram-secret-value',
};

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  return [];
}

describe('configuration', () => {
  it('applies documented defaults', () => {
    const config = loadConfig(validEnv);
    expect(config.hybridStreaming).toBe(true);
    expect(config.openai.model).toBe('gpt-4o-mini');
    expect(config.letta.baseURL).toBe('http://localhost:8283');
    expect(config.letta.agentName).toBe('Agent_66');
    expect(config.tts.provider).toBe('openai');
    expect(config.memory.writeStrategy).toBe('agent');
  });

  it('switches to the full Letta path and to Cartesia when asked', () => {
    const config = loadConfig({ ...validEnv, USE_HYBRID_STREAMING: 'false', CARTESIA_API_KEY: 'cartesia-key', CARTESIA_VOICE: 'voice-1' });
    expect(config.hybridStreaming).toBe(false);
    expect(config.tts).toMatchObject({ provider: 'cartesia', voice: 'voice-1' });
  });

  it('lets a keyless OpenAI-compatible server replace api.openai.com', () => {
    const { OPENAI_API_KEY: _unused, ...withoutKey } = validEnv;
    const config = loadConfig({ ...withoutKey, OPENAI_BASE_URL: 'http://127.0.0.1:11434/v1' });
    expect(config.openai.baseURL).toBe('http://127.0.0.1:11434/v1');
  });

  it('names every bad variable in one error', () => {
    const problems = problemsOf({
      USE_HYBRID_STREAMING: 'maybe',
      LETTA_BASE_URL: 'not a url',
      MEMORY_BATCH_MAX: '0',
      MEMORY_WRITE_STRATEGY: 'sometimes',
      DEEPGRAM_BASE_URL: 'ftp://example.com',
    });
    const named = problems.map((p) => p.split(':')[0]);
    expect(named.sort()).toEqual(
      [
        'USE_HYBRID_STREAMING',
        'LETTA_BASE_URL',
        'MEMORY_BATCH_MAX',
        'MEMORY_WRITE_STRATEGY',
        'DEEPGRAM_BASE_URL',
        'LIVEKIT_URL',
        'LIVEKIT_API_KEY',
        'LIVEKIT_API_SECRET',
        'OPENAI_API_KEY',
        'DEEPGRAM_API_KEY',
      ].sort(),
    );
    expect(problemsOf(validEnv)).toEqual([]);
  });

  it('bounds the reply path with documented defaults', () => {
    expect(loadConfig(validEnv).replies).toEqual({ fastPathFirstWordMs: 1_500, lettaFirstWordMs: 8_000, stallMs: 3_000, lettaCancelWaitMs: 3_000 });
    const tuned = loadConfig({ ...validEnv, FAST_PATH_FIRST_WORD_TIMEOUT_MS: '900', LETTA_FIRST_WORD_TIMEOUT_MS: '12000' });
    expect(tuned.replies).toMatchObject({ fastPathFirstWordMs: 900, lettaFirstWordMs: 12_000 });
  });

  const DURATIONS = [
    'LETTA_TIMEOUT_MS',
    'FAST_PATH_FIRST_WORD_TIMEOUT_MS',
    'LETTA_FIRST_WORD_TIMEOUT_MS',
    'REPLY_STALL_TIMEOUT_MS',
    'LETTA_CANCEL_WAIT_MS',
    'ENDPOINTING_MIN_DELAY_MS',
    'MEMORY_DRAIN_DEADLINE_MS',
  ];
  const COUNTS = ['MEMORY_BATCH_MAX', 'MEMORY_MAX_CONCURRENCY'];

  it.each([
    ['past the Node timer limit (2^31 ms)', '2147483648'],
    ['absurdly long', '99999999999999999999'],
    ['zero', '0'],
    ['negative', '-5'],
    ['fractional', '1.5'],
    ['not a number', 'soon'],
  ])('rejects every duration and count that is %s, naming each once', (_label, value) => {
    const names = [...DURATIONS, ...COUNTS];
    const problems = problemsOf({ ...validEnv, ...Object.fromEntries(names.map((name) => [name, value])) });
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual([...names].sort());
    for (const problem of problems) expect(problem).toMatch(/must be a whole number from \d+ to \d+/);
  });

  it('accepts each bound itself', () => {
    expect(problemsOf({ ...validEnv, LETTA_TIMEOUT_MS: '600000', MEMORY_BATCH_MAX: '100', MEMORY_MAX_CONCURRENCY: '1', REPLY_STALL_TIMEOUT_MS: '100' })).toEqual([]);
    expect(problemsOf({ ...validEnv, MEMORY_BATCH_MAX: '101', REPLY_STALL_TIMEOUT_MS: '99' }).map((p) => p.split(':')[0]).sort()).toEqual([
      'MEMORY_BATCH_MAX',
      'REPLY_STALL_TIMEOUT_MS',
    ]);
  });

  it('checks MEMORY_DATA_DIR is usable at start, without creating it', () => {
    const base = mkdtempSync(path.join(tmpdir(), 'data-dir-'));
    const missing = path.join(base, 'not', 'yet');
    expect(problemsOf({ ...validEnv, MEMORY_DATA_DIR: missing })).toEqual([]);
    expect(existsSync(missing)).toBe(false);

    const file = path.join(base, 'a-file');
    writeFileSync(file, 'x');
    expect(problemsOf({ ...validEnv, MEMORY_DATA_DIR: file })).toEqual([`MEMORY_DATA_DIR: is not a directory (${file})`]);
    const under = path.join(file, 'journal');
    expect(problemsOf({ ...validEnv, MEMORY_DATA_DIR: under })).toEqual([`MEMORY_DATA_DIR: cannot be created: ${file} is not a directory (${under})`]);
    // Reported together with the other problems, in the one error.
    const problems = problemsOf({ ...validEnv, MEMORY_DATA_DIR: file, LETTA_TIMEOUT_MS: '0' });
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual(['LETTA_TIMEOUT_MS', 'MEMORY_DATA_DIR']);
  });

  it('reports a MEMORY_DATA_DIR that is not writable', async () => {
    const { chmodSync } = await import('node:fs');
    const base = mkdtempSync(path.join(tmpdir(), 'data-dir-'));
    chmodSync(base, 0o555);
    // Root may write anywhere, so as root the check runs as `nobody`, for whom the directory is read-only.
    const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const result = spawnSync(path.join(repo, 'node_modules/.bin/tsx'), [path.join(repo, 'test/worker/fixtures/config-problems.ts')], {
      env: { PATH: process.env.PATH, ...validEnv, MEMORY_DATA_DIR: base, TSX_DISABLE_CACHE: '1' },
      encoding: 'utf8',
      cwd: tmpdir(), // no developer .env in the way
      ...asNobody,
    });
    chmodSync(base, 0o700);
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual([`MEMORY_DATA_DIR: is not writable (${base})`]);
  });

  it('the worker exits with code 1 and every problem, without printing secrets', () => {
    const cwd = mkdtempSync(path.join(tmpdir(), 'config-'));
    const result = spawnSync(path.join(repo, 'node_modules/.bin/tsx'), [path.join(repo, 'src/main.ts'), 'start'], {
      cwd,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        LIVEKIT_API_SECRET: 'top-secret-livekit-value',
        OPENAI_API_KEY: 'sk-top-secret-openai',
        USE_HYBRID_STREAMING: 'perhaps',
        LETTA_BASE_URL: 'nowhere',
      },
      encoding: 'utf8',
      timeout: 30_000,
    });
    const output = result.stdout + result.stderr;
    expect(result.status).toBe(1);
    for (const name of ['USE_HYBRID_STREAMING', 'LETTA_BASE_URL']) expect(output).toContain(name);
    expect(output).not.toContain('top-secret-livekit-value');
    expect(output).not.toContain('sk-top-secret-openai');
  });
});
