// `npm run bench:recall`: issue 11 item 4's benchmark. Recall on vs off, side by side in one run with the same
// injected latencies (REALISTIC_LATENCIES), in caller scope, on a seeded caller agent with archival passages.
//
//   --turns N            audio turns per variant (default 12; calls of --lines-per-call lines, interleaved)
//   --lines-per-call N   default 4
//   --search-ms MIN-MAX  Letta archival search time, drawn uniformly per search (default 150-400)
//   --report-only        re-render BENCHMARKS.md from out/bench/recall.json
//   --no-write           print only; leave BENCHMARKS.md alone
//
// "Recall in time": a search started during this turn was answered before the spoken chat request (the last one the
// OpenAI stand-in received before the turn's TTS request) and was not superseded by a newer search first (the
// worker drops an older search's answer once a newer one starts), so the prompt's recall section came from what
// the caller was saying now, not from the previous turn. Separately: whether that request held the passage seeded
// for this very line (read off the request body).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { callerAgentTags } from '../src/callers/caller-tags.js';
import { medianDifferenceCI, summarize } from '../simulation/harness/metrics.js';
import { REALISTIC_LATENCIES, startVoiceCallHarness, type VoiceCallHarnessOptions } from '../simulation/harness/voice-call-harness.js';
import { BENCH_LINES, BENCH_REPLY } from './bench-variants.js';
import { positiveWholeNumber, runCommand, UsageError } from './cli.js';
import { writeBenchmarkSection } from './benchmarks-section.js';

const OUT_FILE = path.resolve('out/bench/recall.json');
const BENCHMARKS_FILE = path.resolve('BENCHMARKS.md');
const SECTION = '## Recall on vs off';
const APP = 'bench';
const CALLER = 'bench-caller';
/** Issue 11: recall may cost at most 2% of voice-to-voice p50. */
const TARGET_RATIO = 1.02;

/** One passage per bench line, sharing its distinctive words (the stand-in ranks by shared words), in BENCH_LINES order. */
const LINE_PASSAGES = [
  'Weather today matters to Sam: he only sails when the forecast is calm.',
  'Sam likes a short joke about sailors, nothing long.',
  'Sam has a daughter studying in Paris; he often asks what time it is there now.',
  'Sam keeps his dinghy in the harbor, quite far from his flat.',
  'Sam wants to call his sister Mia more often; she prefers evenings.',
  'Sam bought boat shoes last spring and disliked how fast the soles wore out.',
  'The marina opens late on Sunday, Sam found out the hard way.',
  'Sam cooks fish for dinner most Fridays and dislikes mushrooms.',
];
/** Realistic clutter: older facts that match none of the lines well. */
const OTHER_PASSAGES = [
  'Sam works as a librarian in a small coastal town.',
  'Sam is allergic to cats.',
  'Sam prefers tea over coffee in winter.',
  'Sam ran a half marathon three years ago.',
  'Sam reads detective novels before bed.',
  'Sam plays chess online with an old school friend.',
  'Sam drives an old blue hatchback.',
  'Sam grows tomatoes on his balcony.',
  'Sam learned to sail from his grandfather.',
  'Sam plans a trip to Norway next summer.',
  'Sam dislikes loud restaurants.',
  'Sam repairs his own bicycle.',
];

type VariantName = 'recall-off' | 'recall-on';
const VARIANTS: Record<VariantName, { description: string; env: Record<string, string> }> = {
  'recall-off': {
    description: 'caller scope, no recall (RECALL_SEARCH=false, RECALL_RECENT_MESSAGES=0)',
    env: { RECALL_SEARCH: 'false', RECALL_RECENT_MESSAGES: '0' },
  },
  'recall-on': {
    description: 'caller scope, recall with its defaults (recent messages at session start, archival search while the caller speaks)',
    env: { RECALL_SEARCH: 'true' },
  },
};

type RecallOutcome = 'in-time' | 'late' | 'not-searched';

