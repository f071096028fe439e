/** JSON answers and the error shape shared by every route: `{"error": "..."}`. */
import type { FastifyReply } from 'fastify';

/** Headers on every response: no MIME sniffing, no referrer leaks of room names. */
export const BASE_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
} as const;

export function sendJson(
  reply: FastifyReply,
  status: number,
  body: unknown,
  extra: Record<string, string> = {},
): FastifyReply {
  return (
    reply
      .code(status)
      .type('application/json; charset=utf-8')
      // Tokens and health answers must never be served from a cache.
      .header('Cache-Control', 'no-store')
      .headers(extra)
      .send(JSON.stringify(body))
  );
}

export function sendError(
  reply: FastifyReply,
  status: number,
  error: string,
  extra: Record<string, string> = {},
): FastifyReply {
  return sendJson(reply, status, { error }, extra);
}

/** A client error a route raises with its status and the message the caller sees. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}
