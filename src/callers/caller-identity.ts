import type { JobContext } from '@livekit/agents';
import type { Config } from '../config.js';

/** In console mode (a fake job, no room) the one local user gets this identity and their own memory. */
export const CONSOLE_CALLER_IDENTITY = 'console';

/**
 * Whose memory a call uses. In caller scope the key is the caller's LiveKit participant identity, which the token
 * server bound to their browser (signed cookie) or to the deployment's login; the job connects and waits for the
 * first non-agent participant. In shared scope nobody's identity matters and nothing waits.
 */
export async function callerIdentityOf(ctx: JobContext, scope: Config['memoryScope']): Promise<string | undefined> {
  if (scope === 'shared') return undefined;
  await ctx.connect();
  if (ctx.isFakeJob) return CONSOLE_CALLER_IDENTITY;
  const participant = await ctx.waitForParticipant();
  return participant.identity;
}
