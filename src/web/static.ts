/**
 * Static assets of the voice room page.
 *
 * The set of servable files is fixed when the server starts (the files of
 * src/web/public plus the livekit-client browser build), so request paths are
 * looked up in a map and never joined onto the file system: no traversal.
 */
import { readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface StaticAsset {
  file: string;
  contentType: string;
}

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

export function buildAssetMap(publicDir = PUBLIC_DIR): Map<string, StaticAsset> {
  const assets = new Map<string, StaticAsset>();
  for (const entry of readdirSync(publicDir, { withFileTypes: true })) {
    if (!entry.isFile() || entry.name.startsWith('.')) continue;
    const contentType = CONTENT_TYPES[extname(entry.name)];
    if (!contentType) continue;
    assets.set(`/${entry.name}`, { file: join(publicDir, entry.name), contentType });
  }
  const index = assets.get('/index.html');
  if (index) assets.set('/', index);

  const livekitClient = findLiveKitClientBuild();
  if (livekitClient) {
    assets.set(LIVEKIT_CLIENT_PATH, { file: livekitClient, contentType: CONTENT_TYPES['.mjs'] });
    assets.set(`${LIVEKIT_CLIENT_PATH}.map`, {
      file: `${livekitClient}.map`,
      contentType: CONTENT_TYPES['.map'],
    });
  }
  return assets;
}

export async function readAsset(asset: StaticAsset): Promise<Buffer> {
  return readFile(asset.file);
}
