/**
 * One call from the voice room page in headless Chromium: the caller connects, hears the greeting out, then the
 * fake microphone plays the caller's lines (one WAV, silence between lines), and the page's audio is measured by
 * audio-probe.page.js. Ends with the caller pressing Disconnect.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { synthesize } from '../harness/espeak.js';
import {
  inboundAudioStats,
  installAudioProbe,
  probeSnapshot,
  releaseMicrophone,
  voicedSegments,
  type InboundAudioStats,
  type ProbeSnapshot,
} from './audio-probe.js';
import { writeCallerWav, type CallerWav } from './caller-wav.js';
import type { CallRig } from './call-rig.js';
import { keepOnLoopback, launchChromium } from './chromium.js';

export interface BrowserCallOptions {
  lines: readonly string[];
  /** What the agent will answer to a line (sizes the silence after it). */
  expectedReply: (line: string) => string;
  room: string;
  /** Typed into "Your name" when the page lets the caller choose; otherwise the server binds the identity. */
  identity?: string;
  /** Time allowed for the agent to start answering, on top of its reply's length. Default 3500 ms. */
  answerAllowanceMs?: number;
  /** A screenshot of the page once the first reply has been heard. */
  screenshotFile?: string;
  /** Longest wait for the greeting once the agent has joined (job process start + first audio). Default 90 s. */
  greetingTimeoutMs?: number;
  /** Rooms to try before giving up when livekit-server refuses to dispatch the agent (busy machine). Default 6. */
  maxJoinAttempts?: number;
  log?: (line: string) => void;
}

export interface PageTranscriptEntry {
  speaker: string;
  final: string;
  text: string;
}

