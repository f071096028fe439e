/**
 * Publishes per-turn latency metrics from the worker to the voice room page.
 *
 * Each turn goes out as one small JSON text stream on TOPIC_TURN_METRICS, and
 * the agent's current mode is mirrored in the participant attribute
 * ATTR_AGENT_MODE, so a page that joins mid-session sees the mode at once.
 * Telemetry must never break a voice turn: failures are reported to the
 * optional `onError` and swallowed.
 *
 * The page side is src/web/public/metrics.js; the names are duplicated in
 * src/web/public/protocol.js (checked by test/e2e/browser-call.test.ts).
 */
import type { Room } from '@livekit/rtc-node';

export const TOPIC_TURN_METRICS = 'letta.turn_metrics';
export const ATTR_AGENT_MODE = 'letta.mode';
/** Bumped when a field changes meaning, so old pages can ignore new messages. */
export const TURN_METRICS_VERSION = 1;

export type AgentMode = 'hybrid' | 'letta';

/** One finished turn, as measured by the worker. Durations are milliseconds, null when not measured. */
export interface TurnMetrics {
  /** 1-based turn counter within the session. */
  turn: number;
  /** hybrid: OpenAI-compatible LLM answers, Letta memory written behind; letta: Letta answers directly. */
  mode: AgentMode;
  /** Request sent → first LLM token. */
  llmTtftMs: number | null;
  /** Request sent → last LLM token. */
  llmTotalMs: number | null;
  /** Memory writes still queued (hybrid write-behind) after this turn. */
  queueDepth: number;
  /** Age of the oldest queued memory write, or how far memory lags the conversation. */
  writeLagMs: number | null;
  /** End of user speech → end-of-utterance decision. */
  eouDelayMs?: number | null;
  /** TTS request → first audio byte. */
  ttsTtfbMs?: number | null;
  /** End of user speech → first agent audio: what the caller feels. */
  e2eLatencyMs?: number | null;
}

/** What goes on the wire: the metrics plus a version and a send time. */
export interface TurnMetricsMessage extends TurnMetrics {
  v: typeof TURN_METRICS_VERSION;
  /** Worker clock, ms since the epoch. */
  sentAt: number;
}

/**
 * The part of @livekit/rtc-node's Room this module uses. `Room` satisfies it;
 * tests pass a fake.
 */
export interface TurnMetricsRoom {
  readonly isConnected: boolean;
  readonly localParticipant?: {
    readonly attributes: Record<string, string>;
    sendText(text: string, options?: { topic?: string; attributes?: Record<string, string> }): Promise<unknown>;
    setAttributes(attributes: Record<string, string>): Promise<void>;
  };
}

// Compile-time proof that the real Room fits, so the lead can pass ctx.room directly.
type Assignable<T extends TurnMetricsRoom> = T;
export type _RoomFits = Assignable<Room>;

export interface PublishOptions {
  onError?: (error: unknown) => void;
  now?: () => number;
}

/** JSON has no NaN/Infinity (JSON.stringify would emit null anyway); be explicit and drop negatives too. */
function cleanMs(value: number | null | undefined): number | null {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.round(value * 10) / 10 : null;
}

export function toTurnMetricsMessage(metrics: TurnMetrics, sentAt: number): TurnMetricsMessage {
  return {
    v: TURN_METRICS_VERSION,
    sentAt,
    turn: Math.max(0, Math.trunc(metrics.turn)),
    mode: metrics.mode,
    llmTtftMs: cleanMs(metrics.llmTtftMs),
    llmTotalMs: cleanMs(metrics.llmTotalMs),
    queueDepth: Number.isFinite(metrics.queueDepth) ? Math.max(0, Math.trunc(metrics.queueDepth)) : 0,
    writeLagMs: cleanMs(metrics.writeLagMs),
    eouDelayMs: cleanMs(metrics.eouDelayMs),
    ttsTtfbMs: cleanMs(metrics.ttsTtfbMs),
    e2eLatencyMs: cleanMs(metrics.e2eLatencyMs),
  };
}

/**
 * Sets the `letta.mode` attribute on the agent participant, if it changed.
 * Call once when the session starts (so the page shows the mode before the
 * first turn); publishTurnMetrics also calls it.
 * @returns true when the attribute is (now) set.
 */
export async function setAgentMode(room: TurnMetricsRoom, mode: AgentMode, options: PublishOptions = {}): Promise<boolean> {
  const participant = room.localParticipant;
  if (!room.isConnected || !participant) return false;
  if (participant.attributes[ATTR_AGENT_MODE] === mode) return true;
  try {
    await participant.setAttributes({ [ATTR_AGENT_MODE]: mode });
    return true;
  } catch (error) {
    options.onError?.(error);
    return false;
  }
}

/**
 * Sends one turn's metrics to everyone in the room (topic TOPIC_TURN_METRICS).
 * @returns true when the message was sent; false when the room is not
 * connected or sending failed (the error goes to options.onError).
 */
export async function publishTurnMetrics(
  room: TurnMetricsRoom,
  metrics: TurnMetrics,
  options: PublishOptions = {},
): Promise<boolean> {
  const participant = room.localParticipant;
  if (!room.isConnected || !participant) return false;
  const message = toTurnMetricsMessage(metrics, (options.now ?? Date.now)());
  await setAgentMode(room, metrics.mode, options);
  try {
    await participant.sendText(JSON.stringify(message), {
      topic: TOPIC_TURN_METRICS,
      attributes: { [ATTR_AGENT_MODE]: message.mode, 'letta.turn': String(message.turn) },
    });
    return true;
  } catch (error) {
    options.onError?.(error);
    return false;
  }
}
