// Cut PCM into LiveKit AudioFrames, the unit every agents pipeline stage consumes.
import { AudioFrame } from '@livekit/rtc-node';

/** Split mono PCM16 into `frameMs` frames; the last one is zero-padded to full length. */
export function pcmToFrames(pcm: Int16Array, sampleRate: number, frameMs = 10): AudioFrame[] {
  const per = Math.round((sampleRate * frameMs) / 1000);
  const frames: AudioFrame[] = [];
  for (let at = 0; at < pcm.length; at += per) {
    const data = new Int16Array(per);
    data.set(pcm.subarray(at, Math.min(pcm.length, at + per)));
    frames.push(new AudioFrame(data, sampleRate, 1, per));
  }
  return frames;
}

/** `ms` of digital silence as frames. */
export function silenceFrames(ms: number, sampleRate: number, frameMs = 10): AudioFrame[] {
  return pcmToFrames(new Int16Array(Math.round((sampleRate * ms) / 1000)), sampleRate, frameMs);
}
