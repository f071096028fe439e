/**
 * npm run bench:prompt-size [-- --prefill 30] [--ttft 250] [--turns 8] [--reps 5] [--json]
 *
 * What memory in the prompt costs. Builds the fast path's real prompt (buildChatMessages: instructions, core memory,
 * recall sections, the conversation so far) for three memory sizes over a growing call, and measures time to first
 * token against the OpenAI stand-in, whose time to first token is `--ttft` ms plus `--prefill` ms per 1,000 prompt
 * tokens (prefillMsPerKTokens in simulation/stand-ins/openai-server.ts). Token counts: the stand-in's count (one per
 * word) and characters / 4 (OpenAI's rule of thumb for English); neither is a real tokenizer.
 */
import { parseArgs } from 'node:util';
import { llm } from '@livekit/agents';
import { DEFAULT_INSTRUCTIONS } from '../src/agent.js';
import { RECENT_CONVERSATION_LABEL } from '../src/callers/recent-conversation.js';
import { ARCHIVAL_RECALL_LABEL } from '../src/callers/archival-recall.js';
import { buildChatMessages, createChatClient, streamChatReply } from '../src/fast-path/openai-chat.js';
import type { MemoryBlock } from '../src/letta/memory-blocks.js';
import { startOpenAIServer, tokenize } from '../simulation/stand-ins/openai-server.js';

const { values } = parseArgs({
  options: {
    prefill: { type: 'string', default: '30' },
    ttft: { type: 'string', default: '250' },
    turns: { type: 'string', default: '8' },
    reps: { type: 'string', default: '5' },
    json: { type: 'boolean', default: false },
  },
});
const prefillMsPerKTokens = Number(values.prefill);
const ttftMs = Number(values.ttft);
const turns = Number(values.turns);
const reps = Number(values.reps);

/** Text of about `chars` characters made of plausible remembered facts. */
function facts(subject: string, chars: number): string {
  const lines: string[] = [];
  for (let i = 0; lines.join('\n').length < chars; i++) {
    lines.push(`${subject} fact ${i + 1}: prefers concise answers about sailing, gardening and the weekly plan; mentioned item ${i + 1} last time.`);
  }
  return lines.join('\n').slice(0, chars);
}

const CORE: MemoryBlock[] = [
  { label: 'persona', value: facts('Persona', 2_048) },
  { label: 'human', value: facts('Caller', 4_096) },
];
const RECALL: MemoryBlock[] = [
  {
    label: RECENT_CONVERSATION_LABEL,
    value: `The end of your previous conversation with this caller (earlier calls):\n${Array.from({ length: 10 }, (_, i) =>
      i % 2 === 0 ? `Caller: I told you about the regatta on day ${i}, remember?` : `You: Yes, the regatta on day ${i - 1}; how did it go?`,
    ).join('\n')}`,
  },
  { label: ARCHIVAL_RECALL_LABEL, value: `Possibly relevant things you stored about this caller earlier:\n${[1, 2, 3].map((i) => `- Snippet ${i}: ${facts('Archive', 200)}`).join('\n')}` },
];
const VARIANTS: Array<[string, MemoryBlock[]]> = [
  ['no memory', []],
  ['core 2 + 4 KB', CORE],
  ['core + recall', [...CORE, ...RECALL]],
];

function conversation(turn: number): llm.ChatContext {
  const ctx = llm.ChatContext.empty();
  ctx.addMessage({ role: 'system', content: DEFAULT_INSTRUCTIONS });
  for (let t = 1; t < turn; t++) {
    ctx.addMessage({ role: 'user', content: `This is what I said in turn ${t}, a normal spoken sentence of about twenty words or so.` });
    ctx.addMessage({ role: 'assistant', content: `And this is how you answered in turn ${t}: short, friendly, one or two sentences.` });
  }
  ctx.addMessage({ role: 'user', content: `Turn ${turn}: what should I do this weekend?` });
  return ctx;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const server = await startOpenAIServer({ apiKey: null, ttftMs, tokenDelayMs: 0, prefillMsPerKTokens, reply: () => 'Sure.' });
const client = createChatClient({ apiKey: 'unused', baseURL: server.baseURL, model: 'gpt-4o-mini' });
const rows: Array<{ variant: string; turn: number; promptChars: number; standInTokens: number; charTokens: number; ttftP50Ms: number }> = [];
try {
  for (const [variant, blocks] of VARIANTS) {
    for (let turn = 1; turn <= turns; turn++) {
      const messages = buildChatMessages(conversation(turn), blocks);
      const text = messages.map((m) => String(m.content)).join('\n');
      const ttfts: number[] = [];
      for (let r = 0; r < reps; r++) {
        const started = performance.now();
        const stream = streamChatReply(client, 'gpt-4o-mini', messages, new AbortController().signal);
        await stream.next();
        ttfts.push(performance.now() - started);
        for await (const _ of stream);
      }
      rows.push({
        variant,
        turn,
        promptChars: text.length,
        standInTokens: messages.reduce((sum, m) => sum + tokenize(String(m.content)).length + 4, 0),
        charTokens: Math.ceil(text.length / 4),
        ttftP50Ms: Math.round(median(ttfts)),
      });
    }
  }
} finally {
  await server.close();
}

if (values.json) {
  console.log(JSON.stringify({ ttftMs, prefillMsPerKTokens, reps, rows }, null, 2));
} else {
  console.log(`Fast-path prompt size per turn; stand-in TTFT = ${ttftMs} ms + ${prefillMsPerKTokens} ms per 1k prompt tokens; p50 of ${reps}.\n`);
  console.log('| memory | turn | prompt chars | tokens (stand-in) | tokens (chars/4) | TTFT p50 | vs no memory |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const row of rows) {
    const base = rows.find((r) => r.variant === 'no memory' && r.turn === row.turn)!;
    console.log(
      `| ${row.variant} | ${row.turn} | ${row.promptChars} | ${row.standInTokens} | ${row.charTokens} | ${row.ttftP50Ms} ms | ${row.ttftP50Ms - base.ttftP50Ms >= 0 ? '+' : ''}${row.ttftP50Ms - base.ttftP50Ms} ms |`,
    );
  }
}
