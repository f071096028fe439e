// Main-thread side of speech-worker.ts: one worker thread, started on first use, that
// renders and resamples speech. The worker does not keep the process alive while idle.
import { Worker } from 'node:worker_threads';
import type { SpeechReply, SpeechRequest } from './speech-worker.js';

export interface RenderRequest {
  text: string;
  voice: string;
  wordsPerMinute: number;
  sampleRate: number;
}

interface Pending {
  worker: Worker;
  resolve(pcm: Int16Array): void;
  reject(err: Error): void;
}

export class SpeechSynthesizer {
  #worker: Worker | undefined;
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();

  /** Mono PCM16 of `req.text` spoken by espeak-ng at `req.sampleRate`. */
  render(req: RenderRequest): Promise<Int16Array> {
    const worker = this.#ensureWorker();
    const id = this.#nextId++;
    const message: SpeechRequest = { id, ...req };
    return new Promise<Int16Array>((resolve, reject) => {
      this.#pending.set(id, { worker, resolve, reject });
      worker.ref(); // keep the process alive until this render settles
      worker.postMessage(message);
    });
  }

  /** Stop the worker (pending renders fail). The next render starts a new one. */
  async close(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    if (worker) await worker.terminate();
  }

  #ensureWorker(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(new URL('./speech-worker-entry.mjs', import.meta.url));
    worker.unref();
    worker.on('message', (reply: SpeechReply) => this.#settle(reply));
    worker.on('error', (err) => this.#fail(worker, new Error(`speech worker failed: ${err.message}`, { cause: err })));
    worker.on('exit', (code) => this.#fail(worker, new Error(`speech worker exited with code ${code}`)));
    this.#worker = worker;
    return worker;
  }

  #settle(reply: SpeechReply): void {
    const pending = this.#pending.get(reply.id);
    if (!pending) return;
    this.#pending.delete(reply.id);
    if (![...this.#pending.values()].some((p) => p.worker === pending.worker)) pending.worker.unref();
    if ('pcm' in reply) pending.resolve(reply.pcm);
    else pending.reject(new Error(`speech synthesis failed: ${reply.error}`));
  }

  #fail(worker: Worker, err: Error): void {
    if (this.#worker === worker) this.#worker = undefined;
    for (const [id, p] of this.#pending) {
      if (p.worker !== worker) continue;
      this.#pending.delete(id);
      p.reject(err);
    }
  }
}