export interface BrowserCallResult {
  wav: CallerWav;
  snapshot: ProbeSnapshot;
  /** Inbound audio RTP stats taken just before the caller hung up. */
  inbound: InboundAudioStats[];
  transcript: PageTranscriptEntry[];
  /** The page's latency readout (data-metric → text) and its turn label. */
  latency: Record<string, string>;
  latencyTurnLabel: string;
  mode: string;
  consoleErrors: string[];
  /** Page time the greeting's audio started and ended. */
  greeting: { start: number; end: number };
  /** Page time the fake microphone opened (its file starts then). */
  micOpenedAt: number;
  /** The room the call took place in, and how many rooms it took to get the agent dispatched (see joinWithAgent). */
  room: string;
  joinAttempts: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitUntil<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>, context: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms\n${context()}`);
    await sleep(100);
  }
}

/** Silence after each line: the agent's allowance to start answering plus its answer, spoken by the same voice. */
async function gapAfter(reply: string, allowanceMs: number): Promise<number> {
  const speech = await synthesize(reply, { sampleRate: 24_000 });
  return allowanceMs + speech.durationSeconds * 1000 + 1000;
}

export async function placeBrowserCall(rig: CallRig, options: BrowserCallOptions): Promise<BrowserCallResult> {
  const log = options.log ?? (() => undefined);
  const dir = await mkdtemp(path.join(tmpdir(), 'browser-call-'));
  const gaps = await Promise.all(options.lines.map((l) => gapAfter(options.expectedReply(l), options.answerAllowanceMs ?? 3500)));
  const wav = await writeCallerWav(path.join(dir, 'caller.wav'), options.lines, { gapAfterMs: ({ index }) => gaps[index] });
  for (const line of wav.lines) {
    rig.standIns.deepgram.expectUtterance(line.text, { durationSeconds: (line.speechEndMs - line.speechStartMs) / 1000 });
  }

  const chromium = await launchChromium({ fakeMicrophoneWav: wav.file });
  const consoleErrors: string[] = [];
  let lastSnapshot: ProbeSnapshot | undefined;
  const diagnostics = () => {
    const agentLines = rig.livekit
      .output()
      .split('\n')
      .filter((l) => /agent|dispatch|job/i.test(l))
      .map((l) => l.slice(0, 300))
      .slice(-10);
    const page = lastSnapshot
      ? `page: states ${lastSnapshot.states.map((s) => s.state).join(' → ')}; voiced segments ${lastSnapshot.tracks.map((t) => `${t.source}:${t.segments.length}`).join(', ')}`
      : 'page: no probe snapshot';
    return [
      page,
      `browser console errors: ${JSON.stringify(consoleErrors)}`,
      `livekit-server (agent lines):\n${agentLines.join('\n')}`,
      `worker output (tail):\n${rig.worker.output().slice(-3000)}`,
    ].join('\n');
  };
  try {
    await keepOnLoopback(chromium.context);
    await installAudioProbe(chromium.context, { holdMicrophone: true });
    const page = chromium.context.pages()[0] ?? (await chromium.context.newPage());
    page.on('console', (msg) => {
      if (msg.type() === 'error') consoleErrors.push(msg.text());
    });
    page.on('pageerror', (err) => consoleErrors.push(`pageerror: ${err.message}`));

    const { room, attempts } = await joinWithAgent(page, rig, options, log);
    log(`the agent joined room ${room}; waiting for its greeting`);

    // The greeting: agent audio arrives, and the page goes back to "listening" once it has been said.
    const greeting = await waitUntil(
      "the agent's greeting",
      options.greetingTimeoutMs ?? 90_000,
      async () => {
        const snap = (lastSnapshot = await probeSnapshot(page));
        const heard = voicedSegments(snap, 'remote', 700);
        const last = heard.at(-1);
        const listening = snap.states.at(-1)?.state === 'listening';
        return last && listening && snap.now - last.end > 700 ? { start: heard[0].start, end: last.end } : undefined;
      },
      diagnostics,
    );
    log(`greeting heard (${Math.round(greeting.end - greeting.start)} ms of audio); the caller starts talking`);

    await releaseMicrophone(page);
    const micOpenedAt = await waitUntil(
      'opening the fake microphone',
      30_000,
      async () => (await probeSnapshot(page)).micOpenedAt ?? undefined,
      diagnostics,
    );

    if (options.screenshotFile) {
      const firstLineEnd = micOpenedAt + wav.lines[0].speechEndMs;
      await waitUntil(
        'the first reply',
        30_000 + wav.lines[0].speechEndMs,
        async () => {
          const snap = await probeSnapshot(page);
          return voicedSegments(snap, 'remote').some((s) => s.start > firstLineEnd) ? true : undefined;
        },
        diagnostics,
      );
      await sleep(1500); // the reply's transcript and the turn's metrics follow its first audio
      await page.screenshot({ path: options.screenshotFile, fullPage: true });
    }

    // The file has played out once the last gap has passed; the agent has then answered the last line too.
    const remaining = micOpenedAt + wav.durationMs - (await probeSnapshot(page)).now;
    log(`the caller's recording plays for another ${Math.round(remaining / 1000)} s`);
    await sleep(Math.max(0, remaining));
    await waitUntil(
      'the agent going back to listening',
      30_000,
      async () => ((await probeSnapshot(page)).states.at(-1)?.state === 'listening' ? true : undefined),
      diagnostics,
    );

