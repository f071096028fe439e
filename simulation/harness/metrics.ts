// Per-turn latency of a simulated call: the raw timestamps the harness collects (all performance.now() ms, one
// clock shared by the harness and the local provider servers) and the breakdown derived from them.
//
// Voice-to-voice is measured from the caller's last voiced sample to the first agent sample played out. The
// reply cannot be heard before BOTH the turn is committed (end-of-turn delay) AND the providers have done their
// part (STT final, LLM time to first token plus the pacing of the tokens the first TTS piece waits for, TTS time
// to first byte). With preemptive generation the LLM request starts on the STT final; without it, on the end of
// turn. With preemptive TTS the speech is synthesized before the turn is committed too:
//
//   text ready = (preemptive ? STT final : end of turn) + LLM TTFT + first-piece pacing
//   floor      = max(end of turn, text ready) + TTS TTFB + first-frame pacing                 (TTS after the turn)
//   floor      = max(end of turn, text ready + TTS TTFB + first-frame pacing)                 (preemptive TTS)
//   overhead   = voice-to-voice - floor          (the worker's and the framework's own time)
//
// First-piece pacing runs to the token on which the session's text transforms and the TTS's tokenizer release the
// first piece (see tokensForFirstPiece in voice-call-harness.ts): often one token after the piece's own text.
//
// LLM and TTS durations come from the servers' side of the wire, so anything the client does before sending a
// request or after receiving a byte counts as overhead, never as provider time.

/** Raw timestamps of one turn. Optional fields are missing when that stage never happened. */
export interface TurnTimeline {
  /** What the caller said. */
  userText: string;
  /** What the agent said (as the session recorded it). */
  agentText: string;
  /** The caller's last voiced sample (capture time). */
  speechEnd: number;
  /** Deepgram stand-in wrote the final result carrying the line's last word. */
  sttFinalAt?: number;
  /** The session's EOU metrics event arrived (the turn was committed). */
  eouAt?: number;
  /** LLM request that produced the spoken reply: received by the server. */
  llmRequestAt?: number;
  /** Its first content token was written. */
  llmFirstTokenAt?: number;
  /** Server time of the token the first TTS request waited for (first token + pacing). */
  llmFirstSentenceAt?: number;
  /** Tokens the TTS's tokenizer needed before emitting its first piece (count + 1 = only at the end of the stream). */
  firstPieceTokens?: number;
  /** Tokens the server had written when the first TTS request arrived (observed). */
  ttsRequestAfterTokens?: number;
  /** The session started the LLM on the STT final (preemptive generation), not on the end of turn. */
  preemptiveLlm?: boolean;
  /** The session also synthesized before the turn was committed. */
  preemptiveTts?: boolean;
  /** LLM requests seen during the turn (preemptive generation can start more than one). */
  llmRequests: number;
  /** First TTS request (context) of the reply: received by the Cartesia stand-in. */
  ttsRequestAt?: number;
  ttsFirstByteAt?: number;
  /**
   * Server time the audio the plugin needs before releasing its first frame had been written: the Cartesia plugin
   * cuts audio into 100 ms frames and holds one back, so with small chunks that takes several (provider pacing,
   * like LLM tokens).
   */
  ttsFirstFrameReadyAt?: number;
  /** First agent audio frame handed to the output, and first sample played. */
  firstFrameAt?: number;
  playoutAt?: number;
  playoutEndAt?: number;
  interrupted: boolean;
  /** What the session's own metrics said. */
  metrics: {
    eouDelayMs?: number;
    transcriptionDelayMs?: number;
    /** EOU metrics' lastSpeakingTimeMs, converted to the performance.now() clock. */
    vadSpeechEndAt?: number;
    ttsTtfbMs?: number;
    /** LLM metrics (only emitted by the stock LLM plugin, not by our custom llmNode). */
    llmTtftMs?: number;
  };
  /** TurnReport from prepareVoiceCall's onTurn (undefined for baselines that bypass the worker's agent). */
  report?: { llmTtftMs: number | null; source: string; memoryWritten: string };
}

export interface TurnBreakdown {
  voiceToVoiceMs: number;
  /** Caller stops → first agent frame reaches the output (before the 200 ms playout queue matters). */
  firstFrameMs: number;
  endOfTurnMs: number;
  sttFinalMs: number;
  llmTtftMs: number;
  /** First token → text of the first TTS sentence complete (token pacing, provider time). */
  firstSentencePacingMs: number;
  ttsTtfbMs: number;
  /** First byte → enough audio written for the plugin to release its first frame (provider chunk pacing). */
  ttsFramePacingMs: number;
  /** Which branch gated the reply: the turn decision or the provider chain. */
  criticalPath: 'end-of-turn' | 'providers';
  floorMs: number;
  overheadMs: number;
  /**
   * Where the overhead goes, as gaps between stages: transcript → LLM request, reply text ready (first sentence
   * and turn committed) → TTS request, first audio frame ready at the provider → audible.
   */
  gaps: { sttToLlmMs?: number; textToTtsMs?: number; audioToPlayoutMs?: number };
  /** Session metrics minus the harness's own clock, for the same quantity. */
  discrepancy: {
    eouDelayMs?: number;
    transcriptionDelayMs?: number;
    vadSpeechEndMs?: number;
    ttsTtfbMs?: number;
    llmTtftMs?: number;
  };
}

