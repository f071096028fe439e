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
export function redactingLogger(secrets: readonly string[], base?: Logger): Logger {
  // Resolved per call: the framework initialises its logger inside cli.runApp, after this wrapper may be made.
  const target = (): Logger => base ?? log();
  const scrub = (text: string) => secrets.reduce((out, secret) => out.split(secret).join(REDACTED), text);
  const scrubValue = (value: unknown, depth: number): unknown => {
    if (typeof value === 'string') return scrub(value);
    if (value instanceof Error) return scrub(value.message);
    if (depth > 4 || value === null || typeof value !== 'object') return value;
    if (Array.isArray(value)) return value.map((v) => scrubValue(v, depth + 1));
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scrubValue(v, depth + 1)]));
  };
  const wrap =
    (level: keyof Logger): LogFn =>
    (obj, msg) => {
      const logger = target();
      logger[level].call(logger, scrubValue(obj, 0) as object, msg === undefined ? undefined : scrub(msg));
    };
  return { debug: wrap('debug'), info: wrap('info'), warn: wrap('warn'), error: wrap('error') };
}
