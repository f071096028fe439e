/**
 * `npx tsx scripts/check-config.ts`: validates the worker's environment with
 * the worker's own loadConfig (src/config.ts), so the start script fails fast
 * with the same message the worker would print, before anything starts.
 * Exit 0 when valid; otherwise the ConfigError message (variable names, never
 * values) on stderr and exit 1.
 */
import { ConfigError, loadConfig } from '../src/config.js';

try {
  const config = loadConfig(process.env);
  console.log(
    `worker config ok (agent ${config.livekit.agentName}, ${config.hybridStreaming ? 'hybrid' : 'letta'} mode, health port ${config.livekit.workerHttpPort})`,
  );
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
}
