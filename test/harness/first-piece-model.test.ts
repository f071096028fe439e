// The benchmark's provider-time model: on which LLM token the first TTS piece can leave, through the session's
// text transforms and the TTS's tokenizer (simulation/harness/voice-call-harness.ts, tokensForFirstPiece).
import { initializeLogger, tokenize } from '@livekit/agents';
import { describe, expect, it } from 'vitest';
import { tokensForFirstPiece } from '../../simulation/harness/voice-call-harness.js';
import { FirstClauseSentenceTokenizer } from '../../src/tts/first-clause-tokenizer.js';

initializeLogger({ pretty: false, level: 'error' });
const TOKENS = 'Sure thing, happy to help. Here is what I found.'.match(/\s*\S+/g)!;
const DEFAULT_TRANSFORMS = ['filter_markdown', 'filter_emoji'] as const;

describe('tokensForFirstPiece', () => {
  it("stock Cartesia tokenizer: the start of the next sentence, which the markdown filter holds one more token", async () => {
    const plugin = new tokenize.basic.SentenceTokenizer({ minSentenceLength: 8 });
    expect(await tokensForFirstPiece(plugin, TOKENS)).toBe(6); // " Here"
    expect(await tokensForFirstPiece(plugin, TOKENS, DEFAULT_TRANSFORMS)).toBe(7); // " is"
  });

  it('first-clause tokenizer: the token carrying the comma, released at once by the patched markdown filter', async () => {
    expect(await tokensForFirstPiece(new FirstClauseSentenceTokenizer(), TOKENS, DEFAULT_TRANSFORMS)).toBe(2);
  });

  it('text arriving in one piece is released on that piece', async () => {
    expect(await tokensForFirstPiece(new FirstClauseSentenceTokenizer(), [TOKENS.join('')], DEFAULT_TRANSFORMS)).toBe(1);
  });
});
