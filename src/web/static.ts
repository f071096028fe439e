/**
 * Static assets of the voice room page, served by @fastify/static.
 *
 * The set of servable files is fixed when the server starts: `wildcard: false`
 * registers one route per file of src/web/public (plus `/` for index.html), and
 * the livekit-client browser build gets two explicit routes. Request paths are
 * matched against those routes and never joined onto the file system: no traversal.
 */
import { createRequire } from 'node:module';
import { basename, dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic, { type SetHeadersResponse } from '@fastify/static';
import type { FastifyInstance } from 'fastify';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};

export const PUBLIC_DIR = join(dirname(fileURLToPath(import.meta.url)), 'public');

/** URL under which the page imports the LiveKit browser SDK (see public/app.js). */
export const LIVEKIT_CLIENT_PATH = '/vendor/livekit-client.esm.mjs';

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

/**
 * Locates the self-contained ESM build of livekit-client. It is resolved from
 * node_modules at start-up instead of being copied into the repo, so it always
 * matches the installed version. Returns undefined when the package is absent
 * (e.g. a production install without dev dependencies).
 */
export function findLiveKitClientBuild(): string | undefined {
  try {
    const require = createRequire(import.meta.url);
    // The "require" export is the UMD build; the ESM build sits next to it.
    const umd = require.resolve('livekit-client');
    return join(dirname(umd), 'livekit-client.esm.mjs');
  } catch {
    return undefined;
  }
}

function setAssetHeaders(res: SetHeadersResponse, path: string): void {
  // @fastify/send's mime table says application/javascript for .js/.mjs; module scripts want text/javascript.
  res.setHeader('Content-Type', CONTENT_TYPES[extname(path)] ?? 'application/octet-stream');
  // Small app, frequent edits: always revalidate rather than serve a stale page.
  res.setHeader('Cache-Control', 'no-cache');
  if (extname(path) === '.html') {
    res.setHeader('Content-Security-Policy', PAGE_CSP);
    // Microphone for this origin only; nothing else the page does not need.
    res.setHeader('Permissions-Policy', 'microphone=(self), camera=(), geolocation=()');
  }
}

/** Registers the page's files and the LiveKit SDK; returns false when livekit-client is missing. */
export async function registerStaticAssets(app: FastifyInstance, publicDir = PUBLIC_DIR): Promise<boolean> {
  await app.register(fastifyStatic, {
    root: publicDir,
    wildcard: false,
    index: ['index.html'],
    dotfiles: 'deny',
    serveDotFiles: false,
    contentType: false,
    cacheControl: false,
    setHeaders: setAssetHeaders,
  });
  const livekitClient = findLiveKitClientBuild();
  if (!livekitClient) return false;
  const vendorDir = dirname(livekitClient);
  for (const file of [basename(livekitClient), `${basename(livekitClient)}.map`]) {
    const url = `${dirname(LIVEKIT_CLIENT_PATH)}/${file}`;
    app.get(url, (_request, reply) => reply.sendFile(file, vendorDir));
  }
  return true;
}
