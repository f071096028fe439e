// A TTS that does not leave a reply silent when the provider fails: each reply is tried on the primary, once more
// on the primary, then on the secondary (if configured); every failed attempt is logged as an error with its reason.
//
// Why not the framework's tts.FallbackAdapter (node_modules/@livekit/agents/dist/tts/fallback_adapter.js) as is:
//  - its per-provider retry is the inner stream's own retry loop (connOptions.maxRetry), which re-runs the plugin's
//    run() on an input queue the failed attempt already drained: after a socket dropped mid-reply the "retry" gets
//    no text and ends without audio;
//  - a failed provider is marked unavailable and probed in the background with a synthesize("Hello world, ...")
//    request until it answers: against a plan's concurrency limit (Cartesia's 429) that adds load and spends credits;
//  - it has no first-audio deadline: a Cartesia context that got a 4xx error event while text was still streaming
//    waits forever (the plugin treats 4xx error events as non-fatal and sets its chunk timeout only after a chunk);
//  - it logs failures as warnings.
// What is kept from it: the text of the reply is buffered and replayed into each new attempt, a provider that cannot
// stream text gets the framework's StreamAdapter, and audio is resampled when the providers' rates differ.
import { APIConnectionError, tokenize, tts, type APIConnectOptions } from '@livekit/agents';
import { AudioResampler } from '@livekit/rtc-node';
import type { Logger } from '../logging.js';

export interface ResilientTtsOptions {
  primary: tts.TTS;
  /** Used after the primary's attempts have failed; omitted when no other TTS is configured. */
  secondary?: tts.TTS;
  /** Attempts on the primary per reply before the secondary: 2 = one retry. */
  primaryAttempts?: number;
  /**
   * An attempt that has handed text to its provider and has no audio after this long has failed. Bounds the
   * silence a hung provider causes before the next attempt starts.
   */
  firstAudioTimeoutMs?: number;
  logger: Logger;
}

export const DEFAULT_PRIMARY_ATTEMPTS = 2;
export const DEFAULT_FIRST_AUDIO_TIMEOUT_MS = 3_000;
const WATCHDOG_INTERVAL_MS = 50;

/** Text, or the flush marker (the framework's SynthesizeStream.FLUSH_SENTINEL, the only symbol in the input). */
type TextItem = string | symbol;

/** The reply's text as it arrives, replayable from the start by each attempt. */
class ReplayableText {
  readonly items: TextItem[] = [];
  ended = false;
  #wake: Array<() => void> = [];

  push(item: TextItem): void {
    this.items.push(item);
    this.#notify();
  }

  end(): void {
    this.ended = true;
    this.#notify();
  }

  get hasSpeakableText(): boolean {
    return this.items.some((item) => typeof item === 'string' && item.trim() !== '');
  }

  async *replay(stopped: () => boolean): AsyncGenerator<TextItem> {
    let next = 0;
    for (;;) {
      while (next < this.items.length) yield this.items[next++]!;
      if (this.ended || stopped()) return;
      await new Promise<void>((resolve) => this.#wake.push(resolve));
    }
  }

  /** Wakes waiting replays, e.g. so a stopped attempt's feeder can return. */
  wakeAll(): void {
    this.#notify();
  }

  #notify(): void {
    const waiters = this.#wake;
    this.#wake = [];
    for (const wake of waiters) wake();
  }
}

interface Attempt {
  tts: tts.TTS;
  /** What the stream is opened on: the TTS itself, or a StreamAdapter for a provider that cannot stream text. */
  streaming: tts.TTS;
  name: string;
}

export class ResilientTTS extends tts.TTS {
  readonly label: string;
  readonly primary: tts.TTS;
  readonly secondary?: tts.TTS;
  readonly firstAudioTimeoutMs: number;
  readonly logger: Logger;
  // Errors of the providers' own streams are not forwarded: a failed attempt is not the reply failing (it is logged
  // here), and AgentSession counts every error event from its TTS towards closing the call. Only a reply that no
  // attempt could speak surfaces, from this TTS's own stream.
  readonly #attempts: Attempt[];

