// Minimal WAV reader for the PCM16 mono files espeak-ng writes (and that the Deepgram
// stand-in accepts over REST). Kept apart from espeak.ts so the synthesis worker can use it.
import { bufferToPcm } from './pcm.js';

/**
 * Parse a mono PCM16 WAV. espeak's `--stdout` writes a streaming header whose RIFF/data
 * sizes are placeholders (0x7ffff...), so the chunk walk trusts sizes only for chunks
 * before `data` and takes everything after the data header as samples when the size
 * does not fit.
 */
export function parseStreamingWav(wav: Uint8Array): { pcm: Int16Array; sampleRate: number } {
  const buf = Buffer.from(wav.buffer, wav.byteOffset, wav.byteLength);
  if (buf.length < 12 || buf.toString('ascii', 0, 4) !== 'RIFF' || buf.toString('ascii', 8, 12) !== 'WAVE') {
    throw new Error('not a RIFF/WAVE stream');
  }
  let pos = 12;
  let sampleRate = 0;
  while (pos + 8 <= buf.length) {
    const id = buf.toString('ascii', pos, pos + 4);
    const size = buf.readUInt32LE(pos + 4);
    const body = pos + 8;
    if (id === 'fmt ') {
      const format = buf.readUInt16LE(body);
      const channels = buf.readUInt16LE(body + 2);
      sampleRate = buf.readUInt32LE(body + 4);
      const bits = buf.readUInt16LE(body + 14);
      if (format !== 1 || bits !== 16 || channels !== 1) {
        throw new Error(`unsupported WAV format ${format}, ${bits} bit, ${channels} channel(s)`);
      }
    } else if (id === 'data') {
      if (!sampleRate) throw new Error('WAV data before fmt chunk');
      const end = size > 0 && body + size <= buf.length ? body + size : buf.length;
      return { pcm: bufferToPcm(buf.subarray(body, end)), sampleRate };
    }
    pos = body + size + (size & 1);
  }
  throw new Error('WAV has no data chunk');
}
