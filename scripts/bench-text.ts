// Text-mode runs (session.run, no audio) for the LLM-path comparisons: many more turns in little time, with all
// variants' sessions open at once and turns interleaved one by one. They measure the reply path only (user text
// in → first reply text out of the LLM node); voice-to-voice numbers come from the audio runs.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { log, voice } from '@livekit/agents';
import { prepareVoiceCall } from '../src/call/voice-call.js';
import { secretsOf } from '../src/config.js';
import { redactingLogger } from '../src/logging.js';
import { createFrameworkLlm } from '../src/pipeline.js';
import { createWorkerServices } from '../src/services.js';
import { BlockingLettaAgent, createStockAgent, createStockLlm } from '../simulation/harness/baselines.js';
import { REALISTIC_LATENCIES, harnessConfig, startProviders } from '../simulation/harness/voice-call-harness.js';
import { BENCH_LINES, BENCH_PROVIDERS, VARIANTS, type VariantName } from './bench-variants.js';

/** Records when each text chunk reaches the session's transcription output (same shape as the framework's). */
class TimedTextOutput {
  firstAt: number | undefined;
  async captureText(): Promise<void> {
    this.firstAt ??= performance.now();
  }
  flush(): void {}
  onAttached(): void {}
  onDetached(): void {}
}

interface TextCall {
  /** One user turn; returns ms from the user's text to the first reply text, and to the reply's end. */
  say(text: string): Promise<{ firstTextMs: number; totalMs: number }>;
  close(): Promise<void>;
}

async function startTextCall(name: VariantName): Promise<TextCall> {
  const options = VARIANTS[name].harness;
  const variant = options.variant ?? 'hybrid';
  const latencies = { ...REALISTIC_LATENCIES, ...options.latencies };
  const providers = await startProviders(latencies, { ...options, ...BENCH_PROVIDERS });
  const dataDir = mkdtempSync(path.join(tmpdir(), 'bench-text-journal-'));
  const config = harnessConfig(providers, variant, dataDir, options.env);
  const services = await createWorkerServices(config, redactingLogger(secretsOf(config), log()));
  const session = new voice.AgentSession({ llm: variant === 'stock-openai' ? createStockLlm(config) : createFrameworkLlm(config, services.chat) });
  let agent: voice.Agent;
  if (variant === 'hybrid' || variant === 'letta') {
    agent = (await prepareVoiceCall(services, session)).agent;
  } else if (variant === 'letta-blocking') {
    await services.memory.refreshAtSessionStart(3_000);
    agent = new BlockingLettaAgent({ client: services.letta, agentId: () => services.memory.agentId });
  } else {
    agent = createStockAgent(config.instructions);
  }
  await session.start({ agent });
  const output = new TimedTextOutput();
  session.output.transcription = output as unknown as typeof session.output.transcription;
  if (options.letta === 'down') await providers.letta.refuse();
  return {
    async say(text) {
      output.firstAt = undefined;
      const started = performance.now();
      await session.run({ userInput: text }).wait();
      const ended = performance.now();
      return { firstTextMs: (output.firstAt ?? Number.NaN) - started, totalMs: ended - started };
    },
    async close() {
      await session.close().catch(() => undefined);
      await services.close().catch(() => undefined);
      await Promise.all([providers.openai.close(), providers.letta.close(), providers.deepgram.close(), providers.cartesia.close()]);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface TextBenchOptions {
  variants: readonly VariantName[];
  turnsPerVariant: number;
  log: (line: string) => void;
}

/** Returns ms from user text to first reply text, per variant. */
export async function runTextBench(options: TextBenchOptions): Promise<Map<VariantName, number[]>> {
  const calls = new Map<VariantName, TextCall>();
  const samples = new Map<VariantName, number[]>();
  try {
    for (const name of options.variants) {
      calls.set(name, await startTextCall(name));
      samples.set(name, []);
    }
    for (let i = 0; i < options.turnsPerVariant; i++) {
      const line = BENCH_LINES[i % BENCH_LINES.length];
      // Alternate the order each turn so neither variant systematically follows the other.
      const order = i % 2 === 0 ? options.variants : [...options.variants].reverse();
      for (const name of order) {
        const { firstTextMs } = await calls.get(name)!.say(line);
        samples.get(name)!.push(firstTextMs);
      }
      if ((i + 1) % 10 === 0) options.log(`  text turn ${i + 1}/${options.turnsPerVariant}`);
    }
  } finally {
    for (const call of calls.values()) await call.close();
  }
  return samples;
}
