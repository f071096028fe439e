// eSpeak-NG compiled to WebAssembly (the `espeak-ng` npm package): the real espeak-ng
// program, run in memory. Synchronous and CPU-bound (an instance takes ~150 ms to start,
// a sentence ~50 ms to render), so only speech-worker.ts uses it, off the event loop.
//
// The package is the CLI built with Emscripten: each instance runs `main` with argv and
// an in-memory file system. `main` keeps global state, so every synthesis gets a fresh
// instance of the once-compiled module; the next one is prepared right after, while idle.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import ESpeakNg, { type ESpeakNgModule } from 'espeak-ng';

/** Voice names are plain identifiers ("en-us", "de", "en+f3"): nothing argv could read as an option. */
const VOICE_NAME = /^[a-z][a-z0-9_+-]*$/i;
/** espeak-ng's own bounds for `-s` (words per minute). */
const MIN_WPM = 80;
const MAX_WPM = 450;
const TEXT_PATH = '/input.txt';
const WAV_PATH = '/output.wav';

interface Instance {
  module: ESpeakNgModule;
  malloc(size: number): number;
  stderr: string[];
}

/** espeak-ng's `exit()` and the end of `main` throw this (Emscripten's ExitStatus) through our `quit`. */
class ProgramExit {
  constructor(readonly status: number) {}
}

export class EspeakWasm {
  readonly #compiled: WebAssembly.Module;
  #spare: Promise<Instance>;

  private constructor(compiled: WebAssembly.Module) {
    this.#compiled = compiled;
    this.#spare = this.#prepareSpare();
  }

  static async load(): Promise<EspeakWasm> {
    // The wasm (program + embedded espeak-ng-data) sits next to the package's main file.
    const main = createRequire(import.meta.url).resolve('espeak-ng');
    const bytes = await readFile(new URL('espeak-ng.wasm', `file://${main}`));
    return new EspeakWasm(await WebAssembly.compile(bytes));
  }

  /**
   * Render `text` to a WAV file (mono PCM16, 22050 Hz). The text is written to a file and
   * passed with `-f`, so no part of it is ever parsed as a command-line option.
   */
  async render(text: string, voice: string, wordsPerMinute: number): Promise<Uint8Array> {
    if (!VOICE_NAME.test(voice)) throw new Error(`invalid espeak-ng voice name ${JSON.stringify(voice)}`);
    if (!Number.isInteger(wordsPerMinute) || wordsPerMinute < MIN_WPM || wordsPerMinute > MAX_WPM) {
      throw new Error(`wordsPerMinute must be an integer in [${MIN_WPM}, ${MAX_WPM}], got ${wordsPerMinute}`);
    }
    const instance = await this.#spare;
    this.#spare = this.#prepareSpare();
    instance.module.FS.writeFile(TEXT_PATH, text);
    // -b 1: the input file is UTF-8.
    const status = runMain(instance, ['-b', '1', '-v', voice, '-s', String(wordsPerMinute), '-w', WAV_PATH, '-f', TEXT_PATH]);
    if (status !== 0) {
      throw new Error(`espeak-ng (wasm) exited with ${status}: ${instance.stderr.join('\n').trim() || 'no message'}`);
    }
    return instance.module.FS.readFile(WAV_PATH);
  }

  /** Start the next instance now; a failure surfaces in the render() that awaits it. */
  #prepareSpare(): Promise<Instance> {
    const spare = this.#instantiate();
    spare.catch(() => {});
    return spare;
  }

  async #instantiate(): Promise<Instance> {
    let malloc: ((size: number) => number) | undefined;
    const stderr: string[] = [];
    const module = await ESpeakNg({
      noInitialRun: true,
      print: () => {},
      // Emscripten adds its own "program exited (with status: N) ..." note on exit(); the status says that already.
      printErr: (line) => {
        if (!line.startsWith('program exited')) stderr.push(line);
      },
      quit: (status) => {
        throw new ProgramExit(status);
      },
      instantiateWasm: (imports, receiveInstance) => {
        void WebAssembly.instantiate(this.#compiled, imports).then((instance) => {
          malloc = instance.exports.malloc as (size: number) => number;
          receiveInstance(instance, this.#compiled);
        });
        return {}; // exports arrive through receiveInstance
      },
    });
    if (!malloc) throw new Error('espeak-ng wasm instance has no malloc export');
    return { module, malloc, stderr };
  }
}

/** Call the program's `main` with `args` as argv[1..]; returns its exit status. */
function runMain(instance: Instance, args: readonly string[]): number {
  const argv = ['espeak-ng', ...args];
  const encoder = new TextEncoder();
  const argvPtr = instance.malloc(4 * (argv.length + 1));
  // HEAPU8 is re-read after each malloc: the memory is fixed-size in this build, but the
  // view must belong to the current buffer all the same.
  const pointers = argv.map((arg) => {
    const bytes = encoder.encode(`${arg}\0`);
    const ptr = instance.malloc(bytes.length);
    instance.module.HEAPU8.set(bytes, ptr);
    return ptr;
  });
  const table = new DataView(instance.module.HEAPU8.buffer);
  pointers.forEach((ptr, i) => table.setUint32(argvPtr + 4 * i, ptr, true));
  table.setUint32(argvPtr + 4 * argv.length, 0, true);
  try {
    return instance.module._main(argv.length, argvPtr);
  } catch (e) {
    if (e instanceof ProgramExit) return e.status;
    throw e;
  }
}
