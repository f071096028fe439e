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
});

/** The variables this module reads, in the order problems are reported. */
export const WEB_ENV_KEYS = Object.keys(schema.shape) as ReadonlyArray<keyof typeof schema.shape>;

export function loadWebConfig(env: NodeJS.ProcessEnv = process.env): WebConfig {
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
  return {
    livekitUrl: v.LIVEKIT_URL,
    publicLivekitUrl: v.LIVEKIT_PUBLIC_URL ?? v.LIVEKIT_URL,
    apiKey: v.LIVEKIT_API_KEY,
    apiSecret: v.LIVEKIT_API_SECRET,
    host: v.WEB_HOST,
    port: v.WEB_PORT,
    agentName: v.AGENT_NAME,
    tokenTtlSeconds: v.TOKEN_TTL_SECONDS,
  };
}
