// `npm run bench:voice`: voice-latency benchmarks, side by side in one run with the same injected latencies.
//
//   --turns N          audio turns per variant (default 20; calls of --lines-per-call lines, interleaved)
//   --text-turns N     text-mode turns per variant for the LLM-path comparisons (default 40; 0 skips)
//   --variants a,b     only these variants (names in scripts/bench-variants.ts)
//   --report-only      re-render BENCHMARKS.md from the last run's out/bench/voice-results.json
//   --no-write         print only; leave BENCHMARKS.md alone
//
// Writes out/bench/voice-results.json (raw per-turn timings) and out/bench/voice-summary.svg, and replaces the
// "## Voice latency" section of BENCHMARKS.md.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { summarize } from '../simulation/harness/metrics.js';
import { REALISTIC_LATENCIES } from '../simulation/harness/voice-call-harness.js';
import { runAudioBench } from './bench-audio.js';
import { updateReadme } from './bench-readme.js';
import { renderVoiceSection, writeVoiceSection, type BenchResults } from './bench-report.js';
import { RESULTS_FILE, loadResults, saveResults } from './bench-results.js';
import { runTextBench } from './bench-text.js';
import { VARIANTS, type VariantName } from './bench-variants.js';
import { renderSummarySvg } from './chart.js';
import { positiveWholeNumber, runCommand, UsageError } from './cli.js';

const OUT_DIR = path.resolve('out/bench');
const BENCHMARKS_FILE = path.resolve('BENCHMARKS.md');

/** Text-mode runs cover the comparisons where the difference is small and needs many samples: (b) and (d). */
const TEXT_VARIANTS: VariantName[] = ['hybrid', 'stock-openai', 'hybrid-letta-slow', 'hybrid-letta-down'];

