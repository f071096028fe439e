// Turns benchmark samples into tables, verdicts against the targets, and the "## Voice latency" section of
// BENCHMARKS.md (other sections of that file are left untouched).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { describeMachine, formatLoadAverage, machineFacts } from './machine.js';
import { formatMarkdownTable, medianDifferenceCI, ms, summarize, type Summary } from '../simulation/harness/metrics.js';
import type { MeasuredTurn, ProviderLatencies } from '../simulation/harness/voice-call-harness.js';
import type { AudioRun } from './bench-audio.js';
import { BENCH_LINES, BENCH_MEMORY_EDIT_LINES, COMPARISONS, SLOW_LETTA_STEP_MS, VARIANTS, type Comparison, type Target, type VariantName } from './bench-variants.js';

/** Worker overhead target, p50 voice-to-voice (ms). */
export const OVERHEAD_TARGET_MS = 15;

export interface BenchResults {
  audio?: AudioRun;
  text?: Map<VariantName, number[]>;
  latencies: ProviderLatencies;
  endpointingMinDelayMs: number;
  turnsPerVariant: number;
  textTurnsPerVariant: number;
  startedAt: Date;
  durationSeconds: number;
  command: string;
  /** 1/5/15-minute load averages when the run ended (older result files lack it). */
  loadAverage?: number[];
}

type Pick = (t: MeasuredTurn) => number | undefined;

const v2v: Pick = (t) => t.breakdown?.voiceToVoiceMs;

function values(turns: readonly MeasuredTurn[], pick: Pick): number[] {
  return turns.map(pick).filter((x): x is number => x !== undefined && Number.isFinite(x));
}

interface Verdict {
  text: string;
  met?: boolean;
}

function compare(c: Comparison, base: number[], other: number[], target: Target | undefined = c.target): { row: string[]; verdict: Verdict } {
  const sb = summarize(base);
  const so = summarize(other);
  const r50 = so.p50 / sb.p50;
  const r95 = so.p95 / sb.p95;
  const ci = medianDifferenceCI(base, other);
  let verdict: Verdict = { text: 'informational' };
  if (target?.kind === 'ratio-max') {
    const met = r50 <= target.value;
    verdict = { met, text: `${met ? 'met' : 'MISSED'} (target ≤ ${target.value.toFixed(2)}×)` };
  } else if (target?.kind === 'same') {
    // "No measurable difference": the 95% interval of the median difference contains zero.
    const met = ci.low <= 0 && ci.high >= 0;
    verdict = { met, text: met ? 'met (no measurable difference)' : 'MISSED (measurable difference)' };
  }
  const row = [
    `(${c.id}) ${c.title}`,
    `${ms(sb.p50)} / ${ms(sb.p95)}`,
    `${ms(so.p50)} / ${ms(so.p95)}`,
    `${r50.toFixed(2)}×`,
    `${r95.toFixed(2)}×`,
    `${ms(so.p50 - sb.p50)} [${ms(ci.low)}, ${ms(ci.high)}]`,
    `${sb.n} / ${so.n}`,
    verdict.text,
  ];
  return { row, verdict };
}

const COMPARISON_HEADER = ['comparison (base → other)', 'base p50 / p95', 'other p50 / p95', 'ratio p50', 'ratio p95', 'Δp50 [95% CI]', 'n', 'target'];

function lettaPerTurn(c: { requests: number; coreMemoryReads: number; turns: number } | undefined): string {
  if (!c || c.turns === 0) return '—';
  return `${(c.requests / c.turns).toFixed(2)} (${(c.coreMemoryReads / c.turns).toFixed(2)})`;
}

function p(s: Summary): string {
  return `${ms(s.p50)} / ${ms(s.p95)}`;
}

