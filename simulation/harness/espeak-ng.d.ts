// Types for the parts of the `espeak-ng` npm package (eSpeak-NG's CLI compiled with
// Emscripten, MODULARIZE + EXPORT_ES6; see node_modules/espeak-ng/dist/espeak-ng.js) that
// espeak-wasm.ts uses. The package ships no typings.
declare module 'espeak-ng' {
  export interface EmscriptenFS {
    writeFile(path: string, data: string | Uint8Array): void;
    readFile(path: string): Uint8Array;
    unlink(path: string): void;
  }

  export interface ESpeakNgModule {
    FS: EmscriptenFS;
    HEAPU8: Uint8Array;
    /** The program's `main(argc, argv)` (wasm export `__main_argc_argv`). */
    _main(argc: number, argv: number): number;
  }

  export interface ESpeakNgOptions {
    /** argv[1..] when main runs at start-up (ignored with `noInitialRun`). */
    arguments?: string[];
    noInitialRun?: boolean;
    print?: (line: string) => void;
    printErr?: (line: string) => void;
    /** Replaces Emscripten's node `quit_`, which would set `process.exitCode`. */
    quit?: (status: number, toThrow: unknown) => never;
    instantiateWasm?: (
      imports: WebAssembly.Imports,
      receiveInstance: (instance: WebAssembly.Instance, module: WebAssembly.Module) => void,
    ) => object;
  }

  export default function ESpeakNg(options?: ESpeakNgOptions): Promise<ESpeakNgModule>;
}
