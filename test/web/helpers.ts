/** Shared fixtures for the web tests: loopback-only ports, config, captured logs. */
import { createServer } from 'node:net';
import { loadWebConfig, type WebConfig } from '../../src/web/config.js';
import { createWebLogger, type WebLogger } from '../../src/web/logger.js';

/** A loopback port that nothing listens on (bound, then released). */
export async function closedLoopbackPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (!address || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** Distinctive so a leak anywhere is unmistakable. */
export const TEST_SECRET = 'test-secret-9f2c4e1b7a3d5f60c8e2b4a6d8f0e1c3';
export const TEST_API_KEY = 'APItestkey123';
export const TEST_AGENT = 'letta-voice-agent-test';
export const TEST_COOKIE_SECRET = 'test-cookie-secret-0b1d3f5a7c9e2b4d6f8a0c1e3b5d7f9a';

export function testConfig(livekitPort: number, overrides: NodeJS.ProcessEnv = {}): WebConfig {
  return loadWebConfig({
    LIVEKIT_URL: `ws://127.0.0.1:${livekitPort}`,
    LIVEKIT_API_KEY: TEST_API_KEY,
    LIVEKIT_API_SECRET: TEST_SECRET,
    WEB_HOST: '127.0.0.1',
    WEB_PORT: '0',
    AGENT_NAME: TEST_AGENT,
    WEB_COOKIE_SECRET: TEST_COOKIE_SECRET,
    ...overrides,
  });
}

/** A pino logger that keeps every JSON line it writes, for leak and content checks. */
export function captureLogger(): WebLogger & { lines: string[] } {
  const lines: string[] = [];
  const logger = createWebLogger({ write: (line: string) => void lines.push(line) });
  return Object.assign(logger, { lines });
}

/** Decodes a JWT payload without verifying it (for leak checks only). */
export function decodeJwtPayload(token: string): Record<string, unknown> {
  const part = token.split('.')[1] ?? '';
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
}
