import { existsSync, readFileSync, writeFileSync } from 'node:fs';

/**
 * Writes one benchmark's generated section into BENCHMARKS.md: replaces the section under `heading` (up to the next
 * `## ` heading), or, the first time, puts it right after the section headed `after` (or at the end without one).
 */
export function writeBenchmarkSection(file: string, heading: string, section: string, after?: string): void {
  const current = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  const lines = current.split('\n');
  const nextHeading = (from: number) => {
    const i = lines.findIndex((x, j) => j > from && /^## /.test(x));
    return i < 0 ? lines.length : i;
  };
  const own = lines.findIndex((x) => x.trim() === heading);
  let start: number;
  let end: number;
  if (own >= 0) {
    start = own;
    end = nextHeading(own);
  } else {
    const anchor = after === undefined ? -1 : lines.findIndex((x) => x.trim() === after);
    start = end = anchor >= 0 ? nextHeading(anchor) : lines.length;
  }
  const next = [...lines.slice(0, start), ...section.trimEnd().split('\n'), '', ...lines.slice(end)].join('\n');
  writeFileSync(file, `${next.replace(/\n{3,}/g, '\n\n').trimEnd()}\n`);
}
