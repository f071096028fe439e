/**
 * Validation of the caller-chosen room and identity names.
 *
 * The token endpoint is unauthenticated, so it only accepts short, boring names:
 * they show up in LiveKit dashboards, logs and the agent's memory keys, and a
 * strict alphabet rules out confusables, path tricks and log injection.
 */
import { randomBytes } from 'node:crypto';

export const NAME_MAX_LENGTH = 64;
/** Letters, digits, "_", "-" and "."; must start with a letter or digit. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export type NameKind = 'room' | 'identity';

export type NameCheck = { ok: true; value: string } | { ok: false; error: string };

export function checkName(kind: NameKind, value: unknown): NameCheck {
  if (typeof value !== 'string') {
    return { ok: false, error: `${kind} must be a string` };
  }
  if (value.length === 0) {
    return { ok: false, error: `${kind} must not be empty` };
  }
  if (value.length > NAME_MAX_LENGTH) {
    return { ok: false, error: `${kind} must be at most ${NAME_MAX_LENGTH} characters` };
  }
  if (!NAME_PATTERN.test(value)) {
    return {
      ok: false,
      error: `${kind} may only contain letters, digits, "_", "-" and ".", and must start with a letter or digit`,
    };
  }
  return { ok: true, value };
}

/** Default names for callers that do not pick one (e.g. a bare curl). */
export function generateName(kind: NameKind): string {
  const prefix = kind === 'room' ? 'voice' : 'user';
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}
