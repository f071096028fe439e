// `npm run demo [-- --mode letta] [-- --out DIR]`: a four-line simulated phone call through the worker's own
// wiring, offline, with realistic provider latencies injected into local stand-ins. Prints the transcript and a
// per-turn latency table; writes the call (WAV), a latency waterfall (SVG) and the raw timings (JSON).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { formatTable, ms } from '../simulation/harness/metrics.js';
import { REALISTIC_LATENCIES, startVoiceCallHarness, type MeasuredTurn, type VoiceCallHarness } from '../simulation/harness/voice-call-harness.js';
import type { ChatRequestBody } from '../simulation/stand-ins/openai-server.js';
import { renderWaterfallSvg } from './chart.js';
import { runCommand, UsageError } from './cli.js';

/** The caller's lines: the first relies on seeded core memory, the last on what line two taught Letta. */
const SCRIPT = [
  'Hi, it is me again. Do you remember what I do on weekends?',
  'It went well. My sister Maya came sailing with me for the first time.',
  'What should I pack for a cold morning on the water?',
  'Who came sailing with me last weekend?',
];

/**
 * The model behind both stand-ins, answering from MEMORY ONLY (core memory blocks), never from the chat history:
 * if the last answer names Maya, the write-behind reached Letta and came back into the fast path's prompt.
 */
function reply(userText: string, memory: string): string {
  const text = userText.toLowerCase();
  if (text.includes('weekends')) {
    return /sails? a small boat/i.test(memory)
      ? 'Of course I do. You sail your small boat on weekends. How did it go?'
      : 'I am afraid I do not know yet. What do you do on weekends?';
  }
  if (text.includes('sister')) return 'That sounds lovely. I am glad she enjoyed the boat.';
  if (text.includes('pack')) return 'Bring a warm hat and a windproof jacket. Gloves help too.';
  if (text.includes('who came')) {
    const sister = /sister (\w+)/i.exec(memory)?.[1];
    return sister ? `Your sister ${sister} came along. It was her first time on the boat.` : 'I am not sure. You have not told me yet.';
  }
  return 'Got it. Anything else?';
}

/** The fast path puts core memory in the system message; the chat history is in the other messages. */
function memoryInPrompt(req: ChatRequestBody): string {
  return req.messages.flatMap((m) => (m.role === 'system' && typeof m.content === 'string' ? [m.content] : [])).join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { mode: { type: 'string', default: 'hybrid' }, out: { type: 'string', default: 'out/demo' } } });
  const mode = values.mode;
  if (mode !== 'hybrid' && mode !== 'letta') throw new UsageError(`--mode must be hybrid or letta, not "${mode}"`);
  const outDir = path.resolve(values.out);
  mkdirSync(outDir, { recursive: true });

  const l = REALISTIC_LATENCIES;
  console.log(`Simulated call, ${mode === 'hybrid' ? 'hybrid fast path (memory in the prompt, Letta written behind)' : 'full Letta path (Letta streams the reply)'}`);
  console.log(
    `Injected latencies: Deepgram +${l.deepgramMs} ms, OpenAI TTFT ${l.openaiTtftMs} ms + ${l.openaiTokenDelayMs} ms/token, ` +
      `Cartesia TTFB ${l.cartesiaTtfbMs} ms, Letta ${l.lettaStepMs} ms per agent step + ${l.lettaTokenDelayMs} ms/token (~4 s per turn)\n`,
  );

  const harness = await startVoiceCallHarness({
    variant: mode,
    openaiReply: (req) => reply(lastUser(req), memoryInPrompt(req)),
    lettaReply: (agent, userText) => reply(userText, (agent.memory?.blocks ?? agent.blocks ?? []).map((b) => b.value).join('\n')),
    // Letta's agent notes what the caller said (a write-behind message is the whole turn: keep the caller's words).
    lettaMemoryFact: (_agent, text) => `Sam said: ${/^User: (.*)$/m.exec(text)?.[1] ?? text}`,
  });
  try {
    const turns: MeasuredTurn[] = [];
    for (const [i, line] of SCRIPT.entries()) {
      const turn = await harness.say(line);
      turns.push(turn);
      console.log(`  caller: ${line}`);
      console.log(`  agent:  ${turn.timeline.agentText.trim()}   [${ms(turn.breakdown?.voiceToVoiceMs)} ms]`);
      if (i < SCRIPT.length - 1) console.log('');
    }
    await settleMemory(harness);
    report(harness, turns, mode);
    const base = path.join(outDir, `call-${mode}`);
    await harness.writeWav(`${base}.wav`);
    const svg = await renderWaterfallSvg(
      turns.map((t, i) => ({ label: `turn ${i + 1}: ${ms(t.breakdown?.voiceToVoiceMs)} ms`, timeline: t.timeline })),
      `Voice-to-voice latency per turn (${mode})`,
    );
    writeFileSync(`${base}-latency.svg`, svg);
    writeFileSync(`${base}-turns.json`, JSON.stringify(turns.map((t) => ({ timeline: t.timeline, breakdown: t.breakdown })), null, 2));
    console.log(`\nWrote ${path.relative(process.cwd(), `${base}.wav`)} (caller left, agent right)`);
    console.log(`      ${path.relative(process.cwd(), `${base}-latency.svg`)} (per-turn waterfall)`);
    console.log(`      ${path.relative(process.cwd(), `${base}-turns.json`)} (raw timings)`);
  } finally {
    await harness.close();
  }
}

