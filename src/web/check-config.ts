/**
 * `node --import tsx src/web/check-config.ts`: exits 0 when the web server's
 * environment is valid, else prints every problem (never a secret value) and
 * exits 1. Used by start_voice_system.sh before anything is started.
 */
import { config as loadDotenv } from 'dotenv';
import { loadWebConfig, WebConfigError } from './config.js';

loadDotenv({ quiet: true });

try {
  const config = loadWebConfig();
  console.log(`web config ok (listen ${config.host}:${config.port}, agent ${config.agentName})`);
} catch (err) {
  if (err instanceof WebConfigError) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
}
