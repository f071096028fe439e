import { mkdir, readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RequeueSelection } from '../turn-store.js';

const INBOX_DIR = 'requeue-requests';

/**
 * The dead-letter CLI cannot append to a journal a live worker owns, so it leaves a request
 * file here and the worker picks it up on its next housekeeping tick (or at its next start).
 */
export async function postRequeueRequest(dataDir: string, selection: RequeueSelection): Promise<string> {
  const dir = join(dataDir, INBOX_DIR);
  await mkdir(dir, { recursive: true });
  const name = `${Date.now()}-${process.pid}-${Math.random().toString(36).slice(2, 8)}.json`;
  // Written under a temporary name so the worker never reads half a request.
  await writeFile(join(dir, `${name}.tmp`), JSON.stringify({ selection }));
  await rename(join(dir, `${name}.tmp`), join(dir, name));
  return join(dir, name);
}

export async function takeRequeueRequests(dataDir: string): Promise<RequeueSelection[]> {
  const dir = join(dataDir, INBOX_DIR);
  let names: string[];
  try {
    names = (await readdir(dir)).filter((name) => name.endsWith('.json')).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const selections: RequeueSelection[] = [];
  for (const name of names) {
    const path = join(dir, name);
    const selection = parseSelection(await readFile(path, 'utf8').catch(() => ''));
    await unlink(path).catch(() => {});
    if (selection) selections.push(selection);
  }
  return selections;
}

function parseSelection(text: string): RequeueSelection | undefined {
  try {
    const { selection } = JSON.parse(text) as { selection?: unknown };
    if (selection === 'all') return 'all';
    if (Array.isArray(selection) && selection.every((id) => typeof id === 'string')) return selection;
  } catch {
    // An unreadable request is dropped: it carries no turn data, only an instruction.
  }
  return undefined;
}
