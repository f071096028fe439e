// A short call through the worker's own wiring (hybrid fast path) with real speech, real silero VAD and the
// real Deepgram / Cartesia / OpenAI / Letta clients against local servers with realistic injected latencies.
// Bounds are generous on purpose: CI machines have two shared cores.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REALISTIC_LATENCIES, startVoiceCallHarness, type MeasuredTurn, type VoiceCallHarness } from '../../simulation/harness/voice-call-harness.js';

const LINES = ['Hi there, do you remember my name?', 'What should I pack for a cold morning on the water?'];
/** Room on top of the injected latencies for a loaded two-core machine. */
const SLACK_MS = 2_500;

let harness: VoiceCallHarness;
let turns: MeasuredTurn[];

beforeAll(async () => {
  harness = await startVoiceCallHarness({
    variant: 'hybrid',
    openaiReply: (req) => {
      const system = req.messages.find((m) => m.role === 'system');
      const knowsSam = typeof system?.content === 'string' && system.content.includes('Sam');
      return knowsSam ? 'Of course, you are Sam. What can I do for you today?' : 'I do not know your name yet. What is it?';
    },
  });
  turns = await harness.run(LINES);
}, 90_000);

afterAll(async () => {
  await harness?.close();
});

describe('a simulated call through the worker', () => {
  it('answers every caller line with audio', () => {
    expect(turns).toHaveLength(LINES.length);
    for (const turn of turns) {
      expect(turn.segment?.playedSeconds ?? 0).toBeGreaterThan(0.5);
      expect(turn.segment?.interrupted).toBe(false);
      expect(turn.timeline.agentText).not.toBe('');
    }
    // The fast path had the seeded core memory in its prompt.
    expect(turns[0].timeline.agentText).toContain('you are Sam');
    expect(harness.reports.map((r) => r.source)).toEqual(LINES.map(() => 'openai'));
  });

  it('keeps voice-to-voice within the injected latencies plus a generous bound', () => {
    const l = REALISTIC_LATENCIES;
    const endpointing = harness.config.endpointingMinDelayMs;
    // Turn decision (endpointing) and the provider chain are both on the path; allow for both, plus slack.
    const injected = endpointing + l.deepgramMs + l.openaiTtftMs + 10 * l.openaiTokenDelayMs + l.cartesiaTtfbMs;
    for (const turn of turns) {
      const b = turn.breakdown!;
      expect(b).toBeDefined();
      expect(b.voiceToVoiceMs).toBeGreaterThan(l.openaiTtftMs + l.cartesiaTtfbMs);
      expect(b.voiceToVoiceMs).toBeLessThan(injected + SLACK_MS);
      // Provider stages as the servers saw them match what was injected.
      expect(b.llmTtftMs).toBeGreaterThanOrEqual(l.openaiTtftMs - 5);
      expect(b.ttsTtfbMs).toBeGreaterThanOrEqual(l.cartesiaTtfbMs - 5);
      expect(b.sttFinalMs).toBeGreaterThanOrEqual(l.deepgramMs);
    }
  });

  it('gets session metrics that agree with the harness clock', () => {
    for (const turn of turns) {
      const d = turn.breakdown!.discrepancy;
      // TTS TTFB as the plugin measured it vs. as the server saw it: network and scheduling only.
      expect(Math.abs(d.ttsTtfbMs ?? Infinity)).toBeLessThan(SLACK_MS);
      expect(turn.timeline.metrics.eouDelayMs).toBeGreaterThan(0);
      expect(turn.timeline.report?.llmTtftMs).toBeGreaterThan(0);
    }
  });

  it('records the call as a WAV file', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'voice-call-'));
    try {
      const file = path.join(dir, 'call.wav');
      await harness.writeWav(file);
      expect(statSync(file).size).toBeGreaterThan(44 + 24_000 * 2 * 2 * 3); // > 3 s of stereo 24 kHz
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
