import { describe, expect, it } from 'vitest';
import { FirstClauseSentenceStream, FirstClauseSentenceTokenizer, firstClauseEnd } from '../../src/tts/first-clause-tokenizer.js';

/** LLM-like pieces: each word keeps its leading whitespace (as the OpenAI stand-in and BPE tokens do). */
function tokens(text: string): string[] {
  return text.match(/\s*\S+/g) ?? [];
}

/** Pushes tokens one by one; returns each emitted piece with the number of tokens pushed when it came out. */
async function feed(stream: FirstClauseSentenceStream, pieces: string[], end = true): Promise<Array<{ text: string; after: number }>> {
  const out: Array<{ text: string; after: number }> = [];
  let pushed = 0;
  const reader = (async () => {
    for await (const ev of stream) out.push({ text: ev.token, after: pushed });
  })();
  for (const piece of pieces) {
    stream.pushText(piece);
    pushed += 1;
    await new Promise((resolve) => setImmediate(resolve)); // let the reader see what was emitted so far
  }
  pushed += 1; // "after" = pieces.length + 1 means: only at the end of input
  if (end) stream.endInput();
  else stream.close();
  await reader;
  return out;
}

describe('firstClauseEnd', () => {
  it('ends the first piece at a clause mark as soon as the word carrying it arrives', () => {
    expect(firstClauseEnd('Sure thing,')).toBe('Sure thing,'.length);
    expect(firstClauseEnd('Sure thing, happy')).toBe('Sure thing,'.length);
    expect(firstClauseEnd('Well then; go')).toBe('Well then;'.length);
    expect(firstClauseEnd('Of course.')).toBe('Of course.'.length);
  });

  it('waits for a word that may still grow and for enough words', () => {
    expect(firstClauseEnd('Sure thing')).toBeUndefined();
    expect(firstClauseEnd('Sure,')).toBeUndefined(); // one word is too short to carry the start of a reply
    expect(firstClauseEnd('')).toBeUndefined();
  });

  it('does not split numbers or abbreviations', () => {
    expect(firstClauseEnd('It costs 1,')).toBeUndefined(); // may become 1,000
    expect(firstClauseEnd('It costs 3.')).toBeUndefined(); // may become 3.5
    expect(firstClauseEnd('It costs 3. ')).toBe('It costs 3.'.length);
    expect(firstClauseEnd('Ask Dr. Smith about it, please')).toBe('Ask Dr. Smith about it,'.length);
    expect(firstClauseEnd('See the U.S. map today, ok')).toBe('See the U.S. map today,'.length);
  });

  it('ends after a few complete words when no clause mark comes', () => {
    expect(firstClauseEnd('one two three four five six')).toBeUndefined(); // "six" may still grow
    expect(firstClauseEnd('one two three four five six seven')).toBe('one two three four five six'.length);
    expect(firstClauseEnd('one two three', { minWords: 2, maxWords: 2 })).toBe('one two'.length);
  });
});

describe('FirstClauseSentenceStream', () => {
  it('emits the first clause on the token that completes it, then whole sentences', async () => {
    const reply = 'Sure thing, happy to help. Here is what I found.';
    const out = await feed(new FirstClauseSentenceStream(), tokens(reply));
    expect(out.map((o) => o.text)).toEqual(['Sure thing,', 'happy to help.', 'Here is what I found.']);
    expect(out[0]!.after).toBe(2); // "Sure", " thing,"
    expect(out[1]!.after).toBe(6); // the sentence goes once the next one has started (" Here"), like the plugin's tokenizer
    expect(out[2]!.after).toBe(tokens(reply).length + 1); // the last sentence at the end of input
  });

  it('loses and reorders no words', async () => {
    const replies = [
      'Hello there! How are you today? I am fine.',
      'It is 3.5 degrees, so bring a coat; Dr. Smith said so.',
      'one two three four five six seven eight nine ten eleven',
      'A',
      '  spaced   out\ttext, with\nnewlines.  ',
    ];
    for (const reply of replies) {
      const out = await feed(new FirstClauseSentenceStream(), tokens(reply));
      expect(out.map((o) => o.text).join(' ')).toBe(reply.replace(/\s+/g, ' ').trim());
    }
  });

  it('starts each flushed segment with an early first clause again', async () => {
    const stream = new FirstClauseSentenceStream();
    const seen: string[] = [];
    const reader = (async () => {
      for await (const ev of stream) seen.push(ev.token);
    })();
    for (const t of tokens('Sure thing, one moment please')) stream.pushText(t);
    stream.flush();
    for (const t of tokens('Okay then, here it is')) stream.pushText(t);
    stream.endInput();
    await reader;
    expect(seen).toEqual(['Sure thing,', 'one moment please', 'Okay then,', 'here it is']);
  });

  it('refuses text after it was closed', () => {
    const stream = new FirstClauseSentenceStream();
    stream.close();
    expect(() => stream.pushText('late')).toThrow(/closed/);
  });
});

describe('FirstClauseSentenceTokenizer.tokenize', () => {
  it('splits a whole text the same way the stream does', () => {
    expect(new FirstClauseSentenceTokenizer().tokenize('Sure thing, happy to help. Here is what I found.')).toEqual([
      'Sure thing,',
      'happy to help.',
      'Here is what I found.',
    ]);
  });
});
