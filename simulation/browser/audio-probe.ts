/**
 * Node side of audio-probe.page.js: installs it into a browser context and reads what it measured.
 * All times are the page's performance.now() (ms).
 */
import { readFile } from 'node:fs/promises';
import type { BrowserContext, Page } from 'playwright-core';

export interface ProbeConfig {
  /** Hold getUserMedia until releaseMicrophone(page). */
  holdMicrophone: boolean;
  /** A 5 ms block with an RMS (full scale = 1) at or above this is voiced. Default 0.01 (-40 dBFS). */
  thresholdRms: number;
  /** Voiced blocks closer than this join one segment. Default 150 ms. */
  holdMs: number;
  pollMs: number;
}

export interface VoicedSegment {
  start: number;
  end: number;
  peakRms: number;
}

export interface ProbedTrack {
  id: string;
  /** local = the caller's microphone; remote = audio received from the SFU. */
  source: 'local' | 'remote';
  label: string;
  attachedAt: number;
  segments: VoicedSegment[];
}

export interface InboundAudioStats {
  trackIdentifier: string;
  packetsReceived: number;
  totalAudioEnergy: number;
  totalSamplesDuration: number;
  jitterBufferDelay: number;
  jitterBufferEmittedCount: number;
}

export interface ProbeSnapshot {
  tracks: ProbedTrack[];
  states: Array<{ state: string; at: number }>;
  micRequestedAt: number | null;
  micOpenedAt: number | null;
  micReleasedAt: number | null;
  errors: string[];
  /** performance.now() in the page when the snapshot was taken. */
  now: number;
}

const PAGE_SCRIPT = new URL('./audio-probe.page.js', import.meta.url);

export async function installAudioProbe(context: BrowserContext, config: Partial<ProbeConfig> = {}): Promise<void> {
  const full: ProbeConfig = { holdMicrophone: false, thresholdRms: 0.01, holdMs: 150, pollMs: 10, ...config };
  const script = await readFile(PAGE_SCRIPT, 'utf8');
  await context.addInitScript({ content: `const PROBE_CONFIG = ${JSON.stringify(full)};\n${script}` });
}

// Page functions are passed as strings: a test runner or tsx may rewrite function bodies (helpers such as
// __name) that do not exist in the page.
export async function releaseMicrophone(page: Page): Promise<void> {
  await page.evaluate('window.__audioProbe.releaseMicrophone()');
}

export async function probeSnapshot(page: Page): Promise<ProbeSnapshot> {
  return (await page.evaluate(
    `(() => { const p = window.__audioProbe; return JSON.parse(JSON.stringify({ tracks: p.tracks, states: p.states,
      micRequestedAt: p.micRequestedAt, micOpenedAt: p.micOpenedAt, micReleasedAt: p.micReleasedAt, errors: p.errors,
      now: performance.now() })); })()`,
  )) as ProbeSnapshot;
}

export async function inboundAudioStats(page: Page): Promise<InboundAudioStats[]> {
  return (await page.evaluate('window.__audioProbe.inboundAudioStats()')) as InboundAudioStats[];
}

/** Voiced segments of every track of one source, merged and in time order. */
export function voicedSegments(snapshot: ProbeSnapshot, source: 'local' | 'remote', joinWithinMs = 0): VoicedSegment[] {
  const all = snapshot.tracks
    .filter((t) => t.source === source)
    .flatMap((t) => t.segments)
    .sort((a, b) => a.start - b.start);
  const merged: VoicedSegment[] = [];
  for (const s of all) {
    const last = merged.at(-1);
    if (last && s.start - last.end <= joinWithinMs) {
      last.end = Math.max(last.end, s.end);
      last.peakRms = Math.max(last.peakRms, s.peakRms);
    } else {
      merged.push({ ...s });
    }
  }
  return merged;
}
