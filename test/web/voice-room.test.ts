/**
 * The voice room page in real headless Chromium (Debian's /usr/bin/chromium,
 * driven by playwright-core; no browser download). LiveKit is a closed
 * loopback port, so the page must show the "cannot be reached" state.
 */
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { TokenVerifier } from 'livekit-server-sdk';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startWebServer, type RunningWebServer } from '../../src/web/app.js';
import { ATTR_AGENT_MODE, TOPIC_TURN_METRICS } from '../../src/telemetry/turn-publisher.js';
import { captureLogger, closedLoopbackPort, TEST_AGENT, TEST_API_KEY, TEST_SECRET, testConfig } from './helpers.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const OUT_DIR = join(ROOT, 'out', 'web');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** What loadPageModule leaves on window. */
interface PageModules {
  __modules: Record<string, unknown>;
}

let web: RunningWebServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let livekitPort: number;
let consoleErrors: string[];
const logger = captureLogger();

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  }
  livekitPort = await closedLoopbackPort();
  web = await startWebServer(testConfig(livekitPort), { logger });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
    ],
  });
  mkdirSync(OUT_DIR, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  await web?.close();
});

beforeEach(async () => {
  // A phone-sized viewport: the page is meant to be used on a phone.
  context = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 1, hasTouch: true });
  page = await context.newPage();
  consoleErrors = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push(msg.text());
  });
  page.on('pageerror', (err) => consoleErrors.push(`pageerror: ${err.message}`));
  // Any request that leaves loopback would be a bug in the page (and is not allowed here).
  await page.route(/^(?!https?:\/\/127\.0\.0\.1[:/]|wss?:\/\/127\.0\.0\.1[:/]|data:|blob:)/, (route) => route.abort());
});

afterEach(async () => {
  await context?.close();
});

async function openPage(query = ''): Promise<void> {
  await page.goto(`${web.url}/${query}`);
  await page.waitForSelector('body[data-ready="true"]');
}

/**
 * Loads one of the page's ES modules onto window.__modules[name]. Passed as a
 * string because vitest rewrites import() inside functions given to evaluate().
 */
async function loadPageModule(name: string): Promise<void> {
  await page.evaluate(
    `import('/${name}.js').then((m) => { window.__modules = { ...(window.__modules ?? {}), ${JSON.stringify(name)}: m }; })`,
  );
}

