/**
 * The voice room page in headless Debian Chromium (driven by playwright-core; no browser download), served by
 * `npm run web` as a child process.
 *
 * First the page on its own, with LiveKit a closed loopback port. Then a real call from the page: headless Debian Chromium with a fake microphone playing synthesized caller
 * lines opens the page from `npm run web`, joins the real livekit-server with a token that dispatches our agent, and
 * the worker (`tsx src/main.ts dev`, a child process) answers through the OpenAI / Deepgram / Cartesia / Letta
 * stand-ins. What the caller hears is measured in the page (simulation/browser/audio-probe.page.js).
 */
import path from 'node:path';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { TokenVerifier } from 'livekit-server-sdk';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ATTR_AGENT_MODE, TOPIC_TURN_METRICS } from '../../src/telemetry/turn-publisher.js';
import { keepOnLoopback, launchChromium, type RunningChromium } from '../../simulation/browser/chromium.js';
import { closedLoopbackPort, TEST_AGENT, TEST_API_KEY, TEST_SECRET } from '../web/helpers.js';
import { mouthToEar, placeBrowserCall, type BrowserCallResult } from '../../simulation/browser/browser-call.js';
import { startCallRig, startWebProcess, type CallRig, type WebProcess } from '../../simulation/browser/call-rig.js';
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

/** What loadPageModule leaves on window. */
interface PageModules {
  __modules: Record<string, unknown>;
}

