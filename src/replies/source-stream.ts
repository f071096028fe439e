/** How one reply source's stream ended: with its provider's own "done" signal, or without it (and why not). */
export type StreamEnd = { complete: true } | { complete: false; reason: string };

/** A reply source: speakable text chunks as they arrive, then how the stream ended. */
export type SourceStream = AsyncGenerator<string, StreamEnd>;

/** What a guarded stream ends with: the source's own end, or a stall the guard detected after text had started. */
export type GuardedEnd = StreamEnd | { complete: false; reason: string; stalled: true };

export interface StreamDeadlines {
  /** From opening the source to its first speakable text. */
  firstTextMs: number;
  /** Longest silence between text chunks once text has started. */
  stallMs: number;
}

/** The source produced no speakable text within its deadline; the request was aborted. */
export class FirstTextTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`no text within ${timeoutMs} ms`);
    this.name = 'FirstTextTimeoutError';
  }
}

const TIMED_OUT = Symbol('timed out');

/**
 * Runs a source under its deadlines. The SDKs' own timeouts stop counting once response headers arrive, and
 * keepalive pings, reasoning or tool events keep a connection busy without giving the caller a word; only
 * speakable text (a chunk with a non-space character) meets the first-text deadline or resets the stall timer.
 * Time the consumer spends with a chunk (TTS back-pressure) does not count: the timer only runs while waiting on
 * the source. On expiry the source's request is aborted through its signal. Whitespace before the first text is
 * dropped, so a source that times out has yielded nothing.
 */
export async function* guardSourceStream(
  open: (signal: AbortSignal) => SourceStream,
  outer: AbortSignal,
  deadlines: StreamDeadlines,
): AsyncGenerator<string, GuardedEnd> {
  const opened = performance.now();
  const abort = new AbortController();
  const forwardAbort = () => abort.abort(outer.reason);
  if (outer.aborted) forwardAbort();
  else outer.addEventListener('abort', forwardAbort, { once: true });
  const source = open(abort.signal);
  let spoken = false;
  let finished = false;
  try {
    for (;;) {
      const limitMs = spoken ? deadlines.stallMs : deadlines.firstTextMs - (performance.now() - opened);
      const pending = source.next();
      const next = await raceTimeout(pending, limitMs);
      if (next === TIMED_OUT) {
        // The aborted request rejects (or ends) the pending read; nobody waits for it any more.
        pending.catch(() => undefined);
        abort.abort(new Error('reply source deadline passed'));
        if (!spoken) throw new FirstTextTimeoutError(deadlines.firstTextMs);
        return { complete: false, reason: `stalled: no text for ${deadlines.stallMs} ms`, stalled: true };
      }
      if (next.done) {
        finished = true;
        return next.value;
      }
      if (!spoken && !/\S/.test(next.value)) continue;
      spoken = true;
      yield next.value;
    }
  } finally {
    outer.removeEventListener('abort', forwardAbort);
    if (!finished) {
      abort.abort(new Error('reply source abandoned'));
      // Not awaited: a source blocked on something the signal cannot reach must not hold up the reply.
      source.return({ complete: false, reason: 'abandoned' }).catch(() => undefined);
    }
  }
}

async function raceTimeout<T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), Math.max(0, ms));
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
