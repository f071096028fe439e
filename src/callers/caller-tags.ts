/**
 * Letta tags that bind agents and the shared persona block to this deployment and to one caller. Tags are how Letta
 * recommends finding per-user agents since identities left the TypeScript client (1.6.7): `agents.list({ tags,
 * match_all_tags: true })`.
 */
export const SHARED_PERSONA_TAG = 'shared-persona';

/** Every agent and block this deployment creates carries it, so two deployments on one Letta never mix callers. */
export function appTag(appName: string): string {
  return `app:${appName}`;
}

/** The caller's LiveKit participant identity, as bound by the token server (see src/web/identity.ts). */
export function callerTag(identity: string): string {
  return `caller:${identity}`;
}

export function callerAgentTags(appName: string, identity: string): string[] {
  return [appTag(appName), callerTag(identity)];
}

/** A readable agent name; Letta does not require names to be unique, the tags are the key. */
export function callerAgentName(appName: string, identity: string): string {
  return `${appName}-caller-${identity}`.slice(0, 120);
}
