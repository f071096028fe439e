import * as cartesia from '@livekit/agents-plugin-cartesia';
import * as deepgram from '@livekit/agents-plugin-deepgram';
import * as openai from '@livekit/agents-plugin-openai';
import { voice, type tts, type VAD } from '@livekit/agents';
import type OpenAI from 'openai';
import { secretsOf, type Config, type TtsConfig } from './config.js';
import { redactingLogger } from './logging.js';
import { withFirstClauseFlush } from './tts/first-clause-tts.js';
import { ResilientTTS } from './tts/resilient-tts.js';

/**
 * Speech to text: Deepgram streaming, pointed wherever DEEPGRAM_BASE_URL says. Audio goes out in small chunks: the
 * end of an utterance reaches Deepgram only when its chunk is full (docs/framework-patches.md).
 */
export function createStt(config: Config): deepgram.STT {
  const { apiKey, baseUrl, model, audioChunkMs } = config.deepgram;
  return new deepgram.STT({ apiKey, model, audioChunkMs, ...(baseUrl ? { baseUrl } : {}) });
}

/**
 * Text to speech: Cartesia when it has a key, otherwise OpenAI's TTS. A reply the provider fails on is retried once,
 * then spoken by OpenAI's TTS when that is configured as the fallback (src/tts/resilient-tts.ts).
 */
export function createTts(config: Config): tts.TTS {
  return new ResilientTTS({
    primary: createProviderTts(config.tts),
    ...(config.ttsFallback ? { secondary: createProviderTts(config.ttsFallback) } : {}),
    logger: redactingLogger(secretsOf(config)),
  });
}

function createProviderTts(settings: TtsConfig): tts.TTS {
  if (settings.provider === 'cartesia') {
    return new cartesia.TTS({
      apiKey: settings.apiKey,
      model: settings.model,
      ...(settings.voice ? { voice: settings.voice } : {}),
      ...(settings.baseUrl ? { baseUrl: settings.baseUrl } : {}),
      progressiveFrames: settings.progressiveFrames,
    });
  }
  return new openai.TTS({ apiKey: settings.apiKey, baseURL: settings.baseURL, model: settings.model, voice: settings.voice as openai.TTSVoices });
}

/**
 * The framework only runs the LLM stage (and preemptive generation) when the session has an LLM; this one shares
 * the fast path's client and endpoint, but LettaVoiceAgent.llmNode produces every reply.
 */
export function createFrameworkLlm(config: Config, client: OpenAI): openai.LLM {
  return new openai.LLM({ model: config.openai.model, client });
}

/** The voice pipeline of one call, as the worker runs it; the harness and benchmarks build it the same way. */
export function createAgentSession(config: Config, chatClient: OpenAI, vad: VAD): voice.AgentSession {
  return new voice.AgentSession({
    vad, // voice activity detection, loaded once per process
    stt: createStt(config), // speech to text: Deepgram streaming
    llm: createFrameworkLlm(config, chatClient), // enables the LLM stage; replies come from LettaVoiceAgent.llmNode
    // Text to speech: Cartesia, or OpenAI without a Cartesia key; the first clause of a reply goes out early.
    tts: config.ttsFirstClause ? withFirstClauseFlush(createTts(config)) : createTts(config),
    turnHandling: {
      turnDetection: config.turnDetection,
      endpointing: { minDelay: config.endpointingMinDelayMs },
      // VAD decides barge-in. The framework's default in dev mode is adaptive interruption, which sends caller audio
      // to LiveKit Cloud's inference gateway (agent-gateway.livekit.cloud) with our LiveKit key, whatever LIVEKIT_URL says.
      interruption: { mode: 'vad' },
      // Start the reply on the interim transcript. Hybrid only: a Letta turn cannot be taken back once sent (Letta
      // stores the partial utterance and keeps running after the stream is cancelled).
      preemptiveGeneration: { enabled: config.preemptiveGeneration && config.hybridStreaming, preemptiveTts: config.preemptiveTts },
    },
  });
}