  constructor(options: ResilientTtsOptions) {
    const { primary, secondary } = options;
    if (secondary && secondary.numChannels !== primary.numChannels) {
      throw new Error(`TTS fallback needs the same channel count (${primary.label}: ${primary.numChannels}, ${secondary.label}: ${secondary.numChannels})`);
    }
    super(primary.sampleRate, primary.numChannels, {
      streaming: true,
      // As the framework's FallbackAdapter: word timings only when every provider gives them.
      alignedTranscript: primary.capabilities.alignedTranscript === true && (secondary?.capabilities.alignedTranscript ?? true) === true,
    });
    this.primary = primary;
    this.secondary = secondary;
    this.logger = options.logger;
    this.firstAudioTimeoutMs = options.firstAudioTimeoutMs ?? DEFAULT_FIRST_AUDIO_TIMEOUT_MS;
    this.label = secondary ? `resilient<${primary.label}, ${secondary.label}>` : `resilient<${primary.label}>`;
    const primaryStreaming = streamingOf(primary);
    const count = options.primaryAttempts ?? DEFAULT_PRIMARY_ATTEMPTS;
    this.#attempts = Array.from({ length: count }, (_, i) => ({
      tts: primary,
      streaming: primaryStreaming,
      name: i === 0 ? primary.label : `${primary.label} (retry ${i})`,
    }));
    if (secondary) this.#attempts.push({ tts: secondary, streaming: streamingOf(secondary), name: secondary.label });
  }

  get attempts(): readonly Attempt[] {
    return this.#attempts;
  }

  override get model(): string {
    return this.primary.model;
  }

  override get provider(): string {
    return this.primary.provider;
  }

  /** Opens the primary's connection ahead of the first reply, when the plugin supports it (Cartesia does). */
  prewarm(): void {
    (this.primary as { prewarm?: () => void }).prewarm?.();
  }

  synthesize(text: string, connOptions?: APIConnectOptions, abortSignal?: AbortSignal): tts.ChunkedStream {
    return new ResilientChunkedStream(this, text, connOptions, abortSignal);
  }

  stream(options?: { connOptions?: APIConnectOptions }): tts.SynthesizeStream {
    return new ResilientSynthesizeStream(this, options?.connOptions);
  }

  override async close(): Promise<void> {
    await Promise.all([this.primary.close(), this.secondary?.close()]);
    await super.close();
  }

  /** @internal One failed attempt: an error line naming the provider and the reason. */
  logFailure(attempt: Attempt, index: number, reason: string, audioSeconds: number): void {
    const next = this.#attempts[index + 1];
    const outcome = audioSeconds > 0 ? 'reply cut short' : next ? `trying ${next.name}` : 'no TTS left, reply not spoken';
    this.logger.error(
      { tts: attempt.name, attempt: index + 1, of: this.#attempts.length, reason, audioSeconds },
      `TTS failed (${attempt.name}): ${reason}; ${outcome}`,
    );
  }
}

function streamingOf(instance: tts.TTS): tts.TTS {
  return instance.capabilities.streaming ? instance : new tts.StreamAdapter(instance, new tokenize.basic.SentenceTokenizer());
}

/** Options for one inner attempt: the inner stream never retries on its own (its input would be gone). */
function singleAttempt(connOptions: APIConnectOptions): APIConnectOptions {
  return { ...connOptions, maxRetry: 0 };
}

/** Collects the reason an attempt failed from the provider's error events (the streams themselves end quietly). */
function watchErrors(instance: tts.TTS): { reason: () => string | undefined; stop: () => void } {
  let last: string | undefined;
  const onError: tts.TTSCallbacks['error'] = (event) => {
    last = describe(event.error);
  };
  instance.on('error', onError);
  return { reason: () => last, stop: () => instance.off('error', onError) };
}

/** Class, status and message: the Cartesia plugin's connect errors carry little more than their class. */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const status = (error as { statusCode?: unknown; status?: unknown }).statusCode ?? (error as { status?: unknown }).status;
  const code = typeof status === 'number' && status > 0 ? ` ${status}` : '';
  return `${error.name}${code}: ${error.message}`;
}

function makeResampler(from: tts.TTS, toRate: number): AudioResampler | null {
  return from.sampleRate === toRate ? null : new AudioResampler(from.sampleRate, toRate, from.numChannels);
}

class ResilientSynthesizeStream extends tts.SynthesizeStream {
  readonly label: string;
  readonly #outer: ResilientTTS;

  constructor(outer: ResilientTTS, connOptions?: APIConnectOptions) {
    // The attempts below replace the base class's retry loop, which would re-run with the input already consumed.
    super(outer, connOptions ? singleAttempt(connOptions) : undefined);
    this.#outer = outer;
    this.label = `${outer.label}.SynthesizeStream`;
  }

  protected async run(): Promise<void> {
    const text = new ReplayableText();
    const readInput = (async () => {
      for await (const item of this.input) {
        if (this.abortSignal.aborted) break;
        text.push(item);
      }
      text.end();
    })();
    try {
      const attempts = this.#outer.attempts;
      for (let index = 0; index < attempts.length; index++) {
        if (this.abortSignal.aborted) return;
        const result = await this.#attempt(attempts[index]!, text);
        if (this.abortSignal.aborted) return;
        if (result.ok) {
          this.queue.put(tts.SynthesizeStream.END_OF_STREAM);
          return;
        }
        this.#outer.logFailure(attempts[index]!, index, result.reason, result.audioSeconds);
        if (result.audioSeconds > 0) {
          // Part of the reply was heard; starting it over on another attempt would repeat those words.
          this.queue.put(tts.SynthesizeStream.END_OF_STREAM);
          return;
        }
      }
      throw new APIConnectionError({
        message: `every TTS attempt failed (${attempts.map((a) => a.name).join(', ')})`,
        options: { retryable: false },
      });
    } finally {
      text.end();
      await readInput.catch(() => undefined);
    }
  }

