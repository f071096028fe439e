/** The token server over real HTTP on 127.0.0.1 (no browser). */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TokenVerifier } from 'livekit-server-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWebServer, type RunningWebServer } from '../../src/web/app.js';
import { loadWebConfig, WebConfigError } from '../../src/web/config.js';
import {
  captureLogger,
  closedLoopbackPort,
  decodeJwtPayload,
  TEST_AGENT,
  TEST_API_KEY,
  TEST_SECRET,
  testConfig,
} from './helpers.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

let web: RunningWebServer;
const logger = captureLogger();
/** Every response body seen by any test, for the secret-leak check at the end. */
const bodies: string[] = [];

async function request(
  path: string,
  init: RequestInit = {},
): Promise<{ status: number; body: string; json: () => Record<string, unknown>; headers: Headers }> {
  const res = await fetch(`${web.url}${path}`, init);
  const body = await res.text();
  bodies.push(body);
  return { status: res.status, body, headers: res.headers, json: () => JSON.parse(body) as Record<string, unknown> };
}

const postToken = (payload: unknown, headers: Record<string, string> = { 'Content-Type': 'application/json' }) =>
  request('/api/token', {
    method: 'POST',
    headers,
    body: typeof payload === 'string' ? payload : JSON.stringify(payload),
  });

beforeAll(async () => {
  // The name checks below need a browser-chosen identity: the development setting. The default, a server-bound
  // identity (cookie or login), is tested in caller-identity.test.ts.
  web = await startWebServer(testConfig(await closedLoopbackPort(), { WEB_ALLOW_CLIENT_IDENTITY: 'true' }), { logger });
});

afterAll(async () => {
  await web?.close();
});

describe('GET /healthz', () => {
  it('answers 200 JSON', async () => {
    const res = await request('/healthz');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/json');
    expect(res.json()).toEqual({ status: 'ok' });
  });
});

describe('POST /api/token', () => {
  it('issues a token with only the grants a voice caller needs', async () => {
    const res = await postToken({ room: 'room_1.a-b', identity: 'bob' });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = res.json() as { token: string; url: string; room: string; identity: string };
    expect(Object.keys(body).sort()).toEqual(['identity', 'identitySource', 'memoryScope', 'room', 'token', 'url']);
    expect(body).toMatchObject({ room: 'room_1.a-b', identity: 'bob', identitySource: 'client', memoryScope: 'caller' });
    expect(body.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);

    const claims = await new TokenVerifier(TEST_API_KEY, TEST_SECRET).verify(body.token);
    expect(claims.iss).toBe(TEST_API_KEY);
    expect(claims.sub).toBe('bob');
    expect(claims.video).toEqual({
      room: 'room_1.a-b',
      roomJoin: true,
      canPublish: true,
      canPublishSources: ['microphone'],
      canSubscribe: true,
      canPublishData: true,
      canUpdateOwnMetadata: false,
    });
    expect(claims.sip).toBeUndefined();
    expect(claims.inference).toBeUndefined();
    expect((claims.exp ?? 0) - (claims.nbf ?? 0)).toBe(600);
    expect(claims.roomConfig?.agents).toHaveLength(1);
    expect(claims.roomConfig?.agents?.[0]?.agentName).toBe(TEST_AGENT);
    // A token for another key/secret pair does not verify.
    await expect(new TokenVerifier(TEST_API_KEY, 'another-secret').verify(body.token)).rejects.toThrow();
  });

  it('generates names the caller leaves out', async () => {
    const res = await request('/api/token', { method: 'POST' });
    expect(res.status).toBe(200);
    const body = res.json();
    expect(body.room).toMatch(/^voice-[0-9a-f]{8}$/);
    expect(body.identity).toMatch(/^user-[0-9a-f]{8}$/);
  });

  const badNames: Array<[string, unknown]> = [
    ['has a space', 'my room'],
    ['too long', 'a'.repeat(65)],
    ['path traversal', '../etc'],
    ['leading dash', '-room'],
    ['leading dot', '.hidden'],
    ['non-ASCII', 'zürich'],
    ['slash', 'a/b'],
    ['newline (log injection)', 'a\nb'],
    ['number', 42],
    ['object', { name: 'x' }],
  ];
  for (const [what, value] of badNames) {
    it(`rejects a room name that is ${what} with 400`, async () => {
      const res = await postToken({ room: value, identity: 'bob' });
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toContain('application/json');
      expect(String(res.json().error)).toMatch(/^room /);
    });
  }

  it('rejects a bad identity with 400 naming the field', async () => {
    const res = await postToken({ room: 'ok', identity: 'bad identity!' });
    expect(res.status).toBe(400);
    expect(String(res.json().error)).toMatch(/^identity /);
  });

  it('accepts the longest allowed names', async () => {
    const res = await postToken({ room: 'r'.repeat(64), identity: 'i'.repeat(64) });
    expect(res.status).toBe(200);
  });

  it('rejects malformed requests with clear JSON errors', async () => {
    expect((await postToken('{not json')).status).toBe(400);
    expect((await postToken('[1,2]')).status).toBe(400);
    const wrongType = await postToken('room=x', { 'Content-Type': 'application/x-www-form-urlencoded' });
    expect(wrongType.status).toBe(415);
    expect(String(wrongType.json().error)).toContain('application/json');
    const tooBig = await postToken({ room: 'x', pad: 'p'.repeat(10_000) });
    expect(tooBig.status).toBe(413);
    const get = await request('/api/token?room=x&identity=y');
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    expect((await request('/api/nope')).status).toBe(404);
  });
});

