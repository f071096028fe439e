/**
 * Who is calling. In caller memory scope (LETTA_MEMORY_SCOPE=caller) the LiveKit identity in a token is the key to a
 * caller's memory, so the server binds it; the browser never picks it. Exactly one way is active:
 *  - login: the deployment's own auth says who the user is, through `createWebApp(config, { resolveIdentity })` or a
 *    trusted header set by an auth proxy (WEB_IDENTITY_HEADER);
 *  - cookie (default): each browser gets a random identity in a signed, httpOnly, SameSite=Lax cookie, so it is
 *    remembered when it comes back and cannot present another browser's identity (the signature would not match);
 *  - client: the browser chooses (shared scope, where the identity keys nothing, or WEB_ALLOW_CLIENT_IDENTITY=true
 *    for development).
 */
import { randomBytes } from 'node:crypto';
import fastifyCookie from '@fastify/cookie';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { needsCookieSecret, WebConfigError, type WebConfig } from './config.js';
import { HttpError } from './replies.js';

export type IdentitySource = 'cookie' | 'login' | 'client';

/**
 * A deployment's own login: the signed-in user's stable id, or undefined when nobody is signed in (the token request
 * is then refused with 401). It becomes the LiveKit identity and so the key to that user's memory.
 */
export type ResolveIdentity = (request: FastifyRequest) => string | undefined | Promise<string | undefined>;

export interface IdentityBinding {
  source: IdentitySource;
  /** The identity the server binds to this request, or undefined when the browser may choose (source 'client'). */
  bind(request: FastifyRequest, reply: FastifyReply): Promise<string | undefined>;
}

export const IDENTITY_COOKIE = 'voice_caller';
/** Browsers cap cookie lifetimes at 400 days; the cookie is renewed on every visit. */
const COOKIE_MAX_AGE_SECONDS = 400 * 24 * 60 * 60;
const COOKIE_IDENTITY_PATTERN = /^caller-[A-Za-z0-9_-]{22}$/;
/** User ids from a login: e-mail addresses, `auth0|123`, UUIDs; no spaces or control characters. */
export const LOGIN_IDENTITY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.@|:+=-]{0,127}$/;

export async function createIdentityBinding(app: FastifyInstance, config: WebConfig, resolveIdentity?: ResolveIdentity): Promise<IdentityBinding> {
  if (resolveIdentity) return loginBinding(resolveIdentity);
  if (config.memoryScope === 'caller' && config.identityHeader) return loginBinding(headerIdentity(config.identityHeader));
  if (!needsCookieSecret(config)) return { source: 'client', bind: async () => undefined };
  if (config.cookieSecrets.length === 0) {
    throw new WebConfigError(['WEB_COOKIE_SECRET: is required with LETTA_MEMORY_SCOPE=caller unless identities come from a login']);
  }
  await app.register(fastifyCookie, { secret: config.cookieSecrets });
  return { source: 'cookie', bind: async (request, reply) => cookieIdentity(request, reply) };
}

function loginBinding(resolve: ResolveIdentity): IdentityBinding {
  return {
    source: 'login',
    async bind(request) {
      const identity = await resolve(request);
      if (identity === undefined || identity === '') throw new HttpError(401, 'sign in first: calls use your own memory');
      if (!LOGIN_IDENTITY_PATTERN.test(identity)) {
        // The deployment's hook or proxy produced it: its value is not echoed back (it may be personal data).
        request.log.warn({ length: identity.length }, 'login identity is not usable as a LiveKit identity');
        throw new HttpError(403, 'your login id cannot be used as a caller identity');
      }
      return identity;
    },
  };
}

function headerIdentity(header: string): ResolveIdentity {
  return (request) => {
    const value = request.headers[header];
    return typeof value === 'string' ? value.trim() : undefined;
  };
}

function cookieIdentity(request: FastifyRequest, reply: FastifyReply): string {
  const raw = request.cookies[IDENTITY_COOKIE];
  if (raw !== undefined) {
    const unsigned = request.unsignCookie(raw);
    if (unsigned.valid && unsigned.value !== null && COOKIE_IDENTITY_PATTERN.test(unsigned.value)) {
      setIdentityCookie(reply, unsigned.value);
      return unsigned.value;
    }
    request.log.info('identity cookie with a bad signature or shape: issuing a new identity');
  }
  const identity = `caller-${randomBytes(16).toString('base64url')}`;
  setIdentityCookie(reply, identity);
  return identity;
}

function setIdentityCookie(reply: FastifyReply, identity: string): void {
  // Set on every visit: the lifetime restarts and a rotated secret re-signs it.
  void reply.setCookie(IDENTITY_COOKIE, identity, {
    signed: true,
    httpOnly: true,
    sameSite: 'lax',
    secure: 'auto',
    path: '/',
    maxAge: COOKIE_MAX_AGE_SECONDS,
  });
}
