/**
 * The web server logs through pino (fastify's own logger), one JSON line per event.
 * Log lines carry room and identity names only: never a token, key or secret.
 */
import { pino, type DestinationStream, type Logger } from 'pino';

export type WebLogger = Logger;

export function createWebLogger(destination?: DestinationStream): WebLogger {
  const options = { name: 'web', level: 'info' };
  return destination ? pino(options, destination) : pino(options);
}
