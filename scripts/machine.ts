// The machine a benchmark ran on, as its results file keeps it and its BENCHMARKS.md section states it.
import os from 'node:os';

export interface MachineFacts {
  cpus: number;
  model: string;
  node: string;
  platform: string;
  release: string;
  /** os.loadavg() when taken: 1, 5 and 15 minutes. */
  loadAverage: number[];
}

export function machineFacts(): MachineFacts {
  return {
    cpus: os.cpus().length,
    model: os.cpus()[0]?.model ?? 'unknown CPU',
    node: process.version,
    platform: os.platform(),
    release: os.release(),
    loadAverage: os.loadavg(),
  };
}

/** "2 × AMD EPYC (shared, noisy), Node v20.20.2, linux 6.18.44" (the load average is left to the section). */
export function describeMachine(m: MachineFacts): string {
  return `${m.cpus} × ${m.model} (shared, noisy), Node ${m.node}, ${m.platform} ${m.release}`;
}

export function formatLoadAverage(m: MachineFacts): string {
  return m.loadAverage.map((x) => x.toFixed(2)).join(' / ');
}
