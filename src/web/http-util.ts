/** Small node:http helpers shared by the web server's routes. */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Headers on every response: no MIME sniffing, no referrer leaks of room names. */
const BASE_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
} as const;

export function sendJson(res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    ...BASE_HEADERS,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(payload),
    // Tokens and health answers must never be served from a cache.
    'Cache-Control': 'no-store',
    ...extra,
  });
  res.end(payload);
}

export function sendError(res: ServerResponse, status: number, error: string, extra: Record<string, string> = {}): void {
  sendJson(res, status, { error }, extra);
}

export function sendBody(
  res: ServerResponse,
  status: number,
  body: Buffer,
  headers: Record<string, string>,
  headOnly: boolean,
): void {
  res.writeHead(status, { ...BASE_HEADERS, 'Content-Length': body.length, ...headers });
  res.end(headOnly ? undefined : body);
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** Reads a request body up to `limit` bytes; a larger body is a 413, not a buffered megabyte. */
export async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw new HttpError(413, `request body must be at most ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += buf.length;
    if (size > limit) throw new HttpError(413, `request body must be at most ${limit} bytes`);
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8');
}
