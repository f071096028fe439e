// The local Cartesia stand-in, and the TTS a test points at it, closed after every test (or by `close()` when a test
// speaks twice, e.g. to compare two settings).
import type { tts } from '@livekit/agents';
import { afterEach } from 'vitest';
import { CartesiaServer, type CartesiaServerOptions } from '../../simulation/stand-ins/cartesia-server.js';

export interface CartesiaPerTest {
  /** Closes what an earlier call started, then starts a fresh stand-in. */
  start(options?: CartesiaServerOptions): Promise<CartesiaServer>;
  /** Registers the TTS to close with the stand-in; returns it. */
  use<T extends tts.TTS>(instance: T): T;
  close(): Promise<void>;
}

export function cartesiaPerTest(): CartesiaPerTest {
  let server: CartesiaServer | undefined;
  let instance: tts.TTS | undefined;
  const close = async () => {
    await instance?.close();
    instance = undefined;
    await server?.close();
    server = undefined;
  };
  afterEach(close);
  return {
    async start(options) {
      await close();
      server = await CartesiaServer.start(options);
      return server;
    },
    use(created) {
      instance = created;
      return created;
    },
    close,
  };
}
