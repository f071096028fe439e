import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
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