export function breakdown(t: TurnTimeline): TurnBreakdown | undefined {
  if (t.playoutAt === undefined || t.ttsRequestAt === undefined || t.ttsFirstByteAt === undefined) return undefined;
  const rel = (at: number | undefined) => (at === undefined ? undefined : at - t.speechEnd);
  const voiceToVoiceMs = t.playoutAt - t.speechEnd;
  const sttFinalMs = rel(t.sttFinalAt) ?? 0;
  const endOfTurnMs = rel(t.eouAt) ?? 0;
  const llmTtftMs = t.llmRequestAt !== undefined && t.llmFirstTokenAt !== undefined ? t.llmFirstTokenAt - t.llmRequestAt : 0;
  const firstSentencePacingMs =
    t.llmFirstSentenceAt !== undefined && t.llmFirstTokenAt !== undefined ? Math.max(0, t.llmFirstSentenceAt - t.llmFirstTokenAt) : 0;
  const ttsTtfbMs = t.ttsFirstByteAt - t.ttsRequestAt;
  const ttsFramePacingMs = t.ttsFirstFrameReadyAt === undefined ? 0 : Math.max(0, t.ttsFirstFrameReadyAt - t.ttsFirstByteAt);
  // Older result files lack the flag: every variant then ran with preemptive generation on.
  const llmStartMs = t.preemptiveLlm === false ? endOfTurnMs : sttFinalMs;
  const textReadyMs = llmStartMs + llmTtftMs + firstSentencePacingMs;
  const audioMs = ttsTtfbMs + ttsFramePacingMs;
  const providerChain = t.preemptiveTts ? textReadyMs + audioMs : textReadyMs;
  const criticalPath = endOfTurnMs >= providerChain ? 'end-of-turn' : 'providers';
  const floorMs = t.preemptiveTts ? Math.max(endOfTurnMs, providerChain) : Math.max(endOfTurnMs, providerChain) + audioMs;
  const m = t.metrics;
  const diff = (metric: number | undefined, harness: number | undefined) =>
    metric === undefined || harness === undefined ? undefined : metric - harness;
  return {
    voiceToVoiceMs,
    firstFrameMs: (rel(t.firstFrameAt) ?? voiceToVoiceMs),
    endOfTurnMs,
    sttFinalMs,
    llmTtftMs,
    firstSentencePacingMs,
    ttsTtfbMs,
    ttsFramePacingMs,
    criticalPath,
    floorMs,
    overheadMs: voiceToVoiceMs - floorMs,
    gaps: {
      sttToLlmMs: t.llmRequestAt !== undefined && t.sttFinalAt !== undefined ? t.llmRequestAt - t.sttFinalAt : undefined,
      textToTtsMs:
        t.llmFirstSentenceAt !== undefined
          ? t.ttsRequestAt - Math.max(t.llmFirstSentenceAt, t.preemptiveTts ? Number.NEGATIVE_INFINITY : (t.eouAt ?? Number.NEGATIVE_INFINITY))
          : undefined,
      audioToPlayoutMs: t.playoutAt - (t.ttsFirstFrameReadyAt ?? t.ttsFirstByteAt),
    },
    discrepancy: {
      eouDelayMs: diff(m.eouDelayMs, rel(t.eouAt)),
      transcriptionDelayMs: diff(m.transcriptionDelayMs, rel(t.sttFinalAt)),
      vadSpeechEndMs: diff(m.vadSpeechEndAt, t.speechEnd),
      ttsTtfbMs: diff(m.ttsTtfbMs, ttsTtfbMs),
      llmTtftMs: diff(t.report?.llmTtftMs ?? m.llmTtftMs, llmTtftMs || undefined),
    },
  };
}

/** Nearest-rank percentile (p in 0..100) of the finite values; NaN for none. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1];
}

export interface Summary {
  n: number;
  p50: number;
  p95: number;
  mean: number;
  min: number;
  max: number;
}

export function summarize(values: readonly number[]): Summary {
  const finite = values.filter(Number.isFinite);
  const sum = finite.reduce((a, b) => a + b, 0);
  return {
    n: finite.length,
    p50: percentile(finite, 50),
    p95: percentile(finite, 95),
    mean: finite.length ? sum / finite.length : Number.NaN,
    min: finite.length ? Math.min(...finite) : Number.NaN,
    max: finite.length ? Math.max(...finite) : Number.NaN,
  };
}

/** Rounds for display; '—' for missing. */
export function ms(value: number | undefined | null, digits = 0): string {
  return value === undefined || value === null || !Number.isFinite(value) ? '—' : value.toFixed(digits);
}

/** A plain-text table with right-aligned numeric columns (numbers detected per cell). */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const numeric = (s: string) => /^[-+]?[\d.]+[×%]?$|^—$/.test(s);
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (numeric(c) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** The same table as GitHub markdown. */
export function formatMarkdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** Deterministic PRNG (mulberry32) so a report's confidence intervals are reproducible from the same samples. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * 95% bootstrap interval of median(b) - median(a). When it contains 0 the two samples show no measurable
 * difference at this sample size.
 */
export function medianDifferenceCI(a: readonly number[], b: readonly number[], resamples = 2000): { low: number; high: number } {
  const xa = a.filter(Number.isFinite);
  const xb = b.filter(Number.isFinite);
  if (xa.length === 0 || xb.length === 0) return { low: Number.NaN, high: Number.NaN };
  const rand = prng(0x5eed);
  const draw = (xs: readonly number[]) => percentile(Array.from(xs, () => xs[Math.floor(rand() * xs.length)]), 50);
  const diffs = Array.from({ length: resamples }, () => draw(xb) - draw(xa));
  return { low: percentile(diffs, 2.5), high: percentile(diffs, 97.5) };
}
