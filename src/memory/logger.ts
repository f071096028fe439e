type LogFn = (obj: object, msg?: string) => void;

/** The subset of pino the memory queue uses, so the agents framework logger can be passed as is. */
export interface MemoryLogger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

const ignore: LogFn = () => {};
export const silentLogger: MemoryLogger = { debug: ignore, info: ignore, warn: ignore, error: ignore };
