// A sentence tokenizer for streaming TTS that lets the first clause of a reply go out as soon as it is speakable,
// then falls back to whole sentences.
//
// Why: the Cartesia plugin (node_modules/@livekit/agents-plugin-cartesia/dist/tts.js, SynthesizeStream) feeds LLM
// text through `tokenize.basic.SentenceTokenizer({ minSentenceLength: 8 })`, whose stream
// (node_modules/@livekit/agents/dist/tokenize/token_stream.js, BufferedTokenStream.pushText) emits a sentence only
// once the *next* sentence has started. The first audio therefore waits for the whole first sentence plus a token.
// Cartesia continues prosody across messages of one context (`continue: true`, docs: "stream inputs using
// continuations"), and the plugin sends with `max_buffer_delay_ms: 0`, so a clause sent early is spoken at once and
// the rest joins it seamlessly; later text still goes out in whole sentences, as the plugin would send it.
import { tokenize } from '@livekit/agents';

export interface FirstClauseOptions {
  /** Fewest words before a clause boundary (, ; : — or sentence end) may end the first piece. */
  minWords: number;
  /** With no boundary yet, the first piece ends after this many complete words. */
  maxWords: number;
  /** After the first piece: the sentence tokenizer's minimum sentence length (the Cartesia plugin uses 8). */
  minSentenceLength: number;
}

export const DEFAULT_FIRST_CLAUSE_OPTIONS: FirstClauseOptions = { minWords: 2, maxWords: 6, minSentenceLength: 8 };

const CLAUSE_END = /[,;:\u2014\u2013]$/;
const SENTENCE_END = /(?:[.!?]|\u2026)["'\u201D\u2019)]*$/;
/** Words ending in "." that do not end a sentence (the framework's splitSentences treats the same ones specially). */
const ABBREVIATIONS = new Set(['mr', 'mrs', 'ms', 'dr', 'st', 'prof', 'jr', 'sr', 'vs', 'etc', 'inc', 'ltd', 'co', 'capt', 'lt', 'no']);

/**
 * Where the first speakable piece of `text` ends (index just past it), or undefined if it is not complete yet.
 * A word is complete once whitespace follows it, or when it ends in punctuation that cannot continue the word
 * (a comma after a letter: "thing," — but "1," may become "1,000", and "3." may become "3.5").
 */
export function firstClauseEnd(text: string, options: Pick<FirstClauseOptions, 'minWords' | 'maxWords'> = DEFAULT_FIRST_CLAUSE_OPTIONS): number | undefined {
  let words = 0;
  for (const match of text.matchAll(/\S+/g)) {
    const word = match[0];
    const end = match.index + word.length;
    const followedBySpace = end < text.length;
    words += 1;
    if (words >= options.minWords && endsClause(word, followedBySpace)) return end;
    if (words >= options.maxWords && followedBySpace) return end;
  }
  return undefined;
}

function endsClause(word: string, followedBySpace: boolean): boolean {
  const sentenceEnd = SENTENCE_END.test(word);
  if (!CLAUSE_END.test(word) && !sentenceEnd) return false;
  const core = word.replace(/[^\p{L}\p{N}]+$/u, '');
  if (core === '') return false;
  // A digit before the mark may be the start of a number ("1,000", "3.5") until whitespace says otherwise.
  if (/\p{N}$/u.test(core) && !followedBySpace) return false;
  if (sentenceEnd && word.endsWith('.') && !word.endsWith('..')) {
    const bare = core.toLowerCase();
    if (ABBREVIATIONS.has(bare) || /^\p{L}$/u.test(bare) || /\p{L}\.\p{L}/u.test(core)) return false;
  }
  return true;
}

/**
 * Emits the first clause of each segment early (see firstClauseEnd), then whole sentences: a sentence is emitted once
 * the next one has started, or on flush / end of input, like the framework's BufferedSentenceStream.
 */
export class FirstClauseSentenceStream extends tokenize.SentenceStream {
  readonly #options: FirstClauseOptions;
  readonly #sentences: tokenize.basic.SentenceTokenizer;
  #buffer = '';
  #firstEmitted = false;
  #segment = 0;

  constructor(options: FirstClauseOptions = DEFAULT_FIRST_CLAUSE_OPTIONS) {
    super();
    this.#options = options;
    this.#sentences = new tokenize.basic.SentenceTokenizer({ minSentenceLength: options.minSentenceLength });
  }

  override pushText(text: string): void {
    if (this.closed || this.queue.closed) throw new Error('first-clause tokenizer: stream is closed');
    if (!text) return;
    // Whitespace runs collapse to one space so every sentence the splitter returns is a substring of the buffer.
    this.#buffer = `${this.#buffer}${text}`.replace(/\s+/g, ' ').replace(/^ /, '');
    if (!this.#firstEmitted) {
      const end = firstClauseEnd(this.#buffer, this.#options);
      if (end === undefined) return;
      this.#emit(this.#buffer.slice(0, end));
      this.#firstEmitted = true;
      this.#buffer = this.#buffer.slice(end).trimStart();
    }
    this.#emitCompleteSentences();
  }

  override flush(): void {
    if (this.closed || this.queue.closed) throw new Error('first-clause tokenizer: stream is closed');
    for (const sentence of this.#sentences.tokenize(this.#buffer)) this.#emit(sentence);
    this.#buffer = '';
    // A flush ends the segment (the framework flushes between replies): the next one starts with a first clause again.
    this.#firstEmitted = false;
    this.#segment += 1;
  }

  override endInput(): void {
    this.flush();
    this.close();
  }

  override close(): void {
    super.close();
    this.queue.close();
  }

  override next(): Promise<IteratorResult<tokenize.TokenData>> {
    return this.queue.next();
  }

  /** Emits every sentence but the last, which may still grow. */
  #emitCompleteSentences(): void {
    const sentences = this.#sentences.tokenize(this.#buffer);
    if (sentences.length <= 1) return;
    let consumed = 0;
    for (const sentence of sentences.slice(0, -1)) {
      const at = this.#buffer.indexOf(sentence, consumed);
      if (at < 0) break; // cannot locate it: keep the text buffered until flush rather than risk losing words
      this.#emit(sentence);
      consumed = at + sentence.length;
    }
    this.#buffer = this.#buffer.slice(consumed).trimStart();
  }

  #emit(text: string): void {
    const token = text.trim();
    if (token) this.queue.put({ token, segmentId: `first-clause-${this.#segment}` });
  }
}

export class FirstClauseSentenceTokenizer extends tokenize.SentenceTokenizer {
  readonly #options: FirstClauseOptions;

  constructor(options: Partial<FirstClauseOptions> = {}) {
    super();
    this.#options = { ...DEFAULT_FIRST_CLAUSE_OPTIONS, ...options };
  }

  tokenize(text: string): string[] {
    const clean = text.replace(/\s+/g, ' ').trim();
    const end = firstClauseEnd(`${clean} `, this.#options);
    if (end === undefined) return clean ? [clean] : [];
    const first = clean.slice(0, end).trim();
    return [first, ...new tokenize.basic.SentenceTokenizer({ minSentenceLength: this.#options.minSentenceLength }).tokenize(clean.slice(end))];
  }

  stream(): FirstClauseSentenceStream {
    return new FirstClauseSentenceStream(this.#options);
  }
}
