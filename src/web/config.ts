/**
 * Environment configuration of the token/web server.
 *
 * Validated with zod so that a misconfigured deployment fails at start-up with
 * one message naming every bad variable, instead of failing later on the first
 * token request. Secret values are never echoed: messages name variables only.
 */
import { z } from 'zod';
import { AGENT_NAME_PATTERN, DEFAULT_AGENT_NAME } from '../agent-name.js';

export { AGENT_NAME_PATTERN, DEFAULT_AGENT_NAME };

export interface WebConfig {
  /** LiveKit URL the server would use itself (kept for symmetry with the worker). */
  livekitUrl: string;
  /** LiveKit URL handed to the browser; LIVEKIT_PUBLIC_URL, else LIVEKIT_URL. */
  publicLivekitUrl: string;
  apiKey: string;
  apiSecret: string;
  host: string;
  port: number;
  /** Agent name dispatched into every room a token is issued for. */
  agentName: string;
  tokenTtlSeconds: number;
  /** LETTA_MEMORY_SCOPE, as the worker reads it: in caller scope the identity keys the caller's memory. */
  memoryScope: 'caller' | 'shared';
  /** WEB_COOKIE_SECRET split on commas: the first signs identity cookies, all verify (rotation). */
  cookieSecrets: string[];
  /** WEB_IDENTITY_HEADER (lower case): a trusted header carrying the logged-in user id, set by an auth proxy. */
  identityHeader?: string;
  /** WEB_ALLOW_CLIENT_IDENTITY: development only, the browser may choose any identity (and so anyone's memory). */
  allowClientIdentity: boolean;
}

export class WebConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid web server configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'WebConfigError';
  }
}

export const DEFAULT_WEB_PORT = 3000;
export const DEFAULT_WEB_HOST = '127.0.0.1';
export const DEFAULT_TOKEN_TTL_SECONDS = 600;
/** A signing secret shorter than this is guessable; `openssl rand -base64 48` gives 64 characters. */
export const MIN_COOKIE_SECRET_LENGTH = 32;

const LIVEKIT_PROTOCOLS = new Set(['ws:', 'wss:', 'http:', 'https:']);

function isLiveKitUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return LIVEKIT_PROTOCOLS.has(url.protocol) && url.hostname !== '';
  } catch {
    return false;
  }
}

/** `FOO=` in a .env file means "not set", so blank strings fall back to defaults. */
function blankToUndefined(value: unknown): unknown {
  return typeof value === 'string' && value.trim() === '' ? undefined : value;
}

const required = (what: string) => z.string({ error: `is required (${what})` });

const urlSchema = (what: string) =>
  required(what).refine(isLiveKitUrl, { error: 'must be a ws://, wss://, http:// or https:// URL' });

const intSchema = (min: number, max: number, fallback: number) =>
  z.coerce
    .number({ error: `must be an integer between ${min} and ${max}` })
    .int({ error: `must be an integer between ${min} and ${max}` })
    .min(min, { error: `must be an integer between ${min} and ${max}` })
    .max(max, { error: `must be an integer between ${min} and ${max}` })
    .default(fallback);

