/** src/telemetry/turn-publisher.ts against a fake room (no LiveKit needed). */
import { describe, expect, it } from 'vitest';
import {
  ATTR_AGENT_MODE,
  publishTurnMetrics,
  setAgentMode,
  TOPIC_TURN_METRICS,
  type TurnMetrics,
  type TurnMetricsRoom,
} from '../../src/telemetry/turn-publisher.js';

interface Sent {
  text: string;
  options?: { topic?: string; attributes?: Record<string, string> };
}

function fakeRoom(opts: { connected?: boolean; failSend?: boolean } = {}) {
  const sent: Sent[] = [];
  const attributeUpdates: Array<Record<string, string>> = [];
  const attributes: Record<string, string> = {};
  const room: TurnMetricsRoom = {
    isConnected: opts.connected ?? true,
    localParticipant: {
      attributes,
      async sendText(text, options) {
        if (opts.failSend) throw new Error('data channel closed');
        sent.push({ text, options });
        return {};
      },
      async setAttributes(update) {
        attributeUpdates.push(update);
        Object.assign(attributes, update);
      },
    },
  };
  return { room, sent, attributeUpdates };
}

const metrics: TurnMetrics = {
  turn: 2,
  mode: 'hybrid',
  llmTtftMs: 321.456,
  llmTotalMs: 1200,
  queueDepth: 1,
  writeLagMs: Number.NaN,
  e2eLatencyMs: -5,
};

describe('publishTurnMetrics', () => {
  it('sends one JSON text stream per turn and sets the mode attribute once', async () => {
    const { room, sent, attributeUpdates } = fakeRoom();
    expect(await publishTurnMetrics(room, metrics, { now: () => 1234 })).toBe(true);
    expect(await publishTurnMetrics(room, { ...metrics, turn: 3 }, { now: () => 1300 })).toBe(true);
    expect(sent).toHaveLength(2);
    expect(sent[0]?.options?.topic).toBe(TOPIC_TURN_METRICS);
    expect(sent[0]?.options?.attributes).toEqual({ [ATTR_AGENT_MODE]: 'hybrid', 'letta.turn': '2' });
    expect(JSON.parse(sent[0]?.text ?? '')).toEqual({
      v: 1,
      sentAt: 1234,
      turn: 2,
      mode: 'hybrid',
      llmTtftMs: 321.5,
      llmTotalMs: 1200,
      queueDepth: 1,
      writeLagMs: null, // NaN is not JSON
      eouDelayMs: null,
      ttsTtfbMs: null,
      e2eLatencyMs: null, // negative durations are measurement bugs, not data
    });
    // The attribute only changes when the mode does.
    expect(attributeUpdates).toEqual([{ [ATTR_AGENT_MODE]: 'hybrid' }]);
    await publishTurnMetrics(room, { ...metrics, mode: 'letta', turn: 4 });
    expect(attributeUpdates).toEqual([{ [ATTR_AGENT_MODE]: 'hybrid' }, { [ATTR_AGENT_MODE]: 'letta' }]);
  });

  it('does nothing while the room is not connected', async () => {
    const { room, sent, attributeUpdates } = fakeRoom({ connected: false });
    expect(await publishTurnMetrics(room, metrics)).toBe(false);
    expect(await setAgentMode(room, 'letta')).toBe(false);
    expect(sent).toEqual([]);
    expect(attributeUpdates).toEqual([]);
    expect(await publishTurnMetrics({ isConnected: true }, metrics)).toBe(false);
  });

  it('reports send failures instead of throwing into the voice turn', async () => {
    const { room } = fakeRoom({ failSend: true });
    const errors: unknown[] = [];
    await expect(publishTurnMetrics(room, metrics, { onError: (e) => errors.push(e) })).resolves.toBe(false);
    expect(errors).toHaveLength(1);
  });
});
