// Barge-in through the real audio pipeline: the caller talks over a long reply. The turn written to Letta must be
// marked interrupted and hold only what the caller actually heard, not the whole generated reply.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INTERRUPTED_NOTE } from '../../src/memory/transcript.js';
import { synthesize } from '../../simulation/harness/espeak.js';
import { startVoiceCallHarness, type VoiceCallHarness } from '../../simulation/harness/voice-call-harness.js';
import { waitFor } from '../support/wait-for.js';

const QUESTION = 'Tell me everything about sailing, please.';
const INTERRUPTION = 'Stop, that is enough for now.';
const LONG_REPLY = [
  'Sailing is the art of moving a boat with the wind.',
  'You trim the sails to keep the wind flowing smoothly over them.',
  'When the wind comes from behind you, you let the sails out wide.',
  'When it comes from the side, you pull them in a little.',
  'Tacking turns the bow through the wind, and gybing turns the stern through it.',
  'Always check the weather before you leave the harbour.',
  'THE-LAST-SENTENCE-NOBODY-HEARD is about knots and ropes.',
].join(' ');

let harness: VoiceCallHarness;

beforeAll(async () => {
  harness = await startVoiceCallHarness({
    variant: 'hybrid',
    latencies: { cartesiaRealTimeFactor: 0.2, openaiTokenDelayMs: 5 },
    openaiReply: (req) => (JSON.stringify(req.messages.at(-1)).includes('enough') ? 'Alright, we can stop here.' : LONG_REPLY),
  });
}, 60_000);

afterAll(async () => {
  await harness?.close();
});

describe('an interrupted reply', () => {
  it('is written to Letta marked as interrupted, with only the part that was played', async () => {
    const { deepgram, letta } = harness.servers;
    const question = await synthesize(QUESTION, { sampleRate: 24_000 });
    deepgram.expectUtterance(QUESTION, { durationSeconds: question.speechEndSeconds - question.speechStartSeconds });
    const answering = harness.output.nextSegmentStarted(20_000);
    await harness.input.say(question);
    await answering;

    // Let the agent talk past the framework's echo-cancellation warm-up (3 s), then talk over it.
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    const interruption = await synthesize(INTERRUPTION, { sampleRate: 24_000 });
    deepgram.expectUtterance(INTERRUPTION, { durationSeconds: interruption.speechEndSeconds - interruption.speechStartSeconds });
    await harness.input.say(interruption);

    await waitFor(() => harness.reports.length >= 2, 20_000);
    await harness.call!.recorder.flushed(5_000);
    await harness.services.queue.whenIdle();

    expect(harness.reports[0]!.interrupted).toBe(true);
    // A write-behind turn is the caller's words as a user message, then what they heard as an assistant message.
    const written = letta.clientMessagesOf(harness.agentId);
    const [said, heard] = written;
    const context = JSON.stringify({ written: written.map((m) => [m.role, m.text]), reports: harness.reports, transcript: harness.transcript });
    expect(said, context).toMatchObject({ role: 'user', text: QUESTION });
    expect(heard?.role).toBe('assistant');
    expect(heard?.text).toContain(INTERRUPTED_NOTE);
    expect(heard?.text).toContain('Sailing is the art of moving a boat with the wind.');
    expect(heard?.text).not.toContain('THE-LAST-SENTENCE-NOBODY-HEARD');
  });
});
