/**
 * A real call from the voice room page: headless Debian Chromium with a fake microphone playing synthesized caller
 * lines opens the page from `npm run web`, joins the real livekit-server with a token that dispatches our agent, and
 * the worker (`tsx src/main.ts dev`, a child process) answers through the OpenAI / Deepgram / Cartesia / Letta
 * stand-ins. What the caller hears is measured in the page (simulation/browser/audio-probe.page.js).
 */
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mouthToEar, placeBrowserCall, type BrowserCallResult } from '../../simulation/browser/browser-call.js';
import { startCallRig, type CallRig } from '../../simulation/browser/call-rig.js';
import { REPO_ROOT } from '../../simulation/browser/child-service.js';
import { voicedSegments } from '../../simulation/browser/audio-probe.js';
import { defaultReply, lastUserText, type ChatRequestBody } from '../../simulation/stand-ins/openai-server.js';

const OUT_DIR = path.join(REPO_ROOT, 'out', 'e2e');
const SCREENSHOT = path.join(OUT_DIR, 'browser-call-mid-call.png');
const LINES = ['What is the weather like today', 'Please remind me to call my sister'];
const GREETING = 'Hello Sam, good to hear from you again.';
/** The OpenAI stand-in's answer: a greeting when nobody has spoken yet, else its echo of what Deepgram heard. */
const reply = (req: ChatRequestBody) => (lastUserText(req) ? defaultReply(req) : GREETING);
/** What the agent will answer to a line, to size the silence after it. */
const expectedReply = (line: string) => reply({ model: 'x', messages: [{ role: 'user', content: line }] });

const words = (text: string) => text.toLowerCase().replace(/[^a-z ]+/g, '').trim();

let rig: CallRig;
let call: BrowserCallResult;

beforeAll(async () => {
  mkdirSync(OUT_DIR, { recursive: true });
  // Realistic provider latencies, except Letta's agent steps (the write-behind is not on the reply path; shorter
  // steps only make the test's wait for Letta shorter).
  rig = await startCallRig({ latencies: { lettaStepMs: 300 }, openaiReply: reply });
  call = await placeBrowserCall(rig, {
    lines: LINES,
    expectedReply,
    room: `browser-call-${Date.now().toString(36)}`,
    identity: 'sam',
    screenshotFile: SCREENSHOT,
    log: (line) => console.log(`[browser call] ${line}`),
  });
  // What the page showed and measured, for reading after a failure.
  writeFileSync(path.join(OUT_DIR, 'browser-call-result.json'), JSON.stringify({ ...call, turns: mouthToEar(call) }, null, 1));
}, 300_000);

afterAll(async () => {
  await rig?.close();
}, 60_000);

describe('a real browser call through livekit-server', () => {
  it('plays the greeting and each reply as audio in the browser', () => {
    // The greeting was heard before the caller's microphone opened.
    expect(call.greeting.end - call.greeting.start).toBeGreaterThan(300);
    expect(call.greeting.end).toBeLessThan(call.micOpenedAt);

    const turns = mouthToEar(call);
    expect(turns.map((t) => t.line)).toEqual(LINES);
    for (const turn of turns) {
      // The caller's line was detected on the microphone track where the WAV says it ends (generous bound).
      expect(Math.abs(turn.speechEndAt - turn.expectedSpeechEndAt), turn.line).toBeLessThan(500);
      expect(turn.mouthToEarMs, `no agent audio after "${turn.line}"`).toBeGreaterThan(0);
      expect(turn.mouthToEarMs!, turn.line).toBeLessThan(6_000);
    }

    // The same audio as WebRTC's own accounting of what was received and decoded.
    const energy = call.inbound.reduce((sum, s) => sum + s.totalAudioEnergy, 0);
    expect(call.inbound.reduce((sum, s) => sum + s.packetsReceived, 0)).toBeGreaterThan(100);
    expect(energy).toBeGreaterThan(0.01);
    expect(call.snapshot.errors).toEqual([]);
  });

  it("shows the agent's states listening → thinking → speaking for a turn", () => {
    const afterMic = call.snapshot.states.filter((s) => s.at >= call.micOpenedAt).map((s) => s.state);
    const order = ['listening', 'thinking', 'speaking'];
    let next = 0;
    for (const state of afterMic) if (state === order[next]) next += 1;
    expect(next, `states after the caller started: ${afterMic.join(' → ')}`).toBe(order.length);
    // Before the call, the page showed it was waiting for the agent to join.
    expect(call.snapshot.states.map((s) => s.state)).toContain('absent');
  });

  it('shows both sides of the transcript from LiveKit transcription streams', () => {
    const user = call.transcript.filter((t) => t.speaker === 'user');
    const agent = call.transcript.filter((t) => t.speaker === 'agent');
    // Like real Deepgram, the stand-in may finalise a line in pieces at a pause (each piece is its own segment).
    expect(user.map((t) => words(t.text)).join(' ')).toBe(LINES.map(words).join(' '));
    expect(user.every((t) => t.final === 'true')).toBe(true);
    // The greeting first, then replies that repeat what the agent heard.
    expect(call.transcript[0]).toMatchObject({ speaker: 'agent', text: expect.stringContaining(GREETING) });
    const replies = agent.slice(1).map((t) => words(t.text)).join(' ');
    for (const line of LINES) expect(replies).toContain(words(line));
    expect(agent.every((t) => t.final === 'true')).toBe(true);
  });

  it('shows the per-turn latency readout and the mode', () => {
    expect(call.mode).toBe('Hybrid');
    expect(call.latencyTurnLabel).toMatch(/^\(turn \d+, hybrid\)$/);
    // The OpenAI stand-in answers after 300 ms: the readout must show a plausible first-token time.
    const ttft = /^(\d+) ms$/.exec(call.latency.llmTtftMs ?? '');
    expect(ttft, `first token readout: ${call.latency.llmTtftMs}`).not.toBeNull();
    expect(Number(ttft![1])).toBeGreaterThanOrEqual(250);
    expect(call.latency.llmTotalMs).not.toBe('—');
    expect(call.latency.queueDepth).toMatch(/^\d+$/);
  });

  it('saved a screenshot of the page mid-call', () => {
    expect(statSync(SCREENSHOT).size).toBeGreaterThan(10_000);
  });

  it('reaches Letta: after the caller leaves, every turn is stored once, in order', async () => {
    const letta = rig.standIns.letta;
    const agentId = rig.standIns.agentId;
    const deadline = Date.now() + 60_000;
    const userTexts = () => letta.userMessagesOf(agentId).map((m) => words(m.text));
    while (Date.now() < deadline && !LINES.every((l) => userTexts().some((t) => t.includes(words(l))))) {
      await new Promise((r) => setTimeout(r, 200));
    }
    const stored = userTexts();
    const positions = LINES.map((l) => stored.findIndex((t) => t.includes(words(l))));
    expect(positions.every((p) => p >= 0), `Letta has: ${JSON.stringify(stored)}`).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    for (const l of LINES) expect(stored.filter((t) => t.includes(words(l)))).toHaveLength(1);
    expect(letta.duplicatesOf(agentId)).toEqual([]);
  }, 90_000);

  it('has no page errors', () => {
    expect(call.consoleErrors).toEqual([]);
    // And the caller's microphone carried the recording (one voiced stretch per line, give or take word gaps).
    expect(voicedSegments(call.snapshot, 'local', 400).length).toBeGreaterThanOrEqual(LINES.length);
  });
});
