// Puts the first-clause tokenizer in front of a streaming TTS plugin whose own tokenizer is fixed.
//
// The Cartesia plugin hard-codes its sentence tokenizer (a private field, no constructor option), but it sends
// whatever its tokenizer holds as soon as the stream is flushed (FLUSH_SENTINEL → tokenizer.flush(), same context,
// `continue: true`). So this wrapper decides the pieces and flushes the plugin's stream after each one. The pattern
// (inner stream per outer stream, markStarted from the inner stream, errors forwarded) follows the framework's own
// tts.FallbackAdapter / tts.StreamAdapter in node_modules/@livekit/agents/dist/tts/.
import { tokenize, tts, type APIConnectOptions } from '@livekit/agents';
import { FirstClauseSentenceTokenizer, type FirstClauseOptions } from './first-clause-tokenizer.js';

/** A streaming TTS (the wrapper) or, for plugins that cannot stream text in, the framework's StreamAdapter. */
export function withFirstClauseFlush(inner: tts.TTS, options: Partial<FirstClauseOptions> = {}): tts.TTS {
  const tokenizer = new FirstClauseSentenceTokenizer(options);
  if (!inner.capabilities.streaming) return new tts.StreamAdapter(inner, tokenizer);
  return new FirstClauseTTS(inner, tokenizer);
}

export class FirstClauseTTS extends tts.TTS {
  readonly label: string;
  readonly inner: tts.TTS;
  readonly #tokenizer: tokenize.SentenceTokenizer;
  readonly #forwardError: tts.TTSCallbacks['error'] = (error) => this.emit('error', error);

  constructor(inner: tts.TTS, tokenizer: tokenize.SentenceTokenizer) {
    super(inner.sampleRate, inner.numChannels, inner.capabilities);
    this.inner = inner;
    this.#tokenizer = tokenizer;
    this.label = `first-clause<${inner.label}>`;
    // The inner streams report their errors on the inner TTS; the session listens on this one.
    inner.on('error', this.#forwardError);
  }

  override get model(): string {
    return this.inner.model;
  }

  override get provider(): string {
    return this.inner.provider;
  }

  override _setExpressive(enabled: boolean): void {
    super._setExpressive(enabled);
    this.inner._setExpressive(enabled);
  }

  /** Opens the provider connection ahead of the first reply, when the plugin supports it (Cartesia does). */
  prewarm(): void {
    (this.inner as { prewarm?: () => void }).prewarm?.();
  }

  synthesize(text: string, connOptions?: APIConnectOptions, abortSignal?: AbortSignal): tts.ChunkedStream {
    return this.inner.synthesize(text, connOptions, abortSignal);
  }

  stream(options?: { connOptions?: APIConnectOptions }): tts.SynthesizeStream {
    return new FirstClauseSynthesizeStream(this, this.inner, this.#tokenizer, options?.connOptions);
  }

  override async close(): Promise<void> {
    this.inner.off('error', this.#forwardError);
    await this.inner.close();
    await super.close();
  }
}

class FirstClauseSynthesizeStream extends tts.SynthesizeStream {
  readonly label: string;
  readonly #inner: tts.TTS;
  readonly #tokenizer: tokenize.SentenceTokenizer;

  constructor(outer: FirstClauseTTS, inner: tts.TTS, tokenizer: tokenize.SentenceTokenizer, connOptions?: APIConnectOptions) {
    super(outer, connOptions);
    this.#inner = inner;
    this.#tokenizer = tokenizer;
    this.label = `first-clause<${inner.label}>.SynthesizeStream`;
  }

  protected async run(): Promise<void> {
    // Retries happen inside the inner stream (it gets the same connection options); this one makes a single attempt.
    const inner = this.#inner.stream({ connOptions: { ...this.connOptions } });
    const pieces = this.#tokenizer.stream();
    const abort = () => inner.close();
    this.abortSignal.addEventListener('abort', abort, { once: true });

    const readInput = async () => {
      for await (const input of this.input) {
        if (this.abortSignal.aborted) break;
        if (input === tts.SynthesizeStream.FLUSH_SENTINEL) pieces.flush();
        else pieces.pushText(input);
      }
      if (!pieces.closed) pieces.endInput();
    };
    const sendPieces = async () => {
      for await (const piece of pieces) {
        if (this.abortSignal.aborted) break;
        // The plugin appends its own separator; flushing makes it send the piece now, in the same context.
        inner.pushText(piece.token);
        inner.flush();
      }
      inner.endInput();
    };
    const forwardAudio = async () => {
      for await (const audio of inner) {
        if (this.abortSignal.aborted) break;
        if (audio === tts.SynthesizeStream.END_OF_STREAM) continue;
        const started = inner.startedTime;
        if (started !== undefined) this.markStarted(started); // TTFB measured from when the provider got text
        this.queue.put(audio);
      }
    };
    try {
      await Promise.all([readInput(), sendPieces(), forwardAudio()]);
      this.queue.put(tts.SynthesizeStream.END_OF_STREAM);
    } finally {
      this.abortSignal.removeEventListener('abort', abort);
      if (!pieces.closed) pieces.close();
      inner.close();
    }
  }
}
