/** Identity binding in caller memory scope: nobody can obtain a token for another caller's identity (and memory). */
import { TokenVerifier } from 'livekit-server-sdk';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { createWebApp } from '../../src/web/app.js';
import { loadWebConfig } from '../../src/web/config.js';
import { IDENTITY_COOKIE } from '../../src/web/identity.js';
import { captureLogger, TEST_API_KEY, TEST_COOKIE_SECRET, TEST_SECRET, testConfig } from './helpers.js';

const apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

async function app(overrides: NodeJS.ProcessEnv = {}, options: Parameters<typeof createWebApp>[1] = {}): Promise<FastifyInstance> {
  const instance = await createWebApp(testConfig(7880, overrides), { logger: captureLogger(), ...options });
  apps.push(instance);
  return instance;
}

function token(web: FastifyInstance, body: Record<string, unknown> = {}, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  return web.inject({ method: 'POST', url: '/api/token', headers: { 'content-type': 'application/json', ...headers }, payload: JSON.stringify(body) });
}

function identityCookie(res: LightMyRequestResponse) {
  return res.cookies.find((c) => c.name === IDENTITY_COOKIE);
}

async function subjectOf(res: LightMyRequestResponse): Promise<string | undefined> {
  return (await new TokenVerifier(TEST_API_KEY, TEST_SECRET).verify(res.json<{ token: string }>().token)).sub;
}

describe('cookie-bound identity (the default in caller scope)', () => {
  it('gives each browser its own stable identity in a signed, httpOnly, SameSite=Lax cookie', async () => {
    const web = await app();
    const first = await web.inject({ method: 'GET', url: '/api/identity' });
    expect(first.statusCode).toBe(200);
    const info = first.json<{ identity: string; identitySource: string; memoryScope: string }>();
    expect(info).toMatchObject({ identitySource: 'cookie', memoryScope: 'caller' });
    expect(info.identity).toMatch(/^caller-[A-Za-z0-9_-]{22}$/);
    const cookie = identityCookie(first)!;
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/' });
    expect(cookie.maxAge).toBeGreaterThan(300 * 24 * 3600);
    // Signed: the value is the identity plus a signature.
    expect(cookie.value.startsWith(`${info.identity}.`)).toBe(true);

    // The same browser (cookie) gets a token for the same identity: its memory is found again.
    const again = await token(web, { room: 'r1' }, { cookie: `${IDENTITY_COOKIE}=${cookie.value}` });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ identity: info.identity, identitySource: 'cookie', memoryScope: 'caller' });
    expect(await subjectOf(again)).toBe(info.identity);

    // Another browser gets another identity.
    const other = await token(web, { room: 'r1' });
    expect(other.json<{ identity: string }>().identity).not.toBe(info.identity);
  });

  it('refuses a chosen identity and cannot be talked into another browser\'s', async () => {
    const web = await app();
    const victim = identityCookie(await web.inject({ method: 'GET', url: '/api/identity' }))!;
    const victimIdentity = victim.value.slice(0, victim.value.lastIndexOf('.'));
    const mine = identityCookie(await web.inject({ method: 'GET', url: '/api/identity' }))!;

    // Asking for the victim's identity in the body: 403, no token.
    const asked = await token(web, { room: 'r', identity: victimIdentity }, { cookie: `${IDENTITY_COOKIE}=${mine.value}` });
    expect(asked.statusCode).toBe(403);
    expect(asked.body).not.toContain('token"');
    // Presenting the victim's identity unsigned, or with my signature, or signed with another secret: a fresh identity.
    const mySignature = mine.value.slice(mine.value.lastIndexOf('.') + 1);
    const forged = [victimIdentity, `${victimIdentity}.${mySignature}`, `${victimIdentity}.AAAA`];
    const otherServer = await app({ WEB_COOKIE_SECRET: 'x'.repeat(40) });
    forged.push(identityCookie(await otherServer.inject({ method: 'GET', url: '/api/identity' }))!.value);
    for (const value of forged) {
      const res = await token(web, { room: 'r' }, { cookie: `${IDENTITY_COOKIE}=${value}` });
      expect(res.statusCode).toBe(200);
      const { identity } = res.json<{ identity: string }>();
      expect(identity).not.toBe(victimIdentity);
      expect(await subjectOf(res)).toBe(identity);
    }
    // The browser's own identity in the body is fine (old pages send it).
    const own = mine.value.slice(0, mine.value.lastIndexOf('.'));
    expect((await token(web, { room: 'r', identity: own }, { cookie: `${IDENTITY_COOKIE}=${mine.value}` })).statusCode).toBe(200);
  });

  it('keeps browsers remembered across a secret rotation (old secret listed second)', async () => {
    const before = await app();
    const cookie = identityCookie(await before.inject({ method: 'GET', url: '/api/identity' }))!;
    const identity = cookie.value.slice(0, cookie.value.lastIndexOf('.'));
    const rotated = await app({ WEB_COOKIE_SECRET: `${'n'.repeat(40)},${TEST_COOKIE_SECRET}` });
    const res = await token(rotated, { room: 'r' }, { cookie: `${IDENTITY_COOKIE}=${cookie.value}` });
    expect(res.json<{ identity: string }>().identity).toBe(identity);
    // Re-signed with the new secret.
    expect(identityCookie(res)!.value).not.toBe(cookie.value);
  });
});

