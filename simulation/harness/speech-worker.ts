// Worker thread that turns text into speech PCM: espeak-ng (WebAssembly) renders it,
// then it is resampled, band-limited, to the requested rate. Both steps are synchronous
// and take tens of milliseconds, which would stall the real-time audio the harness plays
// if they ran on the main thread. Requests are handled one at a time, in order.
// Started by speech-synthesizer.ts through speech-worker-entry.mjs.
import { parentPort } from 'node:worker_threads';
import { EspeakWasm } from './espeak-wasm.js';
import { resampleBandLimited } from './resample.js';
import { parseStreamingWav } from './wav.js';

export interface SpeechRequest {
  id: number;
  text: string;
  voice: string;
  wordsPerMinute: number;
  sampleRate: number;
}

export type SpeechReply = { id: number; pcm: Int16Array } | { id: number; error: string };

const port = parentPort;
if (!port) throw new Error('speech-worker.ts must run in a worker thread');

const engine = EspeakWasm.load();
let queue: Promise<void> = Promise.resolve();

// The first runs of the wasm and of the resampler are several times slower than later
// ones (V8 compiles the hot code as it goes). Do them now, so the first synthesis a test
// or a stand-in asks for costs what the rest do.
queue = queue.then(async () => {
  await handle({ id: 0, text: 'Warming up.', voice: 'en-us', wordsPerMinute: 175, sampleRate: 24_000 });
});

async function handle(req: SpeechRequest): Promise<SpeechReply> {
  try {
    const wav = (await engine).render(req.text, req.voice, req.wordsPerMinute);
    const parsed = parseStreamingWav(wav);
    const pcm = resampleBandLimited(parsed.pcm, parsed.sampleRate, req.sampleRate);
    return { id: req.id, pcm };
  } catch (e) {
    return { id: req.id, error: e instanceof Error ? e.message : String(e) };
  }
}

port.on('message', (req: SpeechRequest) => {
  queue = queue.then(async () => {
    const reply = await handle(req);
    try {
      if ('pcm' in reply) port.postMessage(reply, [reply.pcm.buffer as ArrayBuffer]);
      else port.postMessage(reply);
    } catch (e) {
      port.postMessage({ id: req.id, error: `could not return the audio: ${e instanceof Error ? e.message : String(e)}` });
    }
  });
});
