/**
 * Headless Debian Chromium (/usr/bin/chromium, from `npm run e2e:setup`) driven by playwright-core, with a fake
 * microphone that plays a WAV file once. No browser download: playwright only speaks CDP to the system binary.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export interface ChromiumOptions {
  /** WAV the fake microphone plays once (`%noloop`), from the moment the page opens the microphone. */
  fakeMicrophoneWav?: string;
  /** Default: a phone screen, the page is meant to be used on one. */
  viewport?: { width: number; height: number };
}

export interface RunningChromium {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Chromium flags that keep a test browser quiet and offline (it must not talk to anything but loopback). */
const QUIET_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
];

function fakeMediaFlags(wav: string): string[] {
  return [
    '--use-fake-ui-for-media-stream',
    '--use-fake-device-for-media-stream',
    `--use-file-for-fake-audio-capture=${wav}%noloop`,
    // The measuring AudioContext is created before the caller's first click; without this Chromium keeps it suspended.
    '--autoplay-policy=no-user-gesture-required',
  ];
}

export function chromiumMissingMessage(): string {
  return `${CHROMIUM_PATH} is missing: run \`npm run e2e:setup\` (it installs Debian's chromium) or set CHROMIUM_PATH`;
}

export async function launchChromium(options: ChromiumOptions = {}): Promise<RunningChromium> {
  if (!existsSync(CHROMIUM_PATH)) throw new Error(chromiumMissingMessage());
  if (options.fakeMicrophoneWav !== undefined && !existsSync(options.fakeMicrophoneWav)) {
    throw new Error(`fake microphone WAV ${options.fakeMicrophoneWav} does not exist`);
  }
  // A fresh profile each time: nothing carries over between calls (permissions, storage, caches).
  const userDataDir = await mkdtemp(path.join(tmpdir(), 'chromium-profile-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: [...QUIET_FLAGS, ...(options.fakeMicrophoneWav ? fakeMediaFlags(options.fakeMicrophoneWav) : [])],
      viewport: options.viewport ?? { width: 390, height: 844 },
      deviceScaleFactor: 1,
      hasTouch: true,
    });
  } catch (err) {
    await rm(userDataDir, { recursive: true, force: true });
    throw new Error(`could not start ${CHROMIUM_PATH}: ${(err as Error).message}`, { cause: err });
  }
  return {
    context,
    async close() {
      await context.close().catch(() => undefined);
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Aborts every request that leaves loopback: the page must not need anything else, and a test machine must not
 * reach out anyway.
 */
export async function keepOnLoopback(context: BrowserContext): Promise<void> {
  await context.route(/^(?!https?:\/\/127\.0\.0\.1[:/]|wss?:\/\/127\.0\.0\.1[:/]|data:|blob:)/, (route) => route.abort());
}
