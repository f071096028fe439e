import { log } from '@livekit/agents';

type LogFn = (obj: object, msg?: string) => void;

/** The pino methods the worker uses; the agents framework's logger satisfies it. */
export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

const REDACTED = '[redacted]';

/**
 * Wraps the agents framework's pino logger so that no configured secret can reach a log line, even inside an
 * error message quoted from a provider. Secrets are matched as substrings of every string field.
 */
export function redactingLogger(secrets: readonly string[], base: Logger = log()): Logger {
  if (secrets.length === 0) return base;
  const scrub = (text: string) => secrets.reduce((out, secret) => out.split(secret).join(REDACTED), text);
  const scrubValue = (value: unknown, depth: number): unknown => {
    if (typeof value === 'string') return scrub(value);
    if (value instanceof Error) return scrub(value.message);
    if (depth > 4 || value === null || typeof value !== 'object') return value;
    if (Array.isArray(value)) return value.map((v) => scrubValue(v, depth + 1));
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scrubValue(v, depth + 1)]));
  };
  const wrap =
    (fn: LogFn): LogFn =>
    (obj, msg) =>
      fn(scrubValue(obj, 0) as object, msg === undefined ? undefined : scrub(msg));
  return { debug: wrap(base.debug.bind(base)), info: wrap(base.info.bind(base)), warn: wrap(base.warn.bind(base)), error: wrap(base.error.bind(base)) };
}