describe('voice room page, LiveKit unreachable', () => {
  let web: WebProcess;
  let chromium: RunningChromium;
  let page: Page;
  let livekitPort: number;
  let consoleErrors: string[];

  beforeAll(async () => {
    mkdirSync(OUT_DIR, { recursive: true });
    livekitPort = await closedLoopbackPort();
    web = await startWebProcess(
      { LIVEKIT_URL: `ws://127.0.0.1:${livekitPort}`, LIVEKIT_API_KEY: TEST_API_KEY, LIVEKIT_API_SECRET: TEST_SECRET, AGENT_NAME: TEST_AGENT },
      tmpdir(),
    );
    chromium = await launchChromium();
    await keepOnLoopback(chromium.context);
  });

  afterAll(async () => {
    await chromium?.close();
    await web?.stop(5_000);
  });

  beforeEach(async () => {
    page = await chromium.context.newPage();
    consoleErrors = [];
    page.on('console', (msg) => {
      if (msg.type() === 'error') consoleErrors.push(msg.text());
    });
    page.on('pageerror', (err) => consoleErrors.push(`pageerror: ${err.message}`));
  });

  afterEach(async () => {
    await page?.close();
  });

  async function openPage(query = ''): Promise<void> {
    await page.goto(`${web.url}/${query}`);
    await page.waitForSelector('body[data-ready="true"]');
  }

  /**
   * Loads one of the page's ES modules onto window.__modules[name]. Passed as a string because vitest rewrites
   * import() inside functions given to evaluate().
   */
  async function loadPageModule(name: string): Promise<void> {
    await page.evaluate(
      `import('/${name}.js').then((m) => { window.__modules = { ...(window.__modules ?? {}), ${JSON.stringify(name)}: m }; })`,
    );
  }

  it('loads with no console errors and fits a phone screen', async () => {
    await openPage();
    expect(consoleErrors).toEqual([]);
    await expect(page.textContent('#connection-status')).resolves.toBe('Disconnected');
    expect(await page.inputValue('#room')).toMatch(/^voice-[a-z0-9]+$/);
    // Caller memory scope (the default): the server binds this browser's identity with a signed cookie.
    await page.waitForSelector('#memory-owner[data-source="cookie"]');
    expect(await page.inputValue('#identity')).toMatch(/^caller-[A-Za-z0-9_-]{22}$/);
    expect(await page.isEditable('#identity')).toBe(false);
    expect(await page.isDisabled('#mic')).toBe(true);

    const layout = await page.evaluate(() => ({
      scrollWidth: document.documentElement.scrollWidth,
      innerWidth: window.innerWidth,
      connectHeight: document.getElementById('connect')?.getBoundingClientRect().height ?? 0,
      micHeight: document.getElementById('mic')?.getBoundingClientRect().height ?? 0,
    }));
    expect(layout.scrollWidth).toBeLessThanOrEqual(layout.innerWidth); // no sideways scrolling
    expect(layout.connectHeight).toBeGreaterThanOrEqual(48); // thumb-sized
    expect(layout.micHeight).toBeGreaterThanOrEqual(48);
  });

  it('fetches a least-privilege token on connect and shows that LiveKit cannot be reached', async () => {
    await openPage('?room=kitchen-1');
    await page.waitForSelector('#memory-owner[data-source="cookie"]');
    const shownIdentity = await page.inputValue('#identity');
    const tokenResponse = page.waitForResponse((r) => r.url().endsWith('/api/token'));
    await page.click('#connect');
    const response = await tokenResponse;
    expect(response.status()).toBe(200);
    const body = (await response.json()) as { token: string; url: string; room: string; identity: string };
    expect(body.room).toBe('kitchen-1');
    expect(body.identity).toBe(shownIdentity);
    expect(body.url).toBe(`ws://127.0.0.1:${livekitPort}`);
    expect(JSON.stringify(body)).not.toContain(TEST_SECRET);

    const claims = await new TokenVerifier(TEST_API_KEY, TEST_SECRET).verify(body.token);
    expect(claims.sub).toBe(shownIdentity);
    expect(claims.video).toMatchObject({ room: 'kitchen-1', roomJoin: true, canPublish: true, canSubscribe: true, canPublishData: true });
    for (const grant of ['roomAdmin', 'roomCreate', 'roomList', 'roomRecord', 'ingressAdmin', 'agent', 'hidden', 'recorder']) {
      expect(claims.video?.[grant as keyof typeof claims.video], grant).toBeFalsy();
    }
    expect((claims.exp ?? 0) - (claims.nbf ?? 0)).toBe(600);
    expect(claims.roomConfig?.agents?.map((a) => a.agentName)).toEqual([TEST_AGENT]);

    await page.waitForSelector('#connection-status[data-state="unreachable"]', { timeout: 30_000 });
    const alert = page.locator('#alert');
    await expect(alert.isVisible()).resolves.toBe(true);
    expect(await alert.getAttribute('data-kind')).toBe('livekit-unreachable');
    expect(await alert.textContent()).toContain(`LiveKit cannot be reached at ws://127.0.0.1:${livekitPort}`);
    // Back to a state where the caller can retry.
    expect(await page.textContent('#connect')).toBe('Connect');
    expect(await page.isDisabled('#connect')).toBe(false);
    expect(await page.isDisabled('#mic')).toBe(true);

    const shot = path.join(OUT_DIR, 'voice-room-unreachable.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(statSync(shot).size).toBeGreaterThan(0);

    // The web server logged the token it issued, by room and identity, never the secret or the token itself.
    const log = web.output();
    expect(log).toMatch(/issued token/);
    expect(log).toContain('kitchen-1');
    expect(log).not.toContain(TEST_SECRET);
    expect(log).not.toContain(body.token);
  });

  it('rejects a bad room name before asking for a token', async () => {
    await openPage();
    await page.fill('#room', 'no spaces please');
    let tokenRequests = 0;
    page.on('request', (r) => {
      if (r.url().endsWith('/api/token')) tokenRequests += 1;
    });
    await page.click('#connect');
    await page.waitForSelector('#alert:not([hidden])');
    expect(await page.textContent('#alert')).toContain('Room must be');
    expect(tokenRequests).toBe(0);
  });

  it('shares topic and attribute names with the worker', async () => {
    await openPage();
    await loadPageModule('protocol');
    const names = await page.evaluate(() => {
      const m = (window as unknown as PageModules).__modules.protocol as Record<string, unknown>;
      return Object.fromEntries(Object.entries(m).filter(([, v]) => typeof v === 'string')) as Record<string, string>;
    });
    expect(names.TOPIC_TURN_METRICS).toBe(TOPIC_TURN_METRICS);
    expect(names.ATTR_AGENT_MODE).toBe(ATTR_AGENT_MODE);
    // The lk.* names must be the ones @livekit/agents actually publishes.
    const agentsConstants = readFileSync(path.join(REPO_ROOT, 'node_modules/@livekit/agents/dist/constants.js'), 'utf8');
    const expected: Record<string, string> = {
      TOPIC_TRANSCRIPTION: 'TOPIC_TRANSCRIPTION',
      ATTR_TRANSCRIPTION_FINAL: 'ATTRIBUTE_TRANSCRIPTION_FINAL',
      ATTR_TRANSCRIPTION_SEGMENT_ID: 'ATTRIBUTE_TRANSCRIPTION_SEGMENT_ID',
      ATTR_TRANSCRIPTION_TRACK_ID: 'ATTRIBUTE_TRANSCRIPTION_TRACK_ID',
      ATTR_AGENT_STATE: 'ATTRIBUTE_AGENT_STATE',
    };
    for (const [pageName, agentsName] of Object.entries(expected)) {
      expect(agentsConstants, agentsName).toContain(`const ${agentsName} = "${names[pageName]}";`);
    }
  });

  it('rejects malformed turn-metrics messages and explains microphone errors', async () => {
    await openPage();
    await loadPageModule('metrics');
    await loadPageModule('errors');
    const result = await page.evaluate(() => {
      const modules = (window as unknown as PageModules).__modules;
      const m = modules.metrics as { parseTurnMetrics: (text: string) => unknown };
      const e = modules.errors as { describeMicError: (err: unknown) => string };
      return {
        bad: [m.parseTurnMetrics('nope'), m.parseTurnMetrics('{"turn":1,"mode":"other"}')],
        mic: ['NotAllowedError', 'NotFoundError', 'NotReadableError'].map((name) => e.describeMicError(new DOMException('x', name))),
      };
    });
    expect(result.bad).toEqual([null, null]);
    expect(result.mic[0]).toContain('Microphone permission was denied');
    expect(result.mic[1]).toContain('No microphone was found');
    expect(result.mic[2]).toContain('busy');
  });
});

describe('a real browser call through livekit-server', () => {
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
      screenshotFile: SCREENSHOT,
      log: (line) => console.log(`[browser call] ${line}`),
    });
    // What the page showed and measured, for reading after a failure.
    writeFileSync(path.join(OUT_DIR, 'browser-call-result.json'), JSON.stringify({ ...call, turns: mouthToEar(call) }, null, 1));
  }, 300_000);

  afterAll(async () => {
    await rig?.close();
  }, 60_000);

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
    const ttft = /^([\d.]+) (ms|s)$/.exec(call.latency.llmTtftMs ?? '');
    expect(ttft, `first token readout: ${call.latency.llmTtftMs}`).not.toBeNull();
    expect(Number(ttft![1]) * (ttft![2] === 's' ? 1000 : 1)).toBeGreaterThanOrEqual(250);
    expect(call.latency.llmTotalMs).not.toBe('—');
    expect(call.latency.queueDepth).toMatch(/^\d+$/);
  });

  it('saved a screenshot of the page mid-call', () => {
    expect(statSync(SCREENSHOT).size).toBeGreaterThan(10_000);
  });

  it('reaches Letta: after the caller leaves, every turn is stored once, in order', async () => {
    const letta = rig.standIns.letta;
    // Whichever Letta agent holds this caller's memory (shared, or one per caller).
    const userTexts = () => letta.agentIds().flatMap((id) => letta.userMessagesOf(id).map((m) => words(m.text)));
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && !LINES.every((l) => userTexts().some((t) => t.includes(words(l))))) {
      await new Promise((r) => setTimeout(r, 200));
    }
    const stored = userTexts();
    const positions = LINES.map((l) => stored.findIndex((t) => t.includes(words(l))));
    expect(positions.every((p) => p >= 0), `Letta has: ${JSON.stringify(stored)}`).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    for (const l of LINES) expect(stored.filter((t) => t.includes(words(l)))).toHaveLength(1);
    expect(letta.agentIds().flatMap((id) => letta.duplicatesOf(id))).toEqual([]);
  }, 90_000);

  it('has no page errors', () => {
    expect(call.consoleErrors).toEqual([]);
    // And the caller's microphone carried the recording (one voiced stretch per line, give or take word gaps).
    expect(voicedSegments(call.snapshot, 'local', 400).length).toBeGreaterThanOrEqual(LINES.length);
  });
});
