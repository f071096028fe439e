/** The web server logs through this tiny interface so tests can capture lines. */
export interface WebLogger {
  info(message: string): void;
  error(message: string): void;
}

export const consoleLogger: WebLogger = {
  info: (message) => console.log(`[web] ${message}`),
  error: (message) => console.error(`[web] ${message}`),
};

export const silentLogger: WebLogger = {
  info: () => undefined,
  error: () => undefined,
};
