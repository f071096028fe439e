// eSpeak-NG compiled to WebAssembly (the `espeak-ng` npm package): the real espeak-ng
// program, run in memory. Synchronous and CPU-bound (~150 ms to start, tens of ms per
// sentence), so only speech-worker.ts uses it, off the event loop.
//
// The package is the CLI built with Emscripten: one instance runs `main(argc, argv)` over
// an in-memory file system. `main` is not re-runnable as is (getopt's `optind`, static
// option state and the heap persist), so the instance's linear memory is snapshotted once
// after start-up and restored before every run: each synthesis starts from the state of a
// freshly started program, without the cost of a new instance.
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

interface WasmExports {
  malloc(size: number): number;
  stackSave(): number;
  stackRestore(pointer: number): void;
}

/** espeak-ng's `exit()` throws this (Emscripten's ExitStatus) through our `quit`. */
class ProgramExit {
  constructor(readonly status: number) {}
}

export class EspeakWasm {
  readonly #module: ESpeakNgModule;
  readonly #exports: WasmExports;
  readonly #stderr: string[];
  /** Linear memory and stack pointer of the started, not yet run, program. */
  readonly #pristineMemory: Uint8Array;
  readonly #pristineStack: number;

  private constructor(module: ESpeakNgModule, exports: WasmExports, stderr: string[]) {
    this.#module = module;
    this.#exports = exports;
    this.#stderr = stderr;
    this.#pristineMemory = module.HEAPU8.slice();
    this.#pristineStack = exports.stackSave();
  }

  static async load(): Promise<EspeakWasm> {
    // The wasm (program + embedded espeak-ng-data) sits next to the package's main file.
    const main = createRequire(import.meta.url).resolve('espeak-ng');
    const compiled = await WebAssembly.compile(await readFile(new URL('espeak-ng.wasm', `file://${main}`)));
    let exports: WasmExports | undefined;
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
        void WebAssembly.instantiate(compiled, imports).then((instance) => {
          exports = instance.exports as unknown as WasmExports;
          receiveInstance(instance, compiled);
        });
        return {}; // exports arrive through receiveInstance
      },
    });
    if (!exports) throw new Error('espeak-ng wasm instance did not start');
    return new EspeakWasm(module, exports, stderr);
  }

  /**
   * Render `text` to a WAV file (mono PCM16, 22050 Hz). The text is written to a file and
   * passed with `-f`, so no part of it is ever parsed as a command-line option.
   */
  render(text: string, voice: string, wordsPerMinute: number): Uint8Array {
    if (!VOICE_NAME.test(voice)) throw new Error(`invalid espeak-ng voice name ${JSON.stringify(voice)}`);
    if (!Number.isInteger(wordsPerMinute) || wordsPerMinute < MIN_WPM || wordsPerMinute > MAX_WPM) {
      throw new Error(`wordsPerMinute must be an integer in [${MIN_WPM}, ${MAX_WPM}], got ${wordsPerMinute}`);
    }
    this.#module.HEAPU8.set(this.#pristineMemory);
    this.#exports.stackRestore(this.#pristineStack);
    this.#stderr.length = 0;
    const fs = this.#module.FS;
    fs.writeFile(TEXT_PATH, text);
    try {
      // -b 1: the input file is UTF-8.
      const status = this.#runMain(['-b', '1', '-v', voice, '-s', String(wordsPerMinute), '-w', WAV_PATH, '-f', TEXT_PATH]);
      if (status !== 0) {
        throw new Error(`espeak-ng (wasm) exited with ${status}: ${this.#stderr.join('\n').trim() || 'no message'}`);
      }
      return fs.readFile(WAV_PATH);
    } finally {
      for (const path of [TEXT_PATH, WAV_PATH]) {
        try {
          fs.unlink(path);
        } catch {
          // not written (the run failed before opening it)
        }
      }
    }
  }

  /** Call the program's `main` with `args` as argv[1..]; returns its exit status. */
  #runMain(args: readonly string[]): number {
    const argv = ['espeak-ng', ...args];
    const encoder = new TextEncoder();
    const heap = this.#module.HEAPU8; // fixed-size memory in this build: the view stays valid
    const argvPtr = this.#exports.malloc(4 * (argv.length + 1));
    const table = new DataView(heap.buffer);
    argv.forEach((arg, i) => {
      const bytes = encoder.encode(`${arg}\0`);
      const ptr = this.#exports.malloc(bytes.length);
      heap.set(bytes, ptr);
      table.setUint32(argvPtr + 4 * i, ptr, true);
    });
    table.setUint32(argvPtr + 4 * argv.length, 0, true);
    try {
      return this.#module._main(argv.length, argvPtr);
    } catch (e) {
      if (e instanceof ProgramExit) return e.status;
      throw e;
    }
  }
}
