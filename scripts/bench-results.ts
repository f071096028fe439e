// The voice benchmark's results file (out/bench/voice-results.json): raw per-turn timings, saved and loaded.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { MeasuredTurn } from '../simulation/harness/voice-call-harness.js';
import type { AudioRun } from './bench-audio.js';
import type { BenchResults } from './bench-report.js';
import type { VariantName } from './bench-variants.js';

export const RESULTS_FILE = path.resolve('out/bench/voice-results.json');

interface SavedResults extends Omit<BenchResults, 'audio' | 'text' | 'startedAt'> {
  startedAt: string;
  audio?: {
    turns: Record<string, MeasuredTurn[]>;
    writeLatencies: Record<string, number[]>;
    lettaMaxConcurrency: Record<string, number>;
    failures: Record<string, string[]>;
    lettaRequests?: Record<string, { requests: number; coreMemoryReads: number; turns: number }>;
  };
  text?: Record<string, number[]>;
}

export function saveResults(file: string, r: BenchResults): void {
  const saved: SavedResults = {
    ...r,
    startedAt: r.startedAt.toISOString(),
    audio: r.audio && {
      turns: Object.fromEntries(r.audio.turns),
      writeLatencies: Object.fromEntries(r.audio.writeLatencies),
      lettaMaxConcurrency: Object.fromEntries(r.audio.lettaMaxConcurrency),
      failures: Object.fromEntries(r.audio.failures),
      lettaRequests: r.audio.lettaRequests && Object.fromEntries(r.audio.lettaRequests),
    },
    text: r.text && Object.fromEntries(r.text),
  };
  writeFileSync(file, JSON.stringify(saved, null, 1));
}

export function loadResults(file: string): BenchResults {
  const s = JSON.parse(readFileSync(file, 'utf8')) as SavedResults;
  const map = <T>(o: Record<string, T>) => new Map(Object.entries(o) as Array<[VariantName, T]>);
  const audio: AudioRun | undefined = s.audio && {
    turns: map(s.audio.turns),
    writeLatencies: map(s.audio.writeLatencies),
    lettaMaxConcurrency: map(s.audio.lettaMaxConcurrency),
    failures: map(s.audio.failures),
    lettaRequests: s.audio.lettaRequests && map(s.audio.lettaRequests),
  };
  return { ...s, startedAt: new Date(s.startedAt), audio, text: s.text && map(s.text) };
}