describe('static files', () => {
  it('serves the page with a CSP and the LiveKit browser SDK', async () => {
    const page = await request('/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(page.body).toContain('/app.js');
    const sdk = await request('/vendor/livekit-client.esm.mjs');
    expect(sdk.status).toBe(200);
    expect(sdk.headers.get('content-type')).toContain('text/javascript');
    expect(sdk.body).toContain('registerTextStreamHandler');
  });

  it('sends the security headers on pages, files and API answers', async () => {
    const page = await request('/');
    expect(page.headers.get('permissions-policy')).toBe('microphone=(self), camera=(), geolocation=()');
    expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(page.headers.get('cache-control')).toBe('no-cache');
    for (const res of [page, await request('/app.js'), await request('/healthz'), await request('/nope')]) {
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    }
    const head = await fetch(`${web.url}/styles.css`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toContain('text/css');
  });

  it('serves nothing outside the asset list', async () => {
    for (const path of ['/../package.json', '/%2e%2e/package.json', '/src/web/config.ts', '/.env', '/index.html/x']) {
      expect((await request(path)).status, path).toBe(404);
    }
  });
});

describe('secrets', () => {
  it('never appear in a response body or a log line', async () => {
    // Exercise the remaining paths too, then check everything collected above.
    await request('/app.js');
    await request('/styles.css');
    await postToken({ room: 'secret-check', identity: 'carol' });
    expect(bodies.length).toBeGreaterThan(20);
    for (const body of bodies) {
      expect(body).not.toContain(TEST_SECRET);
      // Token payloads are readable by anyone: the secret must not be in there either.
      const token = body.startsWith('{') ? (JSON.parse(body) as { token?: string }).token : undefined;
      if (token) expect(JSON.stringify(decodeJwtPayload(token))).not.toContain(TEST_SECRET);
    }
    const log = logger.lines.join('\n');
    expect(log).toContain('issued token room=secret-check identity=carol');
    expect(log).not.toContain(TEST_SECRET);
    expect(log).not.toMatch(/eyJ[\w-]+\.[\w-]+\.[\w-]+/); // no JWTs in logs
  });
});

describe('configuration', () => {
  it('names every bad variable and never prints the secret', () => {
    let error: unknown;
    try {
      loadWebConfig({
        LIVEKIT_URL: 'ftp://nope',
        LIVEKIT_API_SECRET: TEST_SECRET,
        WEB_PORT: '70000',
        AGENT_NAME: 'bad name',
        TOKEN_TTL_SECONDS: 'soon',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(WebConfigError);
    const message = (error as Error).message;
    for (const key of ['LIVEKIT_URL', 'LIVEKIT_API_KEY', 'WEB_PORT', 'AGENT_NAME', 'TOKEN_TTL_SECONDS']) {
      expect(message).toContain(key);
    }
    expect(message).not.toContain('LIVEKIT_API_SECRET');
    expect(message).not.toContain(TEST_SECRET);
  });

  it('applies defaults and LIVEKIT_PUBLIC_URL', () => {
    const config = loadWebConfig({
      LIVEKIT_URL: 'ws://127.0.0.1:7880',
      LIVEKIT_PUBLIC_URL: 'wss://voice.example.test',
      LIVEKIT_API_KEY: 'k',
      LIVEKIT_API_SECRET: 's',
      WEB_PORT: '',
      WEB_COOKIE_SECRET: 'c'.repeat(32),
    });
    expect(config).toMatchObject({
      host: '127.0.0.1',
      port: 3000,
      agentName: 'letta-voice-agent',
      tokenTtlSeconds: 600,
      publicLivekitUrl: 'wss://voice.example.test',
      memoryScope: 'caller',
      cookieSecrets: ['c'.repeat(32)],
      allowClientIdentity: false,
    });
  });

  it('requires WEB_COOKIE_SECRET in caller scope unless identities come from a login or the development setting', () => {
    const base = { LIVEKIT_URL: 'ws://127.0.0.1:7880', LIVEKIT_API_KEY: 'k', LIVEKIT_API_SECRET: 's' };
    expect(() => loadWebConfig(base)).toThrow(/WEB_COOKIE_SECRET: is required with LETTA_MEMORY_SCOPE=caller/);
    expect(() => loadWebConfig({ ...base, WEB_COOKIE_SECRET: 'too-short' })).toThrow(/WEB_COOKIE_SECRET: must be at least 32 characters/);
    expect(loadWebConfig({ ...base, LETTA_MEMORY_SCOPE: 'shared' }).memoryScope).toBe('shared');
    expect(loadWebConfig({ ...base, WEB_IDENTITY_HEADER: 'X-Forwarded-User' }).identityHeader).toBe('x-forwarded-user');
    expect(loadWebConfig({ ...base, WEB_ALLOW_CLIENT_IDENTITY: 'true' }).allowClientIdentity).toBe(true);
    expect(loadWebConfig(base, { customIdentity: true }).cookieSecrets).toEqual([]);
    // Rotation: the first secret signs, every one verifies.
    expect(loadWebConfig({ ...base, WEB_COOKIE_SECRET: `${'n'.repeat(32)}, ${'o'.repeat(32)}` }).cookieSecrets).toEqual(['n'.repeat(32), 'o'.repeat(32)]);
    expect(() => loadWebConfig({ ...base, WEB_IDENTITY_HEADER: 'bad header' })).toThrow(/WEB_IDENTITY_HEADER/);
  });

  it('makes `npm run web` and check-config exit 1 with the problems on stderr', () => {
    // Run from an empty directory so a developer's .env cannot leak into the test.
    const cwd = mkdtempSync(join(tmpdir(), 'web-config-'));
    const tsx = import.meta.resolve('tsx');
    for (const entry of ['src/web/server.ts', 'src/web/check-config.ts']) {
      const run = spawnSync(process.execPath, ['--import', tsx, join(ROOT, entry)], {
        cwd,
        env: { PATH: process.env.PATH, LIVEKIT_API_SECRET: TEST_SECRET, WEB_PORT: 'x' },
        encoding: 'utf8',
        timeout: 30_000,
      });
      expect(run.status, entry).toBe(1);
      expect(run.stderr).toContain('LIVEKIT_URL');
      expect(run.stderr).toContain('LIVEKIT_API_KEY');
      expect(run.stderr).toContain('WEB_PORT');
      expect(run.stderr + run.stdout).not.toContain(TEST_SECRET);
    }
  });
});