describe('identity from the deployment\'s login', () => {
  it('takes it from a trusted header set by an auth proxy (WEB_IDENTITY_HEADER)', async () => {
    const web = await app({ WEB_IDENTITY_HEADER: 'X-Forwarded-User', WEB_COOKIE_SECRET: '' });
    const res = await token(web, { room: 'r' }, { 'x-forwarded-user': 'alice@example.com' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ identity: 'alice@example.com', identitySource: 'login' });
    expect(await subjectOf(res)).toBe('alice@example.com');
    expect(identityCookie(res)).toBeUndefined();
    expect((await token(web, { room: 'r' })).statusCode).toBe(401);
    expect((await token(web, { room: 'r', identity: 'bob' }, { 'x-forwarded-user': 'alice@example.com' })).statusCode).toBe(403);
    expect((await token(web, { room: 'r' }, { 'x-forwarded-user': 'not a usable id' })).statusCode).toBe(403);
  });

  it('takes it from a resolveIdentity hook (createWebApp option), with no cookie secret needed', async () => {
    const config = loadWebConfig(
      { LIVEKIT_URL: 'ws://127.0.0.1:7880', LIVEKIT_API_KEY: TEST_API_KEY, LIVEKIT_API_SECRET: TEST_SECRET },
      { customIdentity: true },
    );
    const web = await createWebApp(config, {
      logger: captureLogger(),
      resolveIdentity: (request) => (request.headers.authorization === 'Bearer session-of-user-42' ? 'user-42' : undefined),
    });
    apps.push(web);
    const res = await token(web, { room: 'r' }, { authorization: 'Bearer session-of-user-42' });
    expect(res.json()).toMatchObject({ identity: 'user-42', identitySource: 'login' });
    expect((await token(web, { room: 'r' })).statusCode).toBe(401);
    const info = await web.inject({ method: 'GET', url: '/api/identity', headers: { authorization: 'Bearer session-of-user-42' } });
    expect(info.json()).toEqual({ identity: 'user-42', identitySource: 'login', memoryScope: 'caller' });
  });
});

describe('browser-chosen identity', () => {
  it('is what shared scope and the development setting use', async () => {
    for (const env of [{ LETTA_MEMORY_SCOPE: 'shared', WEB_COOKIE_SECRET: '' }, { WEB_ALLOW_CLIENT_IDENTITY: 'true' }]) {
      const web = await app(env);
      const res = await token(web, { room: 'r', identity: 'bob' });
      expect(res.json()).toMatchObject({ identity: 'bob', identitySource: 'client' });
      expect(identityCookie(res)).toBeUndefined();
      expect((await web.inject({ method: 'GET', url: '/api/identity' })).json()).toMatchObject({ identity: null, identitySource: 'client' });
    }
  });
});

describe('voice room page', () => {
  it('asks whose memory the call uses and shows it', async () => {
    const web = await app();
    const html = (await web.inject({ method: 'GET', url: '/' })).body;
    expect(html).toContain('id="memory-owner"');
    const script = (await web.inject({ method: 'GET', url: '/app.js' })).body;
    expect(script).toContain("fetch('/api/identity'");
    expect(script).toContain('Memory: your own, kept for this browser');
  });
});
