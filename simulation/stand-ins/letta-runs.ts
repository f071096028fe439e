/**
 * Runs and their cancellation, as the Letta server 0.16.8 keeps them (used by letta-server.ts).
 *
 * Source (github.com/letta-ai/letta, tag 0.16.8):
 *   - Every messages.create / stream request is a run (`run-<uuid4>`, letta/schemas/run.py) with status
 *     created -> running -> completed | failed | cancelled (RunStatus, letta/schemas/enums.py); its stream items
 *     carry its `run_id`.
 *   - `POST /v1/agents/{agent_id}/messages/cancel` (letta/server/rest_api/routers/v1/agents.py, cancel_message),
 *     body `{run_ids?: string[] | null}`: without run_ids the agent's active (created/running) runs are cancelled,
 *     none -> 409 NoActiveRunsToCancelError (letta/errors.py, mapped in letta/server/rest_api/app.py). Answers
 *     `{<run_id>: "cancelled" | "failed"}`: "failed" for an unknown run; a run that already has a stop reason is
 *     left alone but still reported "cancelled" (RunManager.cancel_run, letta/services/run_manager.py: cancelling
 *     is idempotent). Otherwise the run becomes status "cancelled", stop_reason "cancelled", completed_at set,
 *     at once: the database says cancelled before the agent loop has noticed.
 *   - The agent loop notices at the start of its next step (LettaAgentV3._check_run_cancellation,
 *     letta/agents/letta_agent_v3.py) or, while streaming, within 0.5 s (cancellation_aware_stream_wrapper,
 *     letta/server/rest_api/streaming_response.py), which then sends `{"message_type":"stop_reason",
 *     "stop_reason":"cancelled"}` and ends the stream. Modelled here as "noticed at the first check at least
 *     0.5 s after the previous one".
 *   - `GET /v1/runs/{run_id}` (letta/server/rest_api/routers/v1/runs.py, retrieve_run) -> Run;
 *     unknown -> 404 `{"detail": "Run with id ... not found"}` (NoResultFound, RunManager.get_run_by_id).
 */
import type { Run } from '@letta-ai/letta-client/resources/agents/messages';

/** cancellation_aware_stream_wrapper's default cancellation_check_interval (seconds). */
const CANCELLATION_CHECK_INTERVAL_MS = 500;

type RunStatus = NonNullable<Run['status']>;

interface RunRecord {
  run: Run;
  startedAt: number;
  lastCheckAt: number;
  /** When the run's status became final (performance.now()). */
  stoppedAt?: number;
  /** When the agent loop saw the cancellation and stopped producing. */
  loopStoppedAt?: number;
}

export interface RunAnswer {
  status: number;
  body: unknown;
}

export class LettaRuns {
  private readonly runs = new Map<string, RunRecord>();

  /** A request became a run; Letta marks it running before it returns the stream. */
  start(runId: string, agentId: string, background = false): void {
    const at = performance.now();
    this.runs.set(runId, {
      run: {
        id: runId,
        agent_id: agentId,
        status: 'running',
        created_at: new Date().toISOString(),
        completed_at: null,
        background,
        base_template_id: null,
        callback_url: null,
        callback_sent_at: null,
        callback_status_code: null,
        callback_error: null,
        conversation_id: null,
        metadata: null,
        request_config: null,
        stop_reason: null,
        total_duration_ns: null,
        ttft_ns: null,
      },
      startedAt: at,
      lastCheckAt: at,
    });
  }

  /** The agent loop finished (or failed); a cancelled run keeps its status. */
  finish(runId: string, status: Extract<RunStatus, 'completed' | 'failed'>, stopReason: Run['stop_reason']): void {
    const record = this.runs.get(runId);
    if (record === undefined) return;
    record.loopStoppedAt ??= performance.now();
    if (record.run.stop_reason) return;
    this.settle(record, status, stopReason);
  }

  /**
   * Called by the agent loop as it goes: true once a cancellation is noticed (then the loop stops). Checks happen
   * at most every 0.5 s, like Letta's stream wrapper.
   */
  noticeCancellation(runId: string): boolean {
    const record = this.runs.get(runId);
    if (record === undefined) return false;
    const at = performance.now();
    if (at - record.lastCheckAt < CANCELLATION_CHECK_INTERVAL_MS) return false;
    record.lastCheckAt = at;
    if (record.run.status !== 'cancelled') return false;
    record.loopStoppedAt ??= at;
    return true;
  }

  isCancelled(runId: string): boolean {
    return this.runs.get(runId)?.run.status === 'cancelled';
  }

  /** POST /v1/agents/{agent_id}/messages/cancel */
  cancel(agentId: string, body: unknown): RunAnswer {
    const requested = isRecord(body) && Array.isArray(body.run_ids) ? body.run_ids.filter((id): id is string => typeof id === 'string') : [];
    const runIds =
      requested.length > 0
        ? requested
        : [...this.runs.values()]
            .filter((r) => r.run.agent_id === agentId && (r.run.status === 'created' || r.run.status === 'running'))
            .map((r) => r.run.id);
    if (runIds.length === 0) return { status: 409, body: { detail: `No active runs to cancel for agent ${agentId}` } };
    const results: Record<string, string> = {};
    for (const runId of runIds) {
      const record = this.runs.get(runId);
      if (record === undefined) {
        results[runId] = 'failed';
        continue;
      }
      if (!record.run.stop_reason || record.run.stop_reason === 'requires_approval') this.settle(record, 'cancelled', 'cancelled');
      results[runId] = 'cancelled';
    }
    return { status: 200, body: results };
  }

  /** GET /v1/runs/{run_id} */
  retrieve(runId: string): RunAnswer {
    const record = this.runs.get(runId);
    if (record === undefined) return { status: 404, body: { detail: `Run with id ${runId} not found` } };
    return { status: 200, body: structuredClone(record.run) };
  }

  /** Test view: the run, when it became final, and when its agent loop stopped producing. */
  timeline(runId: string): { run: Run; startedAt: number; stoppedAt?: number; loopStoppedAt?: number } | undefined {
    const record = this.runs.get(runId);
    return record === undefined ? undefined : { ...structuredClone(record), run: structuredClone(record.run) };
  }

  ids(agentId?: string): string[] {
    return [...this.runs.values()].filter((r) => agentId === undefined || r.run.agent_id === agentId).map((r) => r.run.id);
  }

  private settle(record: RunRecord, status: RunStatus, stopReason: Run['stop_reason']): void {
    const at = performance.now();
    record.run.status = status;
    record.run.stop_reason = stopReason;
    record.run.completed_at = new Date().toISOString();
    record.run.total_duration_ns = Math.round((at - record.startedAt) * 1e6);
    record.stoppedAt = at;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
