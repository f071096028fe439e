// What the voice benchmarks compare. Every variant runs with the same injected provider latencies
// (REALISTIC_LATENCIES) unless the comparison is about a provider's behaviour (Letta buffering, Letta slow/down).
import type { VoiceCallHarnessOptions } from '../simulation/harness/voice-call-harness.js';

export type VariantName =
  | 'hybrid'
  | 'letta-blocking'
  | 'stock-openai'
  | 'letta-tokens'
  | 'letta-buffered'
  | 'hybrid-letta-slow'
  | 'hybrid-letta-down'
  | 'hybrid-sentence-tts'
  | 'hybrid-first-clause-only';

export interface BenchVariant {
  name: VariantName;
  description: string;
  harness: VoiceCallHarnessOptions;
}

/**
 * A Letta agent step of 1.8 s makes a write-behind turn with a memory edit take ~5 s (two steps plus tokens) and one
 * without ~2.3 s; 1.5 s steps give ~4 s and ~2 s.
 */
export const SLOW_LETTA_STEP_MS = 1800;

export const VARIANTS: Record<VariantName, BenchVariant> = {
  hybrid: {
    name: 'hybrid',
    description: 'worker, hybrid fast path with its defaults (memory in prompt, Letta writes ~2 s behind, ~4 s with a memory edit; first clause to TTS early, preemptive TTS, 20 ms Deepgram chunks, progressive Cartesia frames)',
    harness: { variant: 'hybrid' },
  },
  'letta-blocking': {
    name: 'letta-blocking',
    description: "seeds' original design: wait for Letta's whole non-streaming reply, then speak",
    harness: { variant: 'letta-blocking' },
  },
  'stock-openai': {
    name: 'stock-openai',
    description: 'stock LiveKit pipeline: voice.Agent + @livekit/agents-plugin-openai LLM, same endpoint, no memory',
    harness: { variant: 'stock-openai' },
  },
  'letta-tokens': {
    name: 'letta-tokens',
    description: 'worker, full Letta path, Letta streams tokens',
    harness: { variant: 'letta', latencies: { lettaStreamMode: 'tokens' } },
  },
  'letta-buffered': {
    name: 'letta-buffered',
    description: 'worker, full Letta path, Letta buffers the turn (whole messages at the end)',
    harness: { variant: 'letta', latencies: { lettaStreamMode: 'buffered' } },
  },
  'hybrid-letta-slow': {
    name: 'hybrid-letta-slow',
    description: 'worker, hybrid, Letta steps of 1.8 s instead of 1.5 s (writes ~2.3 s, ~5 s with a memory edit)',
    harness: { variant: 'hybrid', latencies: { lettaStepMs: SLOW_LETTA_STEP_MS } },
  },
  'hybrid-letta-down': {
    name: 'hybrid-letta-down',
    description: 'worker, hybrid, Letta refusing connections after session start',
    harness: { variant: 'hybrid', letta: 'down' },
  },
  'hybrid-sentence-tts': {
    name: 'hybrid-sentence-tts',
    description: "worker, hybrid, with the Cartesia plugin's whole-sentence tokenizer and TTS only after the turn is committed (TTS_FIRST_CLAUSE=false, PREEMPTIVE_TTS=false; Deepgram chunks and Cartesia framing as in hybrid)",
    harness: { variant: 'hybrid', env: { TTS_FIRST_CLAUSE: 'false', PREEMPTIVE_TTS: 'false' } },
  },
  'hybrid-first-clause-only': {
    name: 'hybrid-first-clause-only',
    description: 'worker, hybrid, first-clause flush but TTS only after the turn is committed (PREEMPTIVE_TTS=false)',
    harness: { variant: 'hybrid', env: { PREEMPTIVE_TTS: 'false' } },
  },
};

export interface Comparison {
  id: string;
  title: string;
  /** The variant the ratio is relative to. */
  base: VariantName;
  other: VariantName;
  /** 'ratio': other/base with an optional ceiling; 'same': the difference should not be measurable. */
  target?: Target;
  /** Text-mode runs (LLM text only, no audio) when they differ from the audio target. */
  textTarget?: Target;
}

export type Target = { kind: 'ratio-max'; value: number } | { kind: 'same' };

export const COMPARISONS: Comparison[] = [
  { id: 'a', title: 'hybrid vs the seeds\' blocking Letta design', base: 'hybrid', other: 'letta-blocking' },
  {
    id: 'b',
    title: 'hybrid (memory in the prompt) vs stock LiveKit OpenAI pipeline',
    base: 'stock-openai',
    other: 'hybrid',
    // Audio: issue 12's target. Text mode has no TTS, so there the memory in the prompt must simply cost nothing.
    target: { kind: 'ratio-max', value: 0.85 },
    textTarget: { kind: 'ratio-max', value: 1.05 },
  },
  { id: 'c', title: 'full Letta path: buffered messages vs token streaming', base: 'letta-tokens', other: 'letta-buffered' },
  { id: 'd1', title: 'hybrid: slower Letta writes (1.8 s steps) vs healthy (1.5 s)', base: 'hybrid', other: 'hybrid-letta-slow', target: { kind: 'same' } },
  { id: 'd2', title: 'hybrid: Letta down vs healthy', base: 'hybrid', other: 'hybrid-letta-down', target: { kind: 'same' } },
  { id: 'e1', title: 'first clause to TTS early vs whole sentences (TTS after the turn in both)', base: 'hybrid-sentence-tts', other: 'hybrid-first-clause-only' },
  { id: 'e2', title: 'preemptive TTS vs TTS after the turn (first clause early in both)', base: 'hybrid-first-clause-only', other: 'hybrid' },
];

/** Same reply text for every variant, so TTS and playout cost the same everywhere. */
export const BENCH_REPLY = 'Sure thing, happy to help. Here is what I found.';

/**
 * What the Letta stand-in's agent keeps from each line: only the lines that tell it something about the caller get a
 * memory edit (a memory tool call, then the reply: two agent steps); the others are answered in one step. The
 * stand-in's default would edit memory on every message, which no real agent does for "what time is it".
 */
const BENCH_MEMORY_FACTS: Record<string, string> = {
  'Please remind me to call my sister': 'Sam wants a reminder to call their sister.',
  'Which boat shoes should I buy': 'Sam is shopping for boat shoes.',
};

/** The scripted providers every benchmark variant talks to: the same reply text, the same memory behaviour. */
export const BENCH_PROVIDERS = {
  openaiReply: () => BENCH_REPLY,
  lettaReply: () => BENCH_REPLY,
  lettaMemoryFact: (_agent: unknown, userText: string) => BENCH_MEMORY_FACTS[userText.trim()] ?? null,
} satisfies Pick<VoiceCallHarnessOptions, 'openaiReply' | 'lettaReply' | 'lettaMemoryFact'>;

/** Short single-clause lines: one Deepgram final each, so preemptive generation starts exactly once. */
export const BENCH_LINES = [
  'What is the weather like today',
  'Can you tell me a short joke',
  'What time is it in Paris now',
  'How far away is the harbor',
  'Please remind me to call my sister',
  'Which boat shoes should I buy',
  'Is the marina open on Sunday',
  'What should I cook for dinner',
];

/** How many of BENCH_LINES make the Letta stand-in's agent edit memory. */
export const BENCH_MEMORY_EDIT_LINES = BENCH_LINES.filter((line) => BENCH_MEMORY_FACTS[line] !== undefined).length;
