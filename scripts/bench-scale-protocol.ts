// The messages between `npm run bench:scale` (the parent: provider stand-ins, the caller's synthesized lines) and
// each call process (scripts/bench-scale-call.ts: only the worker's session), over Node's IPC channel.
import { readFileSync } from 'node:fs';
import type { JobTurn } from '../simulation/harness/job-session.js';

/** A caller line, synthesized once by the parent: raw mono PCM16 (little-endian) at `sampleRate` in a file. */
export interface LineAudio {
  text: string;
  pcmFile: string;
  sampleRate: number;
  /** Voiced part of the line, in seconds (what the Deepgram stand-in is told the utterance lasts). */
  speechSeconds: number;
}

export type ParentMessage =
  /** `sampleRate`: of the caller's lines, i.e. of the microphone frames the session receives. */
  | { type: 'start'; env: Record<string, string>; sampleRate: number }
  | { type: 'say'; id: number; pcmFile: string }
  | { type: 'measure-start' }
  | { type: 'measure-end' }
  | { type: 'close' };

/** Where the call process's memory is, from process.memoryUsage() (MiB). */
export interface MemoryBreakdown {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  /**
   * From /proc/self/smaps_rollup (Linux): pages only this process maps (`private`), and its proportional share of
   * all pages (`pss`: shared library code counted once across the processes that map it). Absent elsewhere.
   */
  private?: number;
  pss?: number;
}

/** What the call process measured of itself between measure-start and measure-end. */
export interface CallProcessMeasurement {
  /** CPU time (user + system) of the whole process, all its threads. */
  cpuMs: number;
  wallMs: number;
  /** Resident set size sampled every 200 ms: highest and median sample (MiB). */
  rssMaxMiB: number;
  rssP50MiB: number;
  /** At measure-end. */
  memory: MemoryBreakdown;
}

export type ChildMessage =
  | { type: 'ready'; memory: MemoryBreakdown }
  | { type: 'turn'; id: number; turn?: JobTurn; error?: string }
  | { type: 'measured'; measurement: CallProcessMeasurement };

export function memoryBreakdown(): MemoryBreakdown {
  const m = process.memoryUsage();
  const mib = (bytes: number) => bytes / 2 ** 20;
  return {
    rss: mib(m.rss),
    heapTotal: mib(m.heapTotal),
    heapUsed: mib(m.heapUsed),
    external: mib(m.external),
    arrayBuffers: mib(m.arrayBuffers),
    ...sharedMemory(),
  };
}

/** Private and proportional memory of this process (MiB), from the kernel's per-process rollup of its mappings. */
function sharedMemory(): { private: number; pss: number } | Record<string, never> {
  let text: string;
  try {
    text = readFileSync('/proc/self/smaps_rollup', 'utf8');
  } catch {
    return {};
  }
  const kib = (field: string) => Number(text.match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'))?.[1] ?? Number.NaN);
  return { private: (kib('Private_Clean') + kib('Private_Dirty')) / 1024, pss: kib('Pss') / 1024 };
}