const schema = z.object({
  LIVEKIT_URL: z.preprocess(blankToUndefined, urlSchema('URL of the LiveKit server')),
  LIVEKIT_PUBLIC_URL: z.preprocess(
    blankToUndefined,
    urlSchema('browser-facing LiveKit URL').optional(),
  ),
  LIVEKIT_API_KEY: z.preprocess(blankToUndefined, required('LiveKit API key')),
  LIVEKIT_API_SECRET: z.preprocess(blankToUndefined, required('LiveKit API secret')),
  WEB_HOST: z.preprocess(blankToUndefined, z.string().default(DEFAULT_WEB_HOST)),
  WEB_PORT: z.preprocess(blankToUndefined, intSchema(0, 65535, DEFAULT_WEB_PORT)),
  AGENT_NAME: z.preprocess(
    blankToUndefined,
    z
      .string()
      .regex(AGENT_NAME_PATTERN, {
        error: 'must be 1-64 characters: letters, digits, "_", "." or "-", starting with a letter or digit',
      })
      .default(DEFAULT_AGENT_NAME),
  ),
  // Short by default: a leaked room token is only useful for a few minutes.
  TOKEN_TTL_SECONDS: z.preprocess(blankToUndefined, intSchema(30, 3600, DEFAULT_TOKEN_TTL_SECONDS)),
  LETTA_MEMORY_SCOPE: z.preprocess(blankToUndefined, z.enum(['caller', 'shared'], { error: 'must be caller or shared' }).default('caller')),
  WEB_COOKIE_SECRET: z.preprocess(
    blankToUndefined,
    z
      .string()
      .transform((v) => v.split(',').map((s) => s.trim()).filter((s) => s !== ''))
      .refine((secrets) => secrets.length > 0 && secrets.every((s) => s.length >= MIN_COOKIE_SECRET_LENGTH), {
        error: `must be at least ${MIN_COOKIE_SECRET_LENGTH} characters (comma-separated to rotate); generate one with: openssl rand -base64 48`,
      })
      .optional(),
  ),
  WEB_IDENTITY_HEADER: z.preprocess(
    blankToUndefined,
    z
      .string()
      .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, { error: 'must be an HTTP header name, e.g. X-Forwarded-User' })
      .transform((v) => v.toLowerCase())
      .optional(),
  ),
  WEB_ALLOW_CLIENT_IDENTITY: z.preprocess(
    blankToUndefined,
    z
      .enum(['true', 'false'], { error: 'must be true or false' })
      .default('false')
      .transform((v) => v === 'true'),
  ),
});

export interface LoadWebConfigOptions {
  /** The caller passes its own `resolveIdentity` to createWebApp, so no cookie secret is needed. */
  customIdentity?: boolean;
}

/** Cookie mode (the default in caller scope) needs a secret; any other way of binding identities does not. */
export function needsCookieSecret(config: Pick<WebConfig, 'memoryScope' | 'identityHeader' | 'allowClientIdentity'>): boolean {
  return config.memoryScope === 'caller' && !config.identityHeader && !config.allowClientIdentity;
}

/** The variables this module reads, in the order problems are reported. */
export const WEB_ENV_KEYS = Object.keys(schema.shape) as ReadonlyArray<keyof typeof schema.shape>;

export function loadWebConfig(env: NodeJS.ProcessEnv = process.env, options: LoadWebConfigOptions = {}): WebConfig {
  // Only pick our keys: zod never sees (or reports) anything else from the environment.
  const picked = Object.fromEntries(WEB_ENV_KEYS.map((key) => [key, env[key]]));
  const result = schema.safeParse(picked);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? 'environment');
      return `${key}: ${issue.message}`;
    });
    throw new WebConfigError(problems);
  }
  const v = result.data;
  const binding = { memoryScope: v.LETTA_MEMORY_SCOPE, identityHeader: v.WEB_IDENTITY_HEADER, allowClientIdentity: v.WEB_ALLOW_CLIENT_IDENTITY };
  if (!options.customIdentity && needsCookieSecret(binding) && !v.WEB_COOKIE_SECRET) {
    throw new WebConfigError([
      'WEB_COOKIE_SECRET: is required with LETTA_MEMORY_SCOPE=caller (it signs the cookie that binds each browser to its own memory); ' +
        'generate one with: openssl rand -base64 48. Alternatives: WEB_IDENTITY_HEADER behind an auth proxy, or WEB_ALLOW_CLIENT_IDENTITY=true for development',
    ]);
  }
  return {
    livekitUrl: v.LIVEKIT_URL,
    publicLivekitUrl: v.LIVEKIT_PUBLIC_URL ?? v.LIVEKIT_URL,
    apiKey: v.LIVEKIT_API_KEY,
    apiSecret: v.LIVEKIT_API_SECRET,
    host: v.WEB_HOST,
    port: v.WEB_PORT,
    agentName: v.AGENT_NAME,
    tokenTtlSeconds: v.TOKEN_TTL_SECONDS,
    ...binding,
    cookieSecrets: v.WEB_COOKIE_SECRET ?? [],
  };
}