function outcomeOf(t: TurnRecord): RecallOutcome {
  const starts = t.searchesVsRequestMs ?? [];
  const answers = t.answersVsRequestMs ?? [];
  if (starts.length === 0) return 'not-searched';
  const fresh = answers.some((answeredAt, j) => answeredAt < 0 && (j + 1 >= starts.length || answeredAt <= starts[j + 1]!));
  return fresh ? 'in-time' : 'late';
}

interface TurnRecord {
  line: string;
  voiceToVoiceMs: number | null;
  /** recall-on only: whether this line's passage was in the spoken chat request. */
  containsLinePassage?: boolean;
  /** Archival searches Letta received during the turn, ms relative to the spoken chat request (negative: before). */
  searchesVsRequestMs?: number[];
  /** When each of those searches was answered (drawn search time added), relative to the spoken chat request. */
  answersVsRequestMs?: number[];
  error?: string;
}

interface Results {
  command: string;
  machine: string;
  loadAverage: number[];
  startedAt: string;
  durationSeconds: number;
  searchLatencyMs: [number, number];
  latencies: typeof REALISTIC_LATENCIES;
  recallEnv: Record<string, string | undefined>;
  turns: Record<VariantName, TurnRecord[]>;
}

async function runVariant(name: VariantName, lines: readonly string[], searchMs: [number, number]): Promise<TurnRecord[]> {
  /** When each archival search will be answered, in the order Letta received them. */
  const answers: number[] = [];
  const options: VoiceCallHarnessOptions = {
    variant: 'hybrid',
    env: { LETTA_MEMORY_SCOPE: 'caller', AGENT_NAME: APP, ...VARIANTS[name].env },
    callerIdentity: CALLER,
    seedTags: callerAgentTags(APP, CALLER),
    seedPassages: [...OTHER_PASSAGES, ...LINE_PASSAGES],
    lettaSearchLatencyMs: () => {
      const ms = searchMs[0] + Math.random() * (searchMs[1] - searchMs[0]);
      answers.push(performance.now() + ms);
      return ms;
    },
    openaiReply: () => BENCH_REPLY,
    lettaReply: () => BENCH_REPLY,
  };
  const harness = await startVoiceCallHarness(options);
  const { openai, letta } = harness.servers;
  const out: TurnRecord[] = [];
  try {
    for (const line of lines) {
      const mark = { openai: openai.requests.length, letta: letta.requests.length, answers: answers.length };
      try {
        const turn = await harness.say(line);
        const record: TurnRecord = { line, voiceToVoiceMs: turn.breakdown?.voiceToVoiceMs ?? null };
        if (name === 'recall-on') {
          const ttsAt = turn.timeline.ttsRequestAt ?? Number.POSITIVE_INFINITY;
          const chats = openai.requests.slice(mark.openai).filter((r) => r.path.endsWith('/chat/completions'));
          const spoken = chats.filter((r) => r.receivedAt <= ttsAt).at(-1) ?? chats.at(-1);
          const passage = LINE_PASSAGES[BENCH_LINES.indexOf(line)]!;
          const searches = letta.requests.slice(mark.letta).filter((r) => r.route === 'passages.search');
          record.searchesVsRequestMs = searches.map((s) => Math.round(s.receivedAt - (spoken?.receivedAt ?? Number.NaN)));
          record.answersVsRequestMs = answers.slice(mark.answers).map((at) => Math.round(at - (spoken?.receivedAt ?? Number.NaN)));
          record.containsLinePassage = spoken?.rawBody.includes(passage) ?? false;
        }
        out.push(record);
      } catch (err) {
        out.push({ line, voiceToVoiceMs: null, error: (err as Error).message });
      }
    }
  } finally {
    await harness.close();
  }
  return out;
}

