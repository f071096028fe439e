import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Where `scripts/e2e/setup.sh` installs project-local system software (git-ignored). */
export function e2eCacheDir(): string {
  return process.env.E2E_CACHE_DIR ?? path.join(repoRoot, '.cache/e2e');
}

/** Path of a program the e2e set-up installed; a clear error when the set-up has not run. */
export function e2eBinary(name: string): string {
  const file = path.join(e2eCacheDir(), 'bin', name);
  if (!existsSync(file)) {
    throw new Error(`${name} is not installed in ${path.dirname(file)}: run \`npm run e2e:setup\` first (it installs what the e2e tests need)`);
  }
  return file;
}
