/**
 * POST /api/token: validates {room?, identity?} and answers
 * {token, url, room, identity}. Omitted names are generated; supplied names
 * must pass ./validation.ts or the caller gets a 400 naming the field.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { WebConfig } from './config.js';
import { HttpError, readBody, sendError, sendJson } from './http-util.js';
import type { WebLogger } from './logger.js';
import { issueRoomToken } from './token.js';
import { checkName, generateName, type NameKind } from './validation.js';

const MAX_BODY_BYTES = 4096;

export interface TokenResponse {
  token: string;
  url: string;
  room: string;
  identity: string;
}

async function parseRequest(req: IncomingMessage): Promise<Record<string, unknown>> {
  const raw = await readBody(req, MAX_BODY_BYTES);
  if (raw.trim() === '') return {};
  // Requiring JSON makes cross-site callers send a CORS preflight, which this
  // server never approves, so another origin cannot mint tokens with a plain form post.
  const contentType = String(req.headers['content-type'] ?? '');
  if (!/^application\/json\b/i.test(contentType)) {
    throw new HttpError(415, 'request body must be JSON (Content-Type: application/json)');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new HttpError(400, 'request body is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new HttpError(400, 'request body must be a JSON object like {"room": "...", "identity": "..."}');
  }
  return parsed as Record<string, unknown>;
}

function pickName(body: Record<string, unknown>, kind: NameKind): string {
  const value = body[kind];
  if (value === undefined || value === null || value === '') return generateName(kind);
  const check = checkName(kind, value);
  if (!check.ok) throw new HttpError(400, check.error);
  return check.value;
}

export async function handleTokenRequest(
  req: IncomingMessage,
  res: ServerResponse,
  config: WebConfig,
  logger: WebLogger,
): Promise<void> {
  if (req.method !== 'POST') {
    sendError(res, 405, 'use POST /api/token with a JSON body {"room": "...", "identity": "..."}', {
      Allow: 'POST',
    });
    return;
  }
  let room: string;
  let identity: string;
  try {
    const body = await parseRequest(req);
    room = pickName(body, 'room');
    identity = pickName(body, 'identity');
  } catch (err) {
    if (err instanceof HttpError) {
      sendError(res, err.status, err.message);
      return;
    }
    throw err;
  }
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
  logger.info(`issued token room=${room} identity=${identity} agent=${config.agentName}`);
  const body: TokenResponse = { token, url: config.publicLivekitUrl, room, identity };
  sendJson(res, 200, body);
}
