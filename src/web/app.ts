/**
 * The web server: voice room page, LiveKit browser SDK, token endpoint, health.
 * Plain node:http: four routes do not justify a framework dependency.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { WebConfig } from './config.js';
import { sendBody, sendError, sendJson } from './http-util.js';
import { consoleLogger, type WebLogger } from './logger.js';
import { buildAssetMap, LIVEKIT_CLIENT_PATH, PUBLIC_DIR, readAsset, type StaticAsset } from './static.js';
import { handleTokenRequest } from './token-route.js';

export interface WebServerOptions {
  logger?: WebLogger;
  publicDir?: string;
}

/**
 * The page talks to LiveKit (any ws/wss/http/https origin, since LIVEKIT_URL is
 * configurable) and to this server; everything else is locked down.
 */
const PAGE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "media-src 'self' blob: mediastream:",
  "connect-src 'self' ws: wss: http: https:",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'none'",
].join('; ');

function pathOf(req: IncomingMessage): string {
  // Only the path matters; the base is a placeholder for URL parsing.
  return new URL(req.url ?? '/', 'http://localhost').pathname;
}

async function serveAsset(req: IncomingMessage, res: ServerResponse, asset: StaticAsset): Promise<void> {
  let body: Buffer;
  try {
    body = await readAsset(asset);
  } catch {
    sendError(res, 404, 'not found');
    return;
  }
  const headers: Record<string, string> = {
    'Content-Type': asset.contentType,
    // Small app, frequent edits: always revalidate rather than serve a stale page.
    'Cache-Control': 'no-cache',
  };
  if (asset.contentType.startsWith('text/html')) {
    headers['Content-Security-Policy'] = PAGE_CSP;
    // Microphone for this origin only; nothing else the page does not need.
    headers['Permissions-Policy'] = 'microphone=(self), camera=(), geolocation=()';
  }
  sendBody(res, 200, body, headers, req.method === 'HEAD');
}

export function createWebServer(config: WebConfig, options: WebServerOptions = {}): Server {
  const logger = options.logger ?? consoleLogger;
  const assets = buildAssetMap(options.publicDir ?? PUBLIC_DIR);
  if (!assets.has(LIVEKIT_CLIENT_PATH)) {
    logger.error('livekit-client is not installed: the voice room page cannot load the LiveKit SDK (npm install)');
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = pathOf(req);
    if (path === '/healthz') {
      sendJson(res, 200, { status: 'ok' });
      return;
    }
    if (path === '/api/token') {
      await handleTokenRequest(req, res, config, logger);
      return;
    }
    if (path.startsWith('/api/')) {
      sendError(res, 404, 'unknown API endpoint');
      return;
    }
    const asset = assets.get(path);
    if (!asset) {
      sendError(res, 404, 'not found');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendError(res, 405, 'method not allowed', { Allow: 'GET, HEAD' });
      return;
    }
    await serveAsset(req, res, asset);
  };

  return createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      // Log the failure kind only: an error from token signing must not put key material in logs.
      logger.error(`request ${req.method} ${pathOf(req)} failed: ${err instanceof Error ? err.name : 'error'}`);
      if (!res.headersSent) sendError(res, 500, 'internal server error');
      else res.destroy();
    });
  });
}

export interface RunningWebServer {
  server: Server;
  /** Base URL, e.g. http://127.0.0.1:3000 */
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startWebServer(config: WebConfig, options: WebServerOptions = {}): Promise<RunningWebServer> {
  const server = createWebServer(config, options);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  return {
    server,
    url: `http://${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // Keep-alive sockets from browsers would otherwise hold close() open.
        server.closeAllConnections();
      }),
  };
}
