// What a call's session needs around it when there is no LiveKit room, shared by the voice-call harness and the job
// process of `npm run bench:scale`: the caller's microphone, the loudspeaker (wrapped in the framework's
// TranscriptionSynchronizer as RoomIO wraps it), and the provider environment pointing at local stand-ins.
// Deliberately light: no espeak, no stand-ins, so a benchmark job process loads only what a worker's job loads.
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { voice } from '@livekit/agents';
import { CallerAudioInput, RecordingAudioOutput } from './audio-io.js';
import type { CallRecorder } from './recorder.js';

/** Keys the OpenAI and Letta stand-ins accept (a worker in a child process needs them in its environment). */
export const OPENAI_KEY = 'sk-local-harness';
export const LETTA_KEY = 'letta-local-harness';

/** Where the four provider stand-ins listen. */
export interface ProviderEndpoints {
  openai: { baseURL: string };
  letta: { baseURL: string };
  deepgram: { url: string };
  cartesia: { url: string };
}

/**
 * The worker's environment with every provider at the local stand-ins. 'letta' streams replies from Letta
 * (USE_HYBRID_STREAMING=false); anything else is the hybrid default.
 */
export function providerEnv(p: ProviderEndpoints, variant: string, dataDir: string, extraEnv: Record<string, string> = {}): Record<string, string> {
  return {
    OPENAI_BASE_URL: p.openai.baseURL,
    OPENAI_API_KEY: OPENAI_KEY,
    DEEPGRAM_API_KEY: 'dg-local-harness',
    DEEPGRAM_BASE_URL: p.deepgram.url,
    CARTESIA_API_KEY: 'cartesia-local-harness',
    CARTESIA_BASE_URL: p.cartesia.url,
    LETTA_BASE_URL: p.letta.baseURL,
    LETTA_API_KEY: LETTA_KEY,
    USE_HYBRID_STREAMING: variant === 'letta' ? 'false' : 'true',
    MEMORY_DATA_DIR: dataDir,
    // The harness seeds one agent for every call (the measured caller is always the same person).
    LETTA_MEMORY_SCOPE: 'shared',
    // A harness call must not sit out the production drain deadline when Letta is slow or down.
    MEMORY_DRAIN_DEADLINE_MS: '1000',
    LOG_LEVEL: 'error',
    ...extraEnv,
  };
}

export interface CallAudio {
  readonly input: CallerAudioInput;
  readonly output: RecordingAudioOutput;
  close(): Promise<void>;
}

export interface CallAudioOptions {
  /** Rate of the loudspeaker (the session's output; RoomIO's default 24000). */
  sampleRate: number;
  /** Rate of the microphone frames delivered to the session. Default: `sampleRate`. */
  inputSampleRate?: number;
  recorder?: CallRecorder;
  /**
   * Wrap the loudspeaker in the framework's TranscriptionSynchronizer, as RoomIO does by default
   * (syncTranscription: true). Without it an interrupted reply is recorded with all the text generated so far
   * instead of the text actually played. Default true.
   */
  syncTranscription?: boolean;
}

/** Attaches a simulated caller and loudspeaker to a session (before `session.start`). */
export async function attachCallAudio(session: voice.AgentSession, options: CallAudioOptions): Promise<CallAudio> {
  const input = new CallerAudioInput({ sampleRate: options.inputSampleRate ?? options.sampleRate, recorder: options.recorder });
  const output = new RecordingAudioOutput({ sampleRate: options.sampleRate, recorder: options.recorder });
  session.input.audio = input;
  const sync = options.syncTranscription === false ? undefined : new (await transcriptionSynchronizer())(output, new AgentTextOutput());
  session.output.audio = sync?.audioOutput ?? output;
  if (sync) session.output.transcription = sync.textOutput;
  return {
    input,
    output,
    async close() {
      await sync?.close().catch(() => undefined);
      output.close();
      await input.close().catch(() => undefined);
    },
  };
}

/** The next-in-chain text sink of the synchronizer (RoomIO's would publish to the room); records nothing. */
class AgentTextOutput {
  async captureText(): Promise<void> {}
  flush(): void {}
  onAttached(): void {}
  onDetached(): void {}
}

interface Synchronizer {
  readonly audioOutput: voice.AudioOutput;
  readonly textOutput: NonNullable<voice.AgentSession['output']['transcription']>;
  close(): Promise<void>;
}
type SynchronizerClass = new (audio: voice.AudioOutput, text: AgentTextOutput) => Synchronizer;
let synchronizerClass: Promise<SynchronizerClass> | undefined;

/**
 * @livekit/agents 1.8.1 does not export TranscriptionSynchronizer (RoomIO builds it internally) and its exports
 * map hides the file, so load the very module RoomIO uses by its path. Pinned version: revisit on upgrade.
 */
function transcriptionSynchronizer(): Promise<SynchronizerClass> {
  synchronizerClass ??= (async () => {
    const entry = createRequire(import.meta.url).resolve('@livekit/agents'); // .../dist/index.cjs
    const file = path.join(path.dirname(entry), 'voice', 'transcription', 'synchronizer.js');
    const mod = (await import(pathToFileURL(file).href)) as { TranscriptionSynchronizer: SynchronizerClass };
    return mod.TranscriptionSynchronizer;
  })();
  return synchronizerClass;
}
