// patches/@livekit+agents+1.8.1.patch (applied by `postinstall: patch-package`): the two audio helpers build their
// output in one allocation instead of re-spreading arrays per chunk, and ServerOptions can leave the local
// end-of-turn inference process off, and sharp loads only when an image is encoded. Same results as before; see
// docs/framework-patches.md.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { AudioByteStream, ServerOptions, initializeLogger, llm, mergeFrames } from '@livekit/agents';
import { AudioFrame, VideoBufferType, VideoFrame } from '@livekit/rtc-node';
import { describe, expect, it } from 'vitest';

initializeLogger({ pretty: false, level: 'error' });

function ramp(from: number, n: number): Int16Array {
  return Int16Array.from({ length: n }, (_, i) => (from + i) % 32_000);
}

describe('patched @livekit/agents audio helpers', () => {
  it('mergeFrames concatenates samples in order', () => {
    const frames = [ramp(0, 480), ramp(480, 240), ramp(720, 960)].map((d) => new AudioFrame(d, 24_000, 1, d.length));
    const merged = mergeFrames(frames);
    expect(merged.samplesPerChannel).toBe(1680);
    expect(Array.from(merged.data)).toEqual(Array.from(ramp(0, 1680)));
    expect(() => mergeFrames([])).toThrow(/empty/);
    expect(() => mergeFrames([frames[0]!, new AudioFrame(ramp(0, 10), 16_000, 1, 10)])).toThrow(/sample rate/);
  });

  it('AudioByteStream cuts arbitrary chunks into whole frames without losing or reordering bytes', () => {
    const samples = ramp(0, 24_000); // one second at 24 kHz: ten 100 ms frames
    const bytes = new Uint8Array(samples.buffer);
    const stream = new AudioByteStream(24_000, 1);
    const out: number[] = [];
    // Odd chunk sizes and odd offsets: frames must still be aligned copies.
    for (let at = 0, size = 1; at < bytes.length; at += size, size = (size * 7 + 3) % 5001 || 1) {
      const chunk = bytes.subarray(at, Math.min(bytes.length, at + size));
      for (const frame of stream.write(chunk)) {
        expect(frame.samplesPerChannel).toBe(2400);
        out.push(...frame.data);
      }
    }
    for (const frame of stream.flush()) out.push(...frame.data);
    expect(out).toEqual(Array.from(samples));
  });

  it('importing the framework does not load sharp (image encoding loads it when a video frame is serialized)', async () => {
    const script = `
      await import('@livekit/agents');
      const { createRequire } = await import('node:module');
      const cache = createRequire(import.meta.url).cache;
      console.log(JSON.stringify(Object.keys(cache).some((file) => file.includes('/node_modules/sharp/'))));`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { cwd: process.cwd(), timeout: 60_000 });
    expect(JSON.parse(stdout.trim())).toBe(false);

    const rgba = new Uint8Array(2 * 2 * 4).fill(200);
    const image = llm.createImageContent({ image: new VideoFrame(rgba, 2, 2, VideoBufferType.RGBA) });
    const serialized = await llm.serializeImage(image);
    expect(serialized.mimeType).toBe('image/png');
    expect(Buffer.from(serialized.base64Data!, 'base64').subarray(1, 4).toString()).toBe('PNG');
  });

  it('ServerOptions accepts localEotInference (default true)', () => {
    expect(new ServerOptions({ agent: 'x.js' }).localEotInference).toBe(true);
    expect(new ServerOptions({ agent: 'x.js', localEotInference: false }).localEotInference).toBe(false);
  });
});

describe('patched filter_markdown (the default TTS text transform)', () => {
  /** Feeds chunks one at a time; returns what had come out after each. */
  async function outputs(chunks: string[]): Promise<string[]> {
    const { voice } = await import('@livekit/agents');
    const { ReadableStream } = await import('node:stream/web');
    let push!: (c: string) => void;
    let end!: () => void;
    const input = new ReadableStream<string>({
      start(controller) {
        push = (c) => controller.enqueue(c);
        end = () => controller.close();
      },
    });
    const seen: string[] = [];
    let out = '';
    const reading = (async () => {
      for await (const piece of voice.textTransforms.filterMarkdown(input)) out += piece;
    })();
    for (const c of chunks) {
      push(c);
      await new Promise((resolve) => setTimeout(resolve, 5));
      seen.push(out);
    }
    end();
    await reading;
    seen.push(out);
    return seen;
  }

  it('passes a chunk ending in a clause mark on at once instead of holding the mark for the next chunk', async () => {
    const seen = await outputs(['Sure', ' thing,', ' happy', ' to', ' help.']);
    expect(seen[1]).toBe('Sure thing,');
    expect(seen.at(-1)).toBe('Sure thing, happy to help.');
  });

  it('still strips markdown split across chunks', async () => {
    const seen = await outputs(['This is **very', ' important**.', ' Read [the docs](http://x.y).']);
    expect(seen.at(-1)).toBe('This is very important. Read the docs.');
  });
});
