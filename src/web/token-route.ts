/**
 * POST /api/token: validates {room?, identity?} and answers
 * {token, url, room, identity, identitySource, memoryScope}. Omitted names are generated; supplied names
 * must pass ./validation.ts or the caller gets a 400 naming the field. When the server binds identities
 * (./identity.ts) the identity is never taken from the body: a different one there is refused with 403.
 * GET /api/identity tells the page whose memory its calls will use.
 * Body size, content type and JSON syntax are checked by fastify before the
 * handler runs (see the JSON parser and error mapping in ./app.ts).
 */
import type { FastifyInstance } from 'fastify';
import type { WebConfig } from './config.js';
import { HttpError, sendError, sendJson } from './replies.js';
import type { IdentityBinding, IdentitySource } from './identity.js';
import { issueRoomToken } from './token.js';
import { checkName, generateName, type NameKind } from './validation.js';

export const TOKEN_PATH = '/api/token';
export const IDENTITY_PATH = '/api/identity';
export const MAX_TOKEN_BODY_BYTES = 4096;

export interface TokenResponse {
  token: string;
  url: string;
  room: string;
  identity: string;
  /** cookie or login: bound by the server; client: chosen by the browser (development, or shared scope). */
  identitySource: IdentitySource;
  memoryScope: WebConfig['memoryScope'];
}

export interface IdentityResponse {
  /** null when the browser chooses its own (identitySource client). */
  identity: string | null;
  identitySource: IdentitySource;
  memoryScope: WebConfig['memoryScope'];
}

const USAGE = 'use POST /api/token with a JSON body {"room": "...", "identity": "..."}';

function asObject(body: unknown): Record<string, unknown> {
  // No body at all (a bare `curl -X POST`) means "generate both names".
  if (body === undefined) return {};
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HttpError(400, 'request body must be a JSON object like {"room": "...", "identity": "..."}');
  }
  return body as Record<string, unknown>;
}

function pickName(body: Record<string, unknown>, kind: NameKind): string {
  const value = Object.hasOwn(body, kind) ? body[kind] : undefined;
  if (value === undefined || value === null || value === '') return generateName(kind);
  const check = checkName(kind, value);
  if (!check.ok) throw new HttpError(400, check.error);
  return check.value;
}

function boundIdentity(body: Record<string, unknown>, bound: string): string {
  const value = Object.hasOwn(body, 'identity') ? body.identity : undefined;
  if (value !== undefined && value !== null && value !== '' && value !== bound) {
    throw new HttpError(403, 'identity is bound by the server (your browser or login) and cannot be chosen; leave it out');
  }
  return bound;
}

export function registerTokenRoute(app: FastifyInstance, config: WebConfig, identities: IdentityBinding): void {
  app.get(IDENTITY_PATH, async (request, reply) => {
    const identity = (await identities.bind(request, reply)) ?? null;
    const answer: IdentityResponse = { identity, identitySource: identities.source, memoryScope: config.memoryScope };
    return sendJson(reply, 200, answer);
  });
  app.post(TOKEN_PATH, { bodyLimit: MAX_TOKEN_BODY_BYTES }, async (request, reply) => {
    const body = asObject(request.body);
    const room = pickName(body, 'room');
    const bound = await identities.bind(request, reply);
    const identity = bound === undefined ? pickName(body, 'identity') : boundIdentity(body, bound);
    const token = await issueRoomToken(
      {
        apiKey: config.apiKey,
        apiSecret: config.apiSecret,
        agentName: config.agentName,
        ttlSeconds: config.tokenTtlSeconds,
      },
      { room, identity },
    );
    // Names only: the token is a bearer credential and never goes to the log.
    request.log.info(
      { room, identity, identitySource: identities.source, agent: config.agentName },
      `issued token room=${room} identity=${identity}`,
    );
    const answer: TokenResponse = {
      token,
      url: config.publicLivekitUrl,
      room,
      identity,
      identitySource: identities.source,
      memoryScope: config.memoryScope,
    };
    return sendJson(reply, 200, answer);
  });
  // There is no GET variant, so tokens never end up in URLs or access logs.
  app.route({
    method: ['GET', 'HEAD', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
    url: TOKEN_PATH,
    handler: (_request, reply) => sendError(reply, 405, USAGE, { Allow: 'POST' }),
  });
}
