/**
 * Entry point of `npm run web`: the voice room page and token endpoint.
 * Reads .env (without overriding the real environment), validates it, listens.
 */
import { config as loadDotenv } from 'dotenv';
import { startWebServer } from './app.js';
import { loadWebConfig, WebConfigError, type WebConfig } from './config.js';
import { createWebLogger } from './logger.js';

loadDotenv({ quiet: true });

let config: WebConfig;
try {
  config = loadWebConfig();
} catch (err) {
  if (err instanceof WebConfigError) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
}

const logger = createWebLogger();
if (config.memoryScope === 'caller' && config.allowClientIdentity && !config.identityHeader) {
  logger.warn('WEB_ALLOW_CLIENT_IDENTITY=true: any browser can use any identity and so hear anyone\'s memory (development only)');
}
const running = await startWebServer(config, { logger });
const displayHost = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : null;
const pageUrl = displayHost ? `http://${displayHost}:${running.port}/` : `${running.url}/`;
logger.info(`voice room page: ${pageUrl} (LiveKit: ${config.publicLivekitUrl}, agent: ${config.agentName})`);

let stopping = false;
const stop = (signal: string): void => {
  if (stopping) return;
  stopping = true;
  logger.info(`${signal} received, closing`);
  running.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
