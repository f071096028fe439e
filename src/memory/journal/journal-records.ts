import { z } from 'zod';
import type { DeadLetter, PendingTurn } from '../turn.js';

const pendingTurnSchema = z.object({
  id: z.string().min(1),
  otid: z.string().min(1),
  agentId: z.string().min(1),
  sessionId: z.string().optional(),
  userText: z.string(),
  assistantText: z.string(),
  interrupted: z.boolean(),
  userAt: z.number(),
  assistantAt: z.number(),
  enqueuedAt: z.number(),
  attempts: z.number().int().nonnegative(),
});

/** One line of the journal. `v` lets a later format be told apart from this one. */
const recordSchema = z.discriminatedUnion('type', [
  z.object({ v: z.literal(1), type: z.literal('turn'), turn: pendingTurnSchema }),
  z.object({ v: z.literal(1), type: z.literal('ack'), ids: z.array(z.string()), at: z.number() }),
  z.object({ v: z.literal(1), type: z.literal('dead'), id: z.string(), reason: z.string(), status: z.number().optional(), at: z.number() }),
  z.object({ v: z.literal(1), type: z.literal('requeue'), ids: z.array(z.string()), at: z.number() }),
]);

export type JournalRecord = z.infer<typeof recordSchema>;

export const turnRecord = (turn: PendingTurn): JournalRecord => ({ v: 1, type: 'turn', turn: { ...turn } });
export const ackRecord = (ids: readonly string[], at: number): JournalRecord => ({ v: 1, type: 'ack', ids: [...ids], at });
export const requeueRecord = (ids: readonly string[], at: number): JournalRecord => ({ v: 1, type: 'requeue', ids: [...ids], at });
export const deadRecord = (letter: DeadLetter): JournalRecord => ({
  v: 1,
  type: 'dead',
  id: letter.turn.id,
  reason: letter.reason,
  ...(letter.status === undefined ? {} : { status: letter.status }),
  at: letter.deadAt,
});

export function encodeRecord(record: JournalRecord): string {
  return `${JSON.stringify(record)}\n`;
}

export const JOURNAL_VERSION = 1;

export type ParsedLine = { record: JournalRecord } | { reason: string };

/** Why a line is not a record this worker can use (corruption, or a newer format), or the record. */
export function parseRecordLine(line: string): ParsedLine {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return { reason: 'not JSON (torn or garbage)' };
  }
  const version = (parsed as { v?: unknown } | null)?.v;
  if (typeof version === 'number' && version > JOURNAL_VERSION) {
    return { reason: `record version ${version} is newer than this worker reads (${JOURNAL_VERSION})` };
  }
  const result = recordSchema.safeParse(parsed);
  if (result.success) return { record: result.data };
  const issue = result.error.issues[0];
  return { reason: `not a journal record: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'schema mismatch'}` };
}

/** Returns undefined for a line that is not a valid record. */
export function decodeRecord(line: string): JournalRecord | undefined {
  const parsed = parseRecordLine(line);
  return 'record' in parsed ? parsed.record : undefined;
}
