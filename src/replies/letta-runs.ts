import type Letta from '@letta-ai/letta-client';

export interface RunStopLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface LettaRunStopperOptions {
  client: Letta;
  /** Longest wait for an abandoned run to stop before the agent is used again. */
  waitMs: number;
  /** Pause between run-status polls. */
  pollMs?: number;
  logger: RunStopLogger;
}

export interface RunStopOutcome {
  /** Letta's answer to the cancel request: per-run "cancelled" / "failed", or why the request failed. */
  cancel: string;
  /** The run's last known status; undefined if it was never read. */
  status?: string;
  stopped: boolean;
  waitedMs: number;
}

/** Run statuses after which the run does no more work (Letta's RunStatus, letta/schemas/enums.py at 0.16.8). */
const FINAL_STATUSES: ReadonlySet<string> = new Set(['completed', 'failed', 'cancelled']);

/**
 * Stops a Letta run whose reply the caller no longer hears (barge-in, deadline, stall, dropped stream). Letta keeps
 * running an agent loop after its client disconnects, and a second request to the same agent while it runs gives
 * undefined results, so the run is cancelled (best effort: `POST /v1/agents/{id}/messages/cancel` with its run id)
 * and its status polled (`GET /v1/runs/{id}`) until it is final or `waitMs` passes. Never throws.
 */
export class LettaRunStopper {
  private readonly pollMs: number;

  constructor(private readonly options: LettaRunStopperOptions) {
    this.pollMs = options.pollMs ?? 200;
  }

  async stop(agentId: string, runId: string): Promise<RunStopOutcome> {
    const { client, waitMs, logger } = this.options;
    const started = performance.now();
    const remaining = () => waitMs - (performance.now() - started);
    const requestOptions = () => ({ timeout: Math.max(1, Math.round(remaining())), maxRetries: 0 });

    let cancel: string;
    try {
      const answer = await client.agents.messages.cancel(agentId, { run_ids: [runId] }, requestOptions());
      cancel = typeof answer[runId] === 'string' ? (answer[runId] as string) : 'answered';
    } catch (err) {
      cancel = `cancel request failed: ${errorText(err)}`;
    }

    let status: string | undefined;
    while (remaining() > 0) {
      try {
        status = (await client.runs.retrieve(runId, requestOptions())).status ?? status;
      } catch (err) {
        // A run Letta does not know (404) is not running; anything else: keep asking until the bound.
        if (statusOf(err) === 404) {
          status = 'unknown';
          break;
        }
      }
      if (status !== undefined && FINAL_STATUSES.has(status)) break;
      await sleep(Math.min(this.pollMs, Math.max(0, remaining())));
    }
    const stopped = status === 'unknown' || (status !== undefined && FINAL_STATUSES.has(status));
    const outcome: RunStopOutcome = { cancel, status, stopped, waitedMs: Math.round(performance.now() - started) };
    if (stopped) logger.info({ agentId, runId, ...outcome }, 'abandoned Letta run stopped');
    else logger.warn({ agentId, runId, ...outcome }, `abandoned Letta run still active after ${waitMs} ms; the agent is used again anyway`);
    return outcome;
  }
}

function statusOf(err: unknown): number | undefined {
  const status = (err as { status?: unknown } | null)?.status;
  return typeof status === 'number' ? status : undefined;
}

function errorText(err: unknown): string {
  const status = statusOf(err);
  const message = err instanceof Error ? err.message : String(err);
  return status === undefined ? message : `${status} ${message}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