describe('voice room page', () => {
  it('loads with no console errors and fits a phone screen', async () => {
    await openPage();
    expect(consoleErrors).toEqual([]);
    await expect(page.textContent('#connection-status')).resolves.toBe('Disconnected');
    expect(await page.inputValue('#room')).toMatch(/^voice-[a-z0-9]+$/);
    expect(await page.inputValue('#identity')).toMatch(/^user-[a-z0-9]+$/);
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
    await page.fill('#identity', 'alice');
    const tokenResponse = page.waitForResponse((r) => r.url().endsWith('/api/token'));
    await page.click('#connect');
    const response = await tokenResponse;
    expect(response.status()).toBe(200);
    const body = (await response.json()) as { token: string; url: string; room: string; identity: string };
    expect(body.room).toBe('kitchen-1');
    expect(body.identity).toBe('alice');
    expect(body.url).toBe(`ws://127.0.0.1:${livekitPort}`);
    expect(JSON.stringify(body)).not.toContain(TEST_SECRET);

    const claims = await new TokenVerifier(TEST_API_KEY, TEST_SECRET).verify(body.token);
    expect(claims.sub).toBe('alice');
    expect(claims.video).toMatchObject({
      room: 'kitchen-1',
      roomJoin: true,
      canPublish: true,
      canSubscribe: true,
      canPublishData: true,
    });
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

    const shot = join(OUT_DIR, 'voice-room-unreachable.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(statSync(shot).size).toBeGreaterThan(0);

    expect(logger.lines.some((l) => l.includes('issued token room=kitchen-1 identity=alice'))).toBe(true);
    expect(logger.lines.join('\n')).not.toContain(TEST_SECRET);
    expect(logger.lines.join('\n')).not.toContain(body.token);
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
    const agentsConstants = readFileSync(join(ROOT, 'node_modules/@livekit/agents/dist/constants.js'), 'utf8');
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

  it('renders both transcript shapes and a turn-metrics message', async () => {
    await openPage();
    await loadPageModule('transcript');
    await loadPageModule('metrics');
    const result = await page.evaluate(async () => {
      const modules = (window as unknown as PageModules).__modules;
      type Reader = AsyncIterable<string> & { info: { id: string; attributes: Record<string, string> } };
      const t = modules.transcript as {
        Transcript: new (list: HTMLElement, empty: HTMLElement) => unknown;
        consumeTranscriptionStream: (
          transcript: unknown,
          reader: Reader,
          sender: { identity: string },
          isLocal: (identity?: string, trackId?: string) => boolean,
        ) => Promise<void>;
      };
      const m = modules.metrics as {
        LatencyPanel: new (root: HTMLElement, history: HTMLElement, label: HTMLElement) => { show(x: unknown): void };
        parseTurnMetrics: (text: string) => unknown;
      };
      const reader = (id: string, attributes: Record<string, string>, chunks: string[]): Reader => ({
        info: { id, attributes },
        async *[Symbol.asyncIterator]() {
          yield* chunks;
        },
      });
      const transcript = new t.Transcript(
        document.getElementById('transcript') as HTMLElement,
        document.getElementById('transcript-empty') as HTMLElement,
      );
      const isLocal = (_identity?: string, trackId?: string) => trackId === 'TR_user_mic';
      const userAttrs = (final: boolean) => ({
        'lk.segment_id': 'SG_user1',
        'lk.transcribed_track_id': 'TR_user_mic',
        'lk.transcription_final': String(final),
      });
      // User STT: full text per stream, interim then final.
      await t.consumeTranscriptionStream(transcript, reader('s1', userAttrs(false), ['what is']), { identity: 'alice' }, isLocal);
      const interim = document.querySelector('#transcript li')?.getAttribute('data-final');
      await t.consumeTranscriptionStream(
        transcript,
        reader('s2', userAttrs(true), ['what is my name?']),
        { identity: 'alice' },
        isLocal,
      );
      // Agent: one delta stream.
      await t.consumeTranscriptionStream(
        transcript,
        reader(
          's3',
          { 'lk.segment_id': 'SG_agent1', 'lk.transcribed_track_id': 'TR_agent', 'lk.transcription_final': 'false' },
          ['Your name ', 'is Alice.'],
        ),
        { identity: 'alice' },
        isLocal,
      );
      const panel = new m.LatencyPanel(
        document.getElementById('latency') as HTMLElement,
        document.getElementById('turn-history') as HTMLElement,
        document.getElementById('latency-turn') as HTMLElement,
      );
      panel.show(
        m.parseTurnMetrics(
          JSON.stringify({ v: 1, turn: 3, mode: 'hybrid', llmTtftMs: 412.4, llmTotalMs: 1530, queueDepth: 2, writeLagMs: 80, e2eLatencyMs: null }),
        ),
      );
      const items = Array.from(document.querySelectorAll('#transcript li')).map((li) => ({
        speaker: li.getAttribute('data-speaker'),
        final: li.getAttribute('data-final'),
        text: li.querySelector('.text')?.textContent,
      }));
      const metric = (k: string) => document.querySelector(`#latency dd[data-metric="${k}"]`)?.textContent;
      return {
        interim,
        items,
        ttft: metric('llmTtftMs'),
        total: metric('llmTotalMs'),
        queue: metric('queueDepth'),
        e2e: metric('e2eLatencyMs'),
        turnLabel: document.getElementById('latency-turn')?.textContent,
        bad: [m.parseTurnMetrics('nope'), m.parseTurnMetrics('{"turn":1,"mode":"other"}')],
      };
    });
    expect(result.interim).toBe('false');
    expect(result.items).toEqual([
      { speaker: 'user', final: 'true', text: 'what is my name?' },
      { speaker: 'agent', final: 'true', text: 'Your name is Alice.' },
    ]);
    expect(result).toMatchObject({ ttft: '412 ms', total: '1.53 s', queue: '2', e2e: '—', turnLabel: '(turn 3, hybrid)' });
    expect(result.bad).toEqual([null, null]);
    await page.screenshot({ path: join(OUT_DIR, 'voice-room-transcript.png'), fullPage: true });
    expect(consoleErrors).toEqual([]);
  });

  it('explains microphone errors', async () => {
    await openPage();
    await loadPageModule('errors');
    const messages = await page.evaluate(() => {
      const e = (window as unknown as PageModules).__modules.errors as { describeMicError: (err: unknown) => string };
      return ['NotAllowedError', 'NotFoundError', 'NotReadableError'].map((name) =>
        e.describeMicError(new DOMException('x', name)),
      );
    });
    expect(messages[0]).toContain('Microphone permission was denied');
    expect(messages[1]).toContain('No microphone was found');
    expect(messages[2]).toContain('busy');
  });
});
