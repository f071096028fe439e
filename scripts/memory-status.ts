/**
 * npm run memory:status [-- --data-dir DIR] [--json]
 * With MEMORY_STORE=postgres (and no --data-dir) it reads the database at MEMORY_DATABASE_URL instead.
 * Read-only view of the memory journals (one slot per job process): works for stopped workers
 * and next to running ones (it never takes a lock).
 */
import 'dotenv/config';
import { basename, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { inspectDataDir, type DataDirReport, type SlotReport } from '../src/memory/journal/inspect-data-dir.js';
import { MEMORY_DEFAULTS } from '../src/memory/options.js';
import { formatAge, formatMs } from '../src/memory/status-format.js';

const USAGE = 'usage: memory:status [-- --data-dir DIR] [--json]';

function parseCommandLine() {
  try {
    return parseArgs({
      options: { 'data-dir': { type: 'string' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } },
    });
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
}

const { values } = parseCommandLine();
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
if (process.env.MEMORY_STORE?.trim() === 'postgres' && values['data-dir'] === undefined) {
  const { databaseUrlFromEnv, printDatabaseStatus } = await import('../src/memory/postgres/store-cli.js');
  await printDatabaseStatus(databaseUrlFromEnv(), values.json);
  process.exit(0);
}
const dataDir = resolve(values['data-dir'] ?? process.env.MEMORY_DATA_DIR ?? MEMORY_DEFAULTS.dataDir);
const report = await inspectDataDir(dataDir);

if (values.json) {
  console.log(JSON.stringify(report, null, 2));
} else {
  console.log(render(report, Date.now()));
}

function render(r: DataDirReport, now: number): string {
  const lines: string[] = [`Memory data dir: ${r.dataDir}`];
  if (r.slots.length === 0) lines.push('No journal yet (no worker has started on this data dir).');
  for (const slot of r.slots) {
    const extra = [
      slot.tornTailBytes ? `torn tail ${slot.tornTailBytes} B (quarantined at next start)` : '',
      slot.invalidLines ? `${slot.invalidLines} unreadable lines (quarantined at next start)` : '',
    ]
      .filter(Boolean)
      .join(', ');
    lines.push(`- ${basename(slot.dir)}: ${describeWorker(slot)}; journal ${formatBytes(slot.journalBytes)}, ${slot.records} records, ${slot.pending.length} pending, ${slot.deadLetters.length} dead${extra ? `; ${extra}` : ''}`);
    if (slot.live) {
      const s = slot.live.stats;
      lines.push(
        `    live (${formatAge(now - slot.live.updatedAt)} ago): in flight ${s.inFlight}, written ${s.written}, retries ${s.retries}, ` +
          `write lag ${formatMs(s.writeLagMs)}, last write ${formatMs(s.lastWriteLatencyMs)}, circuit ${s.circuit}, failed permanently ${s.failedPermanently}` +
          (s.unjournaled ? `, ${s.unjournaled} turn(s) held in memory only (journal not writable: disk full?)` : ''),
      );
    }
  }

  const oldest = r.backlog.length ? Math.min(...r.backlog.map((b) => b.oldestEnqueuedAt)) : undefined;
  lines.push('', `Depth: ${r.pending.length} turn(s) pending across ${r.backlog.length} agent(s)${oldest === undefined ? '' : `, oldest pending ${formatAge(now - oldest)}`}`);
  if (r.backlog.length) {
    lines.push('', '| agent | pending | oldest pending |', '|---|---:|---:|');
    for (const b of r.backlog) lines.push(`| ${b.agentId} | ${b.pending} | ${formatAge(now - b.oldestEnqueuedAt)} |`);
  }
  lines.push('', `Dead letters: ${r.deadLetters.length}${r.deadLetters.length ? ' (npm run memory:dead-letters -- list)' : ''}`);
  for (const d of r.deadLetters.slice(0, 10)) lines.push(`  ${d.turn.id}  ${d.turn.agentId}  ${d.status ?? '-'}  ${d.reason}`);
  if (r.deadLetters.length > 10) lines.push(`  … ${r.deadLetters.length - 10} more`);
  lines.push('', `Quarantined (unreadable journal lines, kept byte for byte): ${r.quarantined}`);
  for (const slot of r.slots) {
    if (slot.quarantine.entries.length === 0) continue;
    lines.push(`  ${slot.quarantine.file}`);
    for (const q of slot.quarantine.entries.slice(-10)) {
      lines.push(`    ${basename(q.source)} line ${q.line} (offset ${q.offset}, ${q.bytes} B, ${new Date(q.at).toISOString()}): ${q.reason}: ${q.preview}`);
    }
    if (slot.quarantine.entries.length > 10) lines.push(`    … ${slot.quarantine.entries.length - 10} earlier`);
  }
  return lines.join('\n');
}

function describeWorker(slot: SlotReport): string {
  switch (slot.worker.state) {
    case 'running':
      return `worker running (pid ${slot.worker.owner.pid} on ${slot.worker.owner.host}, since ${new Date(slot.worker.owner.startedAt).toISOString()})`;
    case 'crashed':
      return `no worker (stale lock of pid ${slot.worker.owner.pid}; the next start adopts it)`;
    case 'stopped':
      return 'no worker';
  }
}

function formatBytes(bytes: number): string {
  return bytes < 1024 ? `${bytes} B` : `${(bytes / 1024).toFixed(1)} KiB`;
}
