// Worker threads do not inherit the TypeScript loader of the thread that starts them
// (vitest transforms modules itself; tsx registers hooks per thread), so the worker
// entry is plain JavaScript that loads speech-worker.ts through tsx's scoped loader.
import { tsImport } from 'tsx/esm/api';

await tsImport('./speech-worker.ts', import.meta.url);
