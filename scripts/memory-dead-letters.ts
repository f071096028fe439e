/**
 * npm run memory:dead-letters -- list [--json]
 * npm run memory:dead-letters -- requeue <turn-id>... | --all
 * Options: --data-dir DIR (default MEMORY_DATA_DIR or ./data). With MEMORY_STORE=postgres (and no --data-dir) the
 * dead letters are those in MEMORY_DATABASE_URL; a requeue is left as a request that a running worker takes.
 * Requeued turns go to the end of their agent's queue with their original id and otid.
 */
import 'dotenv/config';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { inspectDataDir } from '../src/memory/journal/inspect-data-dir.js';
import { requeueDeadLetters } from '../src/memory/journal/requeue-dead-letters.js';
import { MEMORY_DEFAULTS } from '../src/memory/options.js';
import { excerpt } from '../src/memory/status-format.js';

const USAGE = 'usage: memory:dead-letters -- list [--json] | requeue <turn-id>... | requeue --all   [--data-dir DIR]';

function parseCommandLine() {
  try {
    return parseArgs({
      allowPositionals: true,
      options: {
        'data-dir': { type: 'string' },
        all: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
}

const { values, positionals } = parseCommandLine();
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const dataDir = resolve(values['data-dir'] ?? process.env.MEMORY_DATA_DIR ?? MEMORY_DEFAULTS.dataDir);
const [command = 'list', ...ids] = positionals;

if (process.env.MEMORY_STORE?.trim() === 'postgres' && values['data-dir'] === undefined) {
  const cli = await import('../src/memory/postgres/store-cli.js');
  if (command === 'list') {
    await cli.listDatabaseDeadLetters(cli.databaseUrlFromEnv(), values.json);
    process.exit(0);
  }
  if (command !== 'requeue' || values.all === (ids.length > 0)) {
    console.error(USAGE);
    process.exit(2);
  }
  process.exit(await cli.requeueDatabaseDeadLetters(cli.databaseUrlFromEnv(), values.all ? 'all' : ids));
}

if (command === 'list') {
  const { deadLetters } = await inspectDataDir(dataDir);
  if (values.json) {
    console.log(JSON.stringify(deadLetters, null, 2));
  } else if (deadLetters.length === 0) {
    console.log(`No dead letters in ${dataDir}.`);
  } else {
    console.log(`${deadLetters.length} dead letter(s) in ${dataDir}:\n`);
    for (const d of deadLetters) {
      console.log(`${d.turn.id}  (${d.slot})`);
      console.log(`  agent:   ${d.turn.agentId}${d.turn.sessionId ? `  session: ${d.turn.sessionId}` : ''}`);
      console.log(`  dead at: ${new Date(d.deadAt).toISOString()}  status: ${d.status ?? 'n/a'}`);
      console.log(`  reason:  ${d.reason}`);
      console.log(`  user:    ${excerpt(d.turn.userText)}`);
      console.log(`  spoken:  ${excerpt(d.turn.assistantText)}${d.turn.interrupted ? ' [interrupted]' : ''}\n`);
    }
  }
} else if (command === 'requeue') {
  if (values.all === (ids.length > 0)) {
    console.error(`requeue needs either turn ids or --all\n${USAGE}`);
    process.exit(2);
  }
  const known = new Set((await inspectDataDir(dataDir)).deadLetters.map((d) => d.turn.id));
  const unknown = ids.filter((id) => !known.has(id));
  if (unknown.length > 0) {
    console.error(`not dead letters in ${dataDir}: ${unknown.join(', ')}`);
    process.exit(1);
  }
  for (const outcome of await requeueDeadLetters(dataDir, values.all ? 'all' : ids)) {
    if (outcome.via === 'journal') {
      console.log(`${outcome.slot}: requeued ${outcome.requeued.length} turn(s); written when a worker next starts.`);
    } else {
      console.log(`${outcome.slot}: worker pid ${outcome.pid ?? '?'} is running; it requeues ${outcome.requested.length} turn(s) within seconds.`);
    }
  }
} else {
  console.error(USAGE);
  process.exit(2);
}