    const result = await readPage(page);
    const inbound = await inboundAudioStats(page);
    const snapshot = await probeSnapshot(page);
    await page.click('#connect'); // Disconnect: the participant leaves, the job's shutdown drains its turns
    await page.waitForSelector('#connection-status[data-state="disconnected"]', { timeout: 10_000 });
    return { wav, snapshot, inbound, ...result, consoleErrors, greeting, micOpenedAt, room, joinAttempts: attempts };
  } finally {
    await chromium.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Opens the page and connects, until the agent joins. livekit-server offers a room's job once, when the room is
 * created, and refuses it when the worker reports a CPU load of 1.0 (pkg/service/agentservice.go,
 * selectWorkerWeightedByLoad, v1.13.5: "no servers available" in its log). On a saturated shared machine the
 * caller therefore tries again in a fresh room (a reloaded page, so nothing of the first attempt is left),
 * and the attempts are reported.
 */
async function joinWithAgent(
  page: Page,
  rig: CallRig,
  options: BrowserCallOptions,
  log: (line: string) => void,
): Promise<{ room: string; attempts: number }> {
  const maxAttempts = options.maxJoinAttempts ?? 6;
  for (let attempt = 1; ; attempt++) {
    const room = attempt === 1 ? options.room : `${options.room}-${attempt}`;
    const serverLogOffset = rig.livekit.output().length;
    await page.goto(`${rig.webUrl}/?room=${encodeURIComponent(room)}`);
    await page.waitForSelector('body[data-ready="true"]');
    // The identity field is read-only once /api/identity said the server binds it (caller memory scope).
    await page.waitForSelector('#memory-owner:not([data-source="unknown"])', { timeout: 10_000 }).catch(() => undefined);
    if (options.identity !== undefined && (await page.isEditable('#identity'))) await page.fill('#identity', options.identity);
    await page.click('#connect');
    await page.waitForSelector('#connection-status[data-state="connected"]', { timeout: 30_000 });
    const joined = await page
      .waitForSelector('#agent-state:not([data-state="absent"]):not([data-state="offline"])', { timeout: 20_000 })
      .then(() => true)
      .catch(() => false);
    if (joined) return { room, attempts: attempt };
    const refusal = rig.livekit
      .output()
      .slice(serverLogOffset)
      .split('\n')
      .find((l) => /failed to send job request|no worker is available/.test(l));
    const why = refusal ? `livekit-server: ${refusal.slice(0, 200)}` : 'no refusal in the livekit-server log';
    if (attempt >= maxAttempts) throw new Error(`the agent never joined after ${attempt} rooms (${why})\n${rig.worker.output().slice(-3000)}`);
    log(`the agent did not join room ${room} within 20 s (${why}); trying a fresh room`);
  }
}

async function readPage(page: Page): Promise<Pick<BrowserCallResult, 'transcript' | 'latency' | 'latencyTurnLabel' | 'mode'>> {
  return (await page.evaluate(`(() => ({
    transcript: Array.from(document.querySelectorAll('#transcript li')).map((li) => ({
      speaker: li.getAttribute('data-speaker') ?? '',
      final: li.getAttribute('data-final') ?? '',
      text: li.querySelector('.text')?.textContent ?? '',
    })),
    latency: Object.fromEntries(Array.from(document.querySelectorAll('#latency dd[data-metric]')).map((dd) => [dd.getAttribute('data-metric'), dd.textContent ?? ''])),
    latencyTurnLabel: document.getElementById('latency-turn')?.textContent ?? '',
    mode: document.getElementById('mode')?.textContent ?? '',
  }))()`)) as Pick<BrowserCallResult, 'transcript' | 'latency' | 'latencyTurnLabel' | 'mode'>;
}

export interface MouthToEarTurn {
  line: string;
  /** Caller's speech end as the page's analyser saw it on the microphone track (page ms). */
  speechEndAt: number;
  /** Where the WAV says the line ends, on the page clock (aligned at the first line's detected start). */
  expectedSpeechEndAt: number;
  /** First agent audio after it, as the page's analyser saw it on the remote track (page ms). */
  firstAgentAudioAt?: number;
  mouthToEarMs?: number;
}

/**
 * Pairs each caller line with the first agent audio after it. The caller's segments come from the microphone
 * track (detected in the page); the WAV's known offsets pick which detected segment belongs to which line.
 */
export function mouthToEar(result: BrowserCallResult): MouthToEarTurn[] {
  const spoken = voicedSegments(result.snapshot, 'local', 400);
  const heard = voicedSegments(result.snapshot, 'remote');
  if (spoken.length === 0) return result.wav.lines.map((l) => ({ line: l.text, speechEndAt: Number.NaN, expectedSpeechEndAt: Number.NaN }));
  const fileStart = spoken[0].start - result.wav.lines[0].speechStartMs;
  return result.wav.lines.map((line, i) => {
    const expectedEnd = fileStart + line.speechEndMs;
    const expectedStart = fileStart + line.speechStartMs;
    const own = spoken.filter((s) => s.end > expectedStart - 300 && s.start < expectedEnd + 300);
    const speechEndAt = own.at(-1)?.end ?? expectedEnd;
    const nextLineStart = i + 1 < result.wav.lines.length ? fileStart + result.wav.lines[i + 1].speechStartMs : Infinity;
    const reply = heard.find((s) => s.start > speechEndAt && s.start < nextLineStart);
    return {
      line: line.text,
      speechEndAt,
      expectedSpeechEndAt: expectedEnd,
      firstAgentAudioAt: reply?.start,
      mouthToEarMs: reply ? reply.start - speechEndAt : undefined,
    };
  });
}