function render(r: Results): string {
  const v2v = (n: VariantName) => r.turns[n].map((t) => t.voiceToVoiceMs ?? Number.NaN);
  const off = summarize(v2v('recall-off'));
  const on = summarize(v2v('recall-on'));
  const ci = medianDifferenceCI(v2v('recall-off'), v2v('recall-on'));
  const ratio = on.p50 / off.p50;
  const ratioLow = 1 + ci.low / off.p50;
  const ratioHigh = 1 + ci.high / off.p50;
  const onTurns = r.turns['recall-on'];
  const count = (o: RecallOutcome) => onTurns.filter((t) => outcomeOf(t) === o).length;
  const withPassage = onTurns.filter((t) => outcomeOf(t) === 'in-time' && t.containsLinePassage).length;
  // A turn's first search is the earliest recall it could get (later ones follow longer interim transcripts).
  const searched = onTurns.map((t) => t.searchesVsRequestMs?.at(0) ?? Number.NaN);
  const answered = onTurns.map((t) => t.answersVsRequestMs?.at(0) ?? Number.NaN);
  const perTurn = summarize(onTurns.map((t) => t.searchesVsRequestMs?.length ?? 0));
  const failures = Object.values(r.turns).flat().filter((t) => t.error).length;
  const pct = (n: number) => `${Math.round((100 * n) / Math.max(1, onTurns.length))}%`;
  const verdict =
    ratio > TARGET_RATIO
      ? `misses the ≤ ${TARGET_RATIO}× target`
      : ratioHigh <= TARGET_RATIO
        ? `meets the ≤ ${TARGET_RATIO}× target, interval included`
        : `the point estimate meets the ≤ ${TARGET_RATIO}× target; the interval's upper end does not, so this many turns cannot confirm it`;
  const ms = (x: number) => (Number.isFinite(x) ? `${Math.round(x)} ms` : 'n/a');
  return [
    SECTION,
    '',
    '<!-- generated by scripts/bench-recall.ts; edit the script, not this section -->',
    '',
    "Issue 11 item 4: the same voice harness as above (real `AgentSession`, silero VAD, Deepgram / Cartesia plugins,",
    'local stand-ins), in caller scope (`LETTA_MEMORY_SCOPE=caller`) on a seeded caller agent with',
    `${LINE_PASSAGES.length + OTHER_PASSAGES.length} archival passages, one of which matches each spoken line. Both variants run in one process with the`,
    `same injected latencies (REALISTIC_LATENCIES, as in Voice latency), calls interleaved round by round; Letta's archival`,
    `search takes ${r.searchLatencyMs[0]}-${r.searchLatencyMs[1]} ms (uniform per search, on top of the request). "In time" means the chat request`,
    'that was spoken (the last one before the TTS request) was sent after a search of this turn had been answered and',
    'not superseded by a newer one, so its recall section came from what the caller was saying now; "late" means every',
    "search of the turn was answered after it (matches are kept for the next turn). Whether that request also held this",
    "line's seeded passage is read off the OpenAI stand-in's request body. Recall settings: the defaults",
    '(RECALL_SEARCH_DEBOUNCE_MS 300, RECALL_SEARCH_TOP_K 3, RECALL_RECENT_MESSAGES 10).',
    '',
    `**Reproduce:** \`npm run bench:recall\`. Command of this run: \`${r.command}\``,
    '',
    `**Machine:** ${r.machine}; load average at the end ${r.loadAverage.map((x) => x.toFixed(2)).join(' / ')}. Run started ${r.startedAt}, took ${(r.durationSeconds / 60).toFixed(1)} min.`,
    '',
    '| variant | turns | voice-to-voice p50 | p95 |',
    '|---|---|---|---|',
    `| recall-off: ${VARIANTS['recall-off'].description} | ${off.n} | ${ms(off.p50)} | ${ms(off.p95)} |`,
    `| recall-on: ${VARIANTS['recall-on'].description} | ${on.n} | ${ms(on.p50)} | ${ms(on.p95)} |`,
    '',
    `**On / off (p50):** ${ratio.toFixed(3)}× (95% interval of the median difference ${ms(ci.low)} to ${ms(ci.high)}, i.e. ${ratioLow.toFixed(3)}× to ${ratioHigh.toFixed(3)}×): ${verdict}.`,
    '',
    `**Recall in time:** ${count('in-time')} of ${onTurns.length} turns (${pct(count('in-time'))}); late ${count('late')} (${pct(count('late'))}); not searched ${count('not-searched')}. In time and holding this line's passage: ${withPassage}.` +
      ` Searches per turn: median ${perTurn.p50}. Relative to the spoken chat request (negative: before it), a turn's first search started ${ms(summarize(searched).p50)} (median) and was answered ${ms(summarize(answered).p50)} (median; p95 ${ms(summarize(answered).p95)}).`,
    failures > 0 ? `\n**Failed turns:** ${failures} (see out/bench/recall.json).` : '',
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      turns: { type: 'string', default: '12' },
      'lines-per-call': { type: 'string', default: '4' },
      'search-ms': { type: 'string', default: '150-400' },
      'report-only': { type: 'boolean', default: false },
      'no-write': { type: 'boolean', default: false },
    },
  });
  let results: Results;
  if (values['report-only']) {
    results = JSON.parse(readFileSync(OUT_FILE, 'utf8')) as Results;
  } else {
    const turns = positiveWholeNumber(values.turns, '--turns');
    const linesPerCall = positiveWholeNumber(values['lines-per-call'], '--lines-per-call');
    const searchMs = values['search-ms'].split('-').map(Number) as [number, number];
    if (searchMs.length !== 2 || !searchMs.every((x) => Number.isFinite(x) && x >= 0) || searchMs[0] > searchMs[1]) throw new UsageError('--search-ms must be MIN-MAX in ms');
    const startedAt = new Date();
    const t0 = performance.now();
    const names = Object.keys(VARIANTS) as VariantName[];
    const byVariant: Record<VariantName, TurnRecord[]> = { 'recall-off': [], 'recall-on': [] };
    const rounds = Math.ceil(turns / linesPerCall);
    for (let round = 0; round < rounds; round++) {
      const lines = Array.from({ length: linesPerCall }, (_, i) => BENCH_LINES[(round * linesPerCall + i) % BENCH_LINES.length]!);
      // Rotate the order each round so neither variant always runs first.
      for (const name of names.map((_, i) => names[(i + round) % names.length]!)) {
        const started = performance.now();
        const records = await runVariant(name, lines, searchMs);
        byVariant[name].push(...records);
        const recall = name === 'recall-on' ? `  recall ${records.map(outcomeOf).join(' ')}` : '';
        console.log(`  round ${round + 1}/${rounds} ${name.padEnd(10)} v2v ${records.map((t) => Math.round(t.voiceToVoiceMs ?? Number.NaN)).join(' ')} ms${recall}  (${((performance.now() - started) / 1000).toFixed(1)} s)`);
      }
    }
    results = {
      command: `npm run bench:recall${process.argv.slice(2).length ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
      machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown CPU'} (shared with other jobs), Node ${process.version}, ${os.platform()} ${os.release()}`,
      loadAverage: os.loadavg(),
      startedAt: startedAt.toISOString(),
      durationSeconds: (performance.now() - t0) / 1000,
      searchLatencyMs: searchMs,
      latencies: REALISTIC_LATENCIES,
      recallEnv: Object.fromEntries(Object.entries(VARIANTS).map(([n, v]) => [n, JSON.stringify(v.env)])),
      turns: byVariant,
    };
    mkdirSync(path.dirname(OUT_FILE), { recursive: true });
    writeFileSync(OUT_FILE, `${JSON.stringify(results, null, 2)}\n`);
  }
  const section = render(results);
  console.log(`\n${section}`);
  if (!values['no-write']) {
    writeBenchmarkSection(BENCHMARKS_FILE, SECTION, section);
    console.log(`Updated the "${SECTION}" section of ${path.relative(process.cwd(), BENCHMARKS_FILE)}; raw: ${path.relative(process.cwd(), OUT_FILE)}`);
  }
}

runCommand('bench:recall', main);