export function renderVoiceSection(r: BenchResults): { markdown: string; verdicts: Record<string, Verdict> } {
  const lines: string[] = [];
  const verdicts: Record<string, Verdict> = {};
  const l = r.latencies;
  lines.push('## Voice latency', '');
  lines.push(
    'Voice-to-voice = the caller\'s last voiced sample → the first agent sample played out, measured on one clock in a',
    'real `AgentSession` built with the worker\'s own wiring (`loadConfig` → `createWorkerServices` → `createAgentSession`',
    '→ `prepareVoiceCall`), real silero VAD, real Deepgram / Cartesia plugins and OpenAI / Letta SDKs, against local',
    'stand-ins that speak each provider\'s wire protocol with injected latencies. Caller speech is eSpeak-NG compiled',
    'to WebAssembly (the `espeak-ng` npm package; nothing from apt). Harness: `simulation/harness/voice-call-harness.ts`.',
    '',
  );
  lines.push('**Reproduce:** `npm run bench:voice` (this section) or `npm run bench` (voice, then the memory benchmark).', '');
  lines.push(`Command of this run: \`${r.command}\``, '');
  const machine = { ...machineFacts(), ...(r.loadAverage ? { loadAverage: r.loadAverage } : {}) };
  lines.push(
    `**Machine:** ${describeMachine(machine)}; load average at the end ${formatLoadAverage(machine)}. ` +
      `Run started ${r.startedAt.toISOString()}, took ${(r.durationSeconds / 60).toFixed(1)} min.`,
    '',
  );
  lines.push(
    `**Injected provider latencies (all variants):** Deepgram +${l.deepgramMs} ms per result (plus its endpointing silence), ` +
      `OpenAI TTFT ${l.openaiTtftMs} ms + ${l.openaiTokenDelayMs} ms/token, Cartesia TTFB ${l.cartesiaTtfbMs} ms at ` +
      `${l.cartesiaRealTimeFactor}× real time, Letta ${l.lettaStepMs} ms per agent step + ${l.lettaTokenDelayMs} ms/token ` +
      `(a turn ≈ 2 s, ≈ 4 s with a memory edit, which the agent makes on ${BENCH_MEMORY_EDIT_LINES} of the ${BENCH_LINES.length} lines; ${SLOW_LETTA_STEP_MS} ms steps for (d1)). ` +
      `Turn handling: VAD, endpointing min delay ${r.endpointingMinDelayMs} ms, preemptive generation on except on the full Letta path (a Letta turn ` +
      `cannot be taken back); preemptive TTS and the first-clause flush as each variant says; the worker's variants send Deepgram 20 ms audio chunks ` +
      `and get Cartesia's audio in progressive frames, the stock pipeline uses the plugins' own (100 ms both). Every variant speaks the same reply text.`,
    '',
  );

  const audio = r.audio;
  if (audio) {
    lines.push(`### Audio runs (${r.turnsPerVariant} turns per variant, calls of 4 lines interleaved round-robin)`, '');
    const rows = [...audio.turns.entries()].map(([name, turns]) => {
      const pick = (f: Pick) => summarize(values(turns, f));
      const writes = audio.writeLatencies.get(name) ?? [];
      return [
        `\`${name}\``,
        String(turns.length),
        p(pick(v2v)),
        p(pick((t) => t.breakdown?.overheadMs)),
        ms(pick((t) => t.breakdown?.endOfTurnMs).p50),
        ms(pick((t) => t.breakdown?.sttFinalMs).p50),
        ms(pick((t) => t.breakdown?.llmTtftMs).p50),
        ms(pick((t) => t.breakdown?.ttsTtfbMs).p50),
        ms(pick((t) => (t.breakdown ? t.breakdown.firstSentencePacingMs + t.breakdown.ttsFramePacingMs : undefined)).p50),
        writes.length ? ms(summarize(writes).p50) : '—',
        lettaPerTurn(audio.lettaRequests?.get(name)),
        String(audio.failures.get(name)?.length ?? 0),
      ];
    });
    lines.push(
      formatMarkdownTable(
        ['variant', 'turns', 'voice-to-voice p50 / p95', 'overhead p50 / p95', 'end of turn p50', 'STT final p50', 'LLM TTFT p50', 'TTS TTFB p50', 'plugin pacing p50', 'Letta write p50', 'Letta requests / turn (core-memory reads)', 'not answered in full'],
        rows,
      ),
      '',
    );
    lines.push('Variants: ' + [...audio.turns.keys()].map((n) => `\`${n}\` = ${VARIANTS[n].description}`).join('; ') + '.', '');

    lines.push('**Comparisons (voice-to-voice, ms, same run):**', '');
    const compRows: string[][] = [];
    for (const c of COMPARISONS) {
      const base = audio.turns.get(c.base);
      const other = audio.turns.get(c.other);
      if (!base || !other) continue;
      const { row, verdict } = compare(c, values(base, v2v), values(other, v2v));
      verdicts[`audio-${c.id}`] = verdict;
      compRows.push(row);
    }
    lines.push(formatMarkdownTable(COMPARISON_HEADER, compRows), '');

    const hybrid = audio.turns.get('hybrid');
    if (hybrid) {
      const overhead = summarize(values(hybrid, (t) => t.breakdown?.overheadMs));
      const met = overhead.p50 <= OVERHEAD_TARGET_MS;
      verdicts.overhead = { met, text: `${met ? 'met' : 'MISSED'}: ${ms(overhead.p50)} ms p50 (target ≤ ${OVERHEAD_TARGET_MS} ms)` };
      const gap = (f: Pick) => p(summarize(values(hybrid, f)));
      lines.push(
        `**Worker overhead (hybrid)** = voice-to-voice − floor, floor = max(end of turn, text ready + TTS TTFB + first-frame ` +
          `pacing) with preemptive TTS, else max(end of turn, text ready) + TTS TTFB + first-frame pacing; text ready = STT final ` +
          `(the LLM starts on it with preemptive generation; on the end of turn without) + LLM TTFT + the token pacing until the ` +
          `token on which the session's text transforms and the TTS's tokenizer release the first piece; first-frame pacing = the ` +
          `audio the Cartesia plugin needs before it releases its first frame (20 ms with the worker's progressive frames, 200 ms ` +
          `with the plugin's stock 100 ms frames). Provider times as the servers saw ` +
          `them. p50 / p95 ${p(overhead)} ms. Where it goes (p50 / p95): transcript → LLM request ${gap((t) => t.breakdown?.gaps.sttToLlmMs)} ms; ` +
          `reply text ready → TTS request ${gap((t) => t.breakdown?.gaps.textToTtsMs)} ms; first audio frame at the provider → audible ` +
          `${gap((t) => t.breakdown?.gaps.audioToPlayoutMs)} ms. Gated by the provider chain in ` +
          `${hybrid.filter((t) => t.breakdown?.criticalPath === 'providers').length}/${hybrid.length} turns (else by the turn decision).`,
        '',
      );

      lines.push('**Session metrics vs the harness clock (hybrid turns; metric − harness, ms, p50 / p95):**', '');
      const d = (f: (t: MeasuredTurn) => number | undefined) => p(summarize(values(hybrid, f)));
      lines.push(
        formatMarkdownTable(
          ['quantity', 'session metric', 'harness reference', 'discrepancy p50 / p95'],
          [
            ['end-of-turn delay', 'EOU `endOfUtteranceDelayMs`', 'EOU event time − true speech end', d((t) => t.breakdown?.discrepancy.eouDelayMs)],
            ['STT delay', 'EOU `transcriptionDelayMs`', 'Deepgram final sent − true speech end', d((t) => t.breakdown?.discrepancy.transcriptionDelayMs)],
            ['speech end', 'EOU `lastSpeakingTimeMs` (VAD)', 'last voiced sample of the line', d((t) => t.breakdown?.discrepancy.vadSpeechEndMs)],
            ['TTS TTFB', 'TTS metrics `ttfbMs`', 'Cartesia server: request → first chunk', d((t) => t.breakdown?.discrepancy.ttsTtfbMs)],
            ['LLM TTFT', '`TurnReport.llmTtftMs` (no LLM metrics: custom llmNode)', 'OpenAI server: request → first token', d((t) => t.breakdown?.discrepancy.llmTtftMs)],
          ],
        ),
        '',
      );
      const stock = audio.turns.get('stock-openai');
      if (stock) {
        lines.push(
          `Stock pipeline LLM metrics \`ttftMs\` vs OpenAI server TTFT: ${p(summarize(values(stock, (t) => t.breakdown?.discrepancy.llmTtftMs)))} ms (p50 / p95).`,
          '',
        );
      }
    }
    const concurrency = [...audio.lettaMaxConcurrency.entries()].filter(([, n]) => n > 1);
    if (concurrency.length) {
      lines.push(
        `Letta saw concurrent requests on one agent in: ${concurrency.map(([n, c]) => `\`${n}\` (${c})`).join(', ')} — see the notes.`,
        '',
      );
    }
    const failed = [...audio.failures.entries()].filter(([, f]) => f.length > 0);
    for (const [name, f] of failed) lines.push(`Unanswered in \`${name}\`: ${f.slice(0, 3).map((x) => `"${x}"`).join('; ')}`, '');
  }

  if (r.text && r.text.size > 0) {
    lines.push(
      `### Text-mode runs (${r.textTurnsPerVariant} turns per variant, \`session.run\`, turns interleaved one by one)`,
      '',
      'User text in → first reply text out of the LLM node (ms). Reply path only; no audio, VAD or turn-taking.',
      '',
    );
    const compRows: string[][] = [];
    for (const c of COMPARISONS) {
      const base = r.text.get(c.base);
      const other = r.text.get(c.other);
      if (!base || !other) continue;
      const { row, verdict } = compare(c, base, other, c.textTarget ?? c.target);
      verdicts[`text-${c.id}`] = verdict;
      compRows.push(row);
    }
    lines.push(formatMarkdownTable(COMPARISON_HEADER, compRows), '');
  }

  lines.push('### Targets', '');
  const t = (key: string) => verdicts[key]?.text ?? 'not run';
  lines.push(
    `- Worker overhead ≤ ${OVERHEAD_TARGET_MS} ms p50 voice-to-voice: **${t('overhead')}**.`,
    `- (b) hybrid ≤ 0.85× the stock pipeline's p50 voice-to-voice (audio): **${t('audio-b')}**; memory in the prompt costs nothing (text mode, ≤ 1.05×): **${t('text-b')}**.`,
    `- (d) slower Letta writes (1.8 s steps): audio **${t('audio-d1')}**; text mode **${t('text-d1')}**.`,
    `- (d) Letta down: audio **${t('audio-d2')}**; text mode **${t('text-d2')}**.`,
  );
  if (r.audio) {
    const all = [...r.audio.turns.values()].reduce((n, turns) => n + turns.length, 0);
    const failed = [...r.audio.failures.values()].reduce((n, f) => n + f.length, 0);
    lines.push(`- Every turn answered in full (whole reply spoken, uninterrupted; all variants): **${failed === 0 ? 'met' : 'MISSED'}** (${failed} of ${all + failed} not).`);
  }
  lines.push('');
  return { markdown: lines.join('\n'), verdicts };
}

/** Replaces the "## Voice latency" section of BENCHMARKS.md (up to the next "## " heading), or appends it. */
export function writeVoiceSection(file: string, section: string, notes: string): void {
  const body = `${section.trimEnd()}\n\n${notes.trimEnd()}\n`;
  const current = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  const lines = current.split('\n');
  const start = lines.findIndex((x) => x.trim() === '## Voice latency');
  if (start < 0) {
    writeFileSync(file, `${current.trimEnd()}\n\n${body}`);
    return;
  }
  let end = lines.findIndex((x, i) => i > start && /^## /.test(x));
  if (end < 0) end = lines.length;
  const next = [...lines.slice(0, start), ...body.split('\n'), ...lines.slice(end)].join('\n');
  writeFileSync(file, next.replace(/\n{3,}/g, '\n\n'));
}
