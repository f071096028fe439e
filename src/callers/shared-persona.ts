import type Letta from '@letta-ai/letta-client';
import { DEFAULT_PERSONA } from '../letta/agent-bootstrap.js';
import { describeLettaError } from '../letta/errors.js';
import { SHARED_PERSONA_TAG, appTag } from './caller-tags.js';

export interface SharedPersonaOptions {
  client: Letta;
  appName: string;
  baseURL: string;
  logger: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}

/**
 * The one persona block every caller's agent shares, attached by id. It is read-only: a writable shared block would
 * let one caller's agent write what it learned into every other caller's prompt. Found by label + tags; created when
 * missing, and when two processes create it at once both keep the oldest (blocks list oldest first, by created_at
 * then id, in Letta's block_manager.get_blocks_async) and the loser's fresh, unattached copy is deleted.
 */
export async function findOrCreateSharedPersona(options: SharedPersonaOptions): Promise<string> {
  const { client, appName, baseURL, logger } = options;
  const tags = [appTag(appName), SHARED_PERSONA_TAG];
  const oldest = async () => {
    const page = await client.blocks.list({ label: 'persona', tags, match_all_tags: true, order: 'asc', limit: 1 });
    return page.items[0]?.id;
  };
  try {
    const existing = await oldest();
    if (existing) return existing;
    const created = await client.blocks.create({ label: 'persona', value: DEFAULT_PERSONA, read_only: true, tags });
    const winner = (await oldest()) ?? created.id;
    if (winner !== created.id) {
      logger.info({ kept: winner, dropped: created.id }, 'shared persona block created twice at once: keeping the oldest');
      await client.blocks.delete(created.id).catch((err: unknown) =>
        logger.warn({ blockId: created.id, err: String(err) }, 'could not delete the duplicate persona block (unattached, harmless)'),
      );
    }
    return winner;
  } catch (err) {
    throw describeLettaError(`find or create the shared persona block of "${appName}"`, baseURL, err);
  }
}