function lastUser(req: ChatRequestBody): string {
  const user = req.messages.filter((m) => m.role === 'user').at(-1);
  return typeof user?.content === 'string' ? user.content : '';
}

/** Lets the write-behind finish (hybrid) so the final memory can be shown. */
async function settleMemory(harness: VoiceCallHarness): Promise<void> {
  if (!harness.call) return;
  await harness.call.recorder.flushed(5_000);
  await Promise.race([harness.services.queue.whenIdle(), new Promise((r) => setTimeout(r, 10_000))]);
}

function report(harness: VoiceCallHarness, turns: MeasuredTurn[], mode: string): void {
  const rows = turns.map((t, i) => {
    const b = t.breakdown;
    return [
      String(i + 1),
      ms(b?.voiceToVoiceMs),
      ms(b?.endOfTurnMs),
      ms(b?.sttFinalMs),
      ms(b?.llmTtftMs),
      ms(b?.firstSentencePacingMs),
      ms(b?.ttsTtfbMs),
      ms(b ? b.ttsFramePacingMs : undefined),
      ms(b?.overheadMs),
      b?.criticalPath ?? '—',
      t.timeline.report?.source ?? (mode === 'letta' ? 'letta' : 'openai'),
    ];
  });
  console.log('\nPer-turn latency (ms; caller stops talking → agent audible):\n');
  console.log(
    formatTable(
      ['turn', 'voice-to-voice', 'end of turn', 'STT final', 'LLM TTFT', '1st sentence', 'TTS TTFB', 'TTS frame', 'overhead', 'gated by', 'source'],
      rows,
    ),
  );
  console.log(
    '\n  end of turn: VAD + endpointing decision; STT final: Deepgram final result; LLM TTFT / TTS TTFB: as the servers saw them;\n' +
      '  1st sentence / TTS frame: provider pacing the stock plugins wait for (tokens for the first sentence, 200 ms of audio);\n' +
      '  overhead = voice-to-voice − max(end of turn, STT + LLM + 1st sentence) − TTS − TTS frame: the worker\'s and framework\'s own time.',
  );
  const human = harness.servers.letta.block(harness.agentId, 'human')?.value ?? '';
  console.log(`\nLetta core memory "human" block after the call:\n  ${human.split('\n').join('\n  ')}`);
  if (mode === 'hybrid') {
    const stats = harness.services.queue.stats();
    console.log(`Memory queue: ${stats.depth} pending, ${stats.retries} retries, ${stats.deadLetters} dead letters, last write ${ms(stats.lastWriteLatencyMs)} ms`);
  }
}

runCommand('demo', main);