/** Kept with the generated numbers: how to read them. */
const NOTES = `
### Notes

- **How the hybrid path got faster than stock (issue 12).** The first clause of a reply goes to Cartesia as soon as
  it is speakable (\`src/tts/first-clause-tts.ts\`: on the token that completes "Sure thing," instead of on the
  token after the start of the second sentence; the rest follows in whole sentences in the same Cartesia context,
  so prosody continues): (e1). With it, the first TTS request no longer waits for the markdown filter's one-token
  hold on a trailing comma (patched, docs/framework-patches.md; the patch is in the same process for every
  variant, stock included). The reply is also synthesized before the turn is committed (\`PREEMPTIVE_TTS\`,
  LiveKit's \`preemptiveGeneration.preemptiveTts\`; playout still waits for the turn): (e2) shows no measurable
  gain here, because with these latencies the provider chain, not the turn decision, gates every hybrid turn; it
  pays off when the end of turn is the later of the two. Last, the Cartesia plugin's audio leaves in progressive
  frames (\`CARTESIA_PROGRESSIVE_FRAMES\`, a patched plugin option after livekit/agents PR #5292, docs/framework-patches.md):
  the first frame after 20 ms of audio instead of 200 ms, which at 0.3× real time in 40 ms chunks is the first
  chunk instead of the fifth (~48 ms). The stock pipeline keeps LiveKit's defaults: the Cartesia plugin's
  whole-sentence tokenizer, its 100 ms frames, and TTS after the end of turn. Endpointing stays at 400 ms: an
  8-turn trial at 300 ms during development did not move the end of turn.
- **Where the hybrid's time goes.** With these injected latencies its floor is STT final (~300-350 ms after the
  last voiced sample: Deepgram's endpoint silence, the plugin's 50 ms audio chunks, +150 ms) + LLM TTFT (300) + one
  token (30) + TTS TTFB (150) + nothing for the first frame; what the worker adds on top is the overhead above.
  The stock floor adds the tokens up to the start of the second sentence, the turn decision and 200 ms of audio.
  Further gains would be on the provider side (STT finals, TTFT).
- **Overhead model.** Provider time counts the LLM tokens until the one on which the first TTS piece can leave,
  found by running the reply's tokens through the session's own TTS text transforms (LiveKit's \`filter_markdown\`,
  \`filter_emoji\`) and the TTS's tokenizer: the markdown filter holds a trailing split character until the next
  token, so the request usually leaves one token after its text was complete (the stock Cartesia tokenizer needs
  the start of the next sentence, " Here", which is held for one more token). The patched filter
  (docs/framework-patches.md) releases a trailing comma or period at once, which the first-clause piece uses.
  Token times come from the OpenAI stand-in's log of each chunk it wrote; the observed token count at the TTS
  request is in the results file (\`ttsRequestAfterTokens\`). Paths without preemptive generation (full Letta) start
  the LLM on the end of turn, not on the STT final; with preemptive TTS the TTS time overlaps the turn decision.
  What is left is the framework's and the worker's own time, plus stand-in timer lateness on a loaded machine.
- **Plugin pacing is counted as provider time**, not overhead: the LLM tokens above, and the audio the Cartesia
  plugin needs before it releases its first frame (it holds one frame back): 200 ms with its stock 100 ms frames,
  20 ms with progressive frames (the first frame is 20 ms, and only a 10 ms tail is held).
- **Noise.** Two shared cores; the caller's audio clock, silero VAD inference, espeak (used by the Cartesia
  stand-in), the four stand-in servers and the worker all share them, and other jobs ran on the machine during this
  run (see the load average). Differences of a few tens of ms between variants are within noise unless the 95%
  interval of the median difference excludes zero. Variants are interleaved (rotating order per round) so slow
  phases of the machine hit all of them.
- **Session metrics vs the harness clock.** The EOU metrics measure from silero's estimate of the end of speech,
  which lands after the last voiced sample of the synthesized caller audio, so \`endOfUtteranceDelayMs\` and
  \`transcriptionDelayMs\` read shorter than on the harness clock. The TTS metrics' \`ttfbMs\` is measured to the
  plugin's first *frame*, i.e. includes the audio look-ahead above. Our custom \`llmNode\` emits no LLM metrics;
  \`TurnReport.llmTtftMs\` agrees with the server within a few ms, as does the stock plugin's \`ttftMs\`.
- **Letta requests per turn** count every request the Letta stand-in saw from session start until the call's memory
  queue drained (agent lookup, core-memory reads, writes), divided by the call's turns. Core memory is re-read only
  after writes that may have changed it: Letta's answer shows a tool call that can edit blocks (never after archival
  inserts), and acknowledgements that arrive together share one read. The stand-in's agent edits memory on the two
  of the eight lines that tell it something about the caller ("remind me to call my sister", "which boat shoes
  should I buy"); the other lines are answered in one agent step. Before issue 12 every write was followed by a
  read (an 8-turn call: ~17 requests).
- **(c) is small** because with token streaming Letta's first assistant token still comes after its reasoning and
  LLM step (~1.5 s; ~3.5 s on the lines with a memory edit, which take a memory-tool step and a second LLM step);
  buffering only adds the reply's own token time.
`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      turns: { type: 'string', default: '20' },
      'text-turns': { type: 'string', default: '40' },
      'lines-per-call': { type: 'string', default: '4' },
      variants: { type: 'string' },
      'report-only': { type: 'boolean', default: false },
      'no-write': { type: 'boolean', default: false },
    },
  });
  mkdirSync(OUT_DIR, { recursive: true });
  const log = (line: string) => console.log(line);

  let results: BenchResults;
  if (values['report-only']) {
    results = loadResults(RESULTS_FILE);
  } else {
    const turnsPerVariant = positiveWholeNumber(values.turns, '--turns');
    const textTurns = Number(values['text-turns']);
    const linesPerCall = positiveWholeNumber(values['lines-per-call'], '--lines-per-call');
    const variants = (values.variants?.split(',').map((s) => s.trim()) ?? Object.keys(VARIANTS)) as VariantName[];
    for (const v of variants) if (!(v in VARIANTS)) throw new UsageError(`unknown variant "${v}" (known: ${Object.keys(VARIANTS).join(', ')})`);
    const startedAt = new Date();
    const t0 = performance.now();

    const textVariants = TEXT_VARIANTS.filter((v) => variants.includes(v));
    let text: Map<VariantName, number[]> | undefined;
    if (textTurns > 0 && textVariants.length > 1) {
      log(`Text mode: ${textVariants.join(', ')} × ${textTurns} turns`);
      text = await runTextBench({ variants: textVariants, turnsPerVariant: textTurns, log });
    }
    log(`Audio: ${variants.join(', ')} × ${turnsPerVariant} turns (calls of ${linesPerCall} lines)`);
    const audio = await runAudioBench({ variants, turnsPerVariant, linesPerCall, log });

    results = {
      audio,
      text,
      latencies: REALISTIC_LATENCIES,
      endpointingMinDelayMs: 400,
      turnsPerVariant,
      textTurnsPerVariant: textTurns,
      startedAt,
      durationSeconds: (performance.now() - t0) / 1000,
      loadAverage: os.loadavg(),
      command: `npm run bench:voice${process.argv.slice(2).length ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    };
    saveResults(RESULTS_FILE, results);
  }

  const { markdown } = renderVoiceSection(results);
  console.log(`\n${markdown}`);
  if (results.audio) {
    const rows = [...results.audio.turns.entries()].map(([variant, turns]) => {
      const s = summarize(turns.map((t) => t.breakdown?.voiceToVoiceMs ?? Number.NaN));
      return { variant, p50: s.p50, p95: s.p95 };
    });
    writeFileSync(path.join(OUT_DIR, 'voice-summary.svg'), await renderSummarySvg(rows, 'Voice-to-voice latency by variant'));
  }
  if (!values['no-write']) {
    writeVoiceSection(BENCHMARKS_FILE, markdown, NOTES);
    console.log(`\nUpdated the "## Voice latency" section of ${path.relative(process.cwd(), BENCHMARKS_FILE)}`);
    updateReadme();
    console.log('Updated the benchmark section of README.md');
  }
  console.log(`Raw timings: ${path.relative(process.cwd(), RESULTS_FILE)}; chart: ${path.relative(process.cwd(), path.join(OUT_DIR, 'voice-summary.svg'))}`);
}

runCommand('bench', main);
