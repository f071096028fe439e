import type { RequeueSelection } from '../turn-store.js';
import { inspectDatabase, requestRequeue, type DatabaseReport } from './inspect-database.js';
import { excerpt, formatAge, formatMs } from '../status-format.js';

/** `memory:status` and `memory:dead-letters` when MEMORY_STORE=postgres: the same questions, asked of the database. */

export function databaseUrlFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  const url = env.MEMORY_DATABASE_URL?.trim();
  if (!url) throw new Error('MEMORY_STORE=postgres needs MEMORY_DATABASE_URL');
  return url;
}

export async function printDatabaseStatus(databaseUrl: string, json: boolean, now = Date.now()): Promise<void> {
  const report = await inspectDatabase(databaseUrl);
  console.log(json ? JSON.stringify(report, null, 2) : renderDatabaseStatus(report, now));
}

export function renderDatabaseStatus(r: DatabaseReport, now: number): string {
  const lines = [`Memory store: PostgreSQL ${r.database} (schema version ${r.schemaVersion})`];
  if (r.schemaVersion === 0) return [...lines, 'No schema yet (no worker has started on this database).'].join('\n');
  if (r.workers.length === 0) lines.push('No worker registered.');
  for (const w of r.workers) {
    lines.push(`- ${w.owner}: ${w.live ? 'running' : 'gone (lease expired; its turns are adopted by a live worker)'} (pid ${w.pid} on ${w.host}, since ${new Date(w.startedAt).toISOString()})`);
    if (w.live && w.stats && w.statsAt !== null) {
      const s = w.stats;
      lines.push(
        `    live (${formatAge(now - w.statsAt)} ago): depth ${s.depth}, in flight ${s.inFlight}, written ${s.written}, retries ${s.retries}, ` +
          `write lag ${formatMs(s.writeLagMs)}, last write ${formatMs(s.lastWriteLatencyMs)}, circuit ${s.circuit}, failed permanently ${s.failedPermanently}`,
      );
    }
  }
  const oldest = r.backlog.length ? Math.min(...r.backlog.map((b) => b.oldestEnqueuedAt)) : undefined;
  lines.push('', `Depth: ${r.pending} turn(s) pending across ${r.backlog.length} agent(s)${oldest === undefined ? '' : `, oldest pending ${formatAge(now - oldest)}`}`);
  if (r.backlog.length) {
    lines.push('', '| agent | pending | oldest pending | writer (lease) |', '|---|---:|---:|---|');
    for (const b of r.backlog) lines.push(`| ${b.agentId} | ${b.pending} | ${formatAge(now - b.oldestEnqueuedAt)} | ${b.heldBy ?? '-'} |`);
  }
  lines.push('', `Dead letters: ${r.deadLetters.length}${r.deadLetters.length ? ' (npm run memory:dead-letters -- list)' : ''}`);
  for (const d of r.deadLetters.slice(0, 10)) lines.push(`  ${d.turn.id}  ${d.turn.agentId}  ${d.status ?? '-'}  ${d.reason}`);
  if (r.deadLetters.length > 10) lines.push(`  … ${r.deadLetters.length - 10} more`);
  if (r.requeueRequestsWaiting) lines.push('', `Requeue requests waiting for a worker: ${r.requeueRequestsWaiting}`);
  return lines.join('\n');
}

export async function listDatabaseDeadLetters(databaseUrl: string, json: boolean): Promise<void> {
  const { deadLetters, database } = await inspectDatabase(databaseUrl);
  if (json) return console.log(JSON.stringify(deadLetters, null, 2));
  if (deadLetters.length === 0) return console.log(`No dead letters in ${database}.`);
  console.log(`${deadLetters.length} dead letter(s) in ${database}:\n`);
  for (const d of deadLetters) {
    console.log(d.turn.id);
    console.log(`  agent:   ${d.turn.agentId}${d.turn.sessionId ? `  session: ${d.turn.sessionId}` : ''}`);
    console.log(`  dead at: ${new Date(d.deadAt).toISOString()}  status: ${d.status ?? 'n/a'}`);
    console.log(`  reason:  ${d.reason}`);
    console.log(`  user:    ${excerpt(d.turn.userText)}`);
    console.log(`  spoken:  ${excerpt(d.turn.assistantText)}${d.turn.interrupted ? ' [interrupted]' : ''}\n`);
  }
}

/** Returns the process exit code. */
export async function requeueDatabaseDeadLetters(databaseUrl: string, selection: RequeueSelection): Promise<number> {
  const { unknown, liveWorkers } = await requestRequeue(databaseUrl, selection);
  if (unknown.length > 0) {
    console.error(`not dead letters in the memory database: ${unknown.join(', ')}`);
    return 1;
  }
  const what = selection === 'all' ? 'all dead letters' : `${selection.length} turn(s)`;
  console.log(
    liveWorkers > 0
      ? `Requeue of ${what} requested; one of the ${liveWorkers} running worker(s) requeues them within seconds.`
      : `Requeue of ${what} requested; no worker is running, the next one to start requeues them.`,
  );
  return 0;
}