  async #attempt(attempt: Attempt, text: ReplayableText): Promise<{ ok: true } | { ok: false; reason: string; audioSeconds: number }> {
    const inner = attempt.streaming.stream({ connOptions: singleAttempt(this.connOptions) });
    const errors = watchErrors(attempt.streaming);
    const resampler = makeResampler(attempt.tts, this.#outer.sampleRate);
    let audioSeconds = 0;
    let stopped = false;
    let timedOut = false;
    let handedOverAt: number | undefined; // performance.now() ms when the provider must have had text to speak
    const stop = () => {
      stopped = true;
      text.wakeAll();
      inner.close();
    };
    const onAbort = () => stop();
    this.abortSignal.addEventListener('abort', onAbort, { once: true });

    const feed = async () => {
      for await (const item of text.replay(() => stopped)) {
        if (stopped) return;
        if (typeof item !== 'string') {
          inner.flush();
          handedOverAt ??= performance.now();
        } else {
          inner.pushText(item);
        }
      }
      if (stopped) return;
      inner.endInput();
      handedOverAt ??= performance.now();
    };
    const watchdog = setInterval(() => {
      if (audioSeconds > 0 || stopped) return;
      const started = inner.startedTime;
      const since = started !== undefined ? started.time * 1000 : handedOverAt;
      if (since !== undefined && performance.now() - since > this.#outer.firstAudioTimeoutMs) {
        timedOut = true;
        stop();
      }
    }, WATCHDOG_INTERVAL_MS);
    const forward = async () => {
      for await (const audio of inner) {
        if (stopped) break;
        if (audio === tts.SynthesizeStream.END_OF_STREAM) continue;
        const started = inner.startedTime;
        if (started !== undefined) this.markStarted(started); // TTFB measured from when the provider got text
        const frames = resampler ? resampler.push(audio.frame) : [audio.frame];
        for (const frame of frames) {
          audioSeconds += frame.samplesPerChannel / frame.sampleRate;
          this.queue.put({ ...audio, frame });
        }
      }
      for (const frame of resampler?.flush() ?? []) {
        audioSeconds += frame.samplesPerChannel / frame.sampleRate;
        this.queue.put({ requestId: '', segmentId: '', frame, final: true });
      }
    };

    try {
      await Promise.all([feed(), forward()]);
    } catch (error) {
      errors.stop();
      return { ok: false, reason: describe(error), audioSeconds };
    } finally {
      clearInterval(watchdog);
      this.abortSignal.removeEventListener('abort', onAbort);
      stop();
      errors.stop();
      resampler?.close();
    }
    if (this.abortSignal.aborted) return { ok: true };
    if (timedOut) return { ok: false, reason: `no audio within ${this.#outer.firstAudioTimeoutMs} ms of sending text`, audioSeconds };
    const reported = errors.reason();
    if (reported !== undefined) return { ok: false, reason: reported, audioSeconds };
    if (audioSeconds === 0 && text.hasSpeakableText) return { ok: false, reason: 'the stream ended without audio', audioSeconds };
    return { ok: true };
  }
}

/** One-shot synthesis (no text stream): the same attempts, each a fresh request for the whole text. */
class ResilientChunkedStream extends tts.ChunkedStream {
  readonly label: string;
  readonly #outer: ResilientTTS;
  readonly #connOptions?: APIConnectOptions;

  constructor(outer: ResilientTTS, text: string, connOptions?: APIConnectOptions, abortSignal?: AbortSignal) {
    super(text, outer, connOptions ? singleAttempt(connOptions) : undefined, abortSignal);
    this.#outer = outer;
    this.#connOptions = connOptions;
    this.label = `${outer.label}.ChunkedStream`;
  }

  protected async run(): Promise<void> {
    const attempts = this.#outer.attempts;
    for (let index = 0; index < attempts.length; index++) {
      const attempt = attempts[index]!;
      const errors = watchErrors(attempt.tts);
      const resampler = makeResampler(attempt.tts, this.#outer.sampleRate);
      let audioSeconds = 0;
      let thrown: string | undefined;
      try {
        const inner = attempt.tts.synthesize(this.inputText, this.#connOptions && singleAttempt(this.#connOptions), this.abortSignal);
        for await (const audio of inner) {
          for (const frame of resampler ? resampler.push(audio.frame) : [audio.frame]) {
            audioSeconds += frame.samplesPerChannel / frame.sampleRate;
            this.queue.put({ ...audio, frame });
          }
        }
        for (const frame of resampler?.flush() ?? []) this.queue.put({ requestId: '', segmentId: '', frame, final: true });
      } catch (error) {
        thrown = describe(error);
      } finally {
        errors.stop();
        resampler?.close();
      }
      if (this.abortSignal.aborted) return;
      const reason = thrown ?? errors.reason() ?? (audioSeconds === 0 && this.inputText.trim() ? 'no audio' : undefined);
      if (reason === undefined) return;
      this.#outer.logFailure(attempt, index, reason, audioSeconds);
      if (audioSeconds > 0) return;
    }
    throw new APIConnectionError({ message: 'every TTS attempt failed', options: { retryable: false } });
  }
}
