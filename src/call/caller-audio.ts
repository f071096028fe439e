/**
 * The rate at which the room hands the caller's audio to the session. Silero VAD and Deepgram (the plugin's
 * default) both take 16 kHz: at RoomIO's default of 24 kHz every frame would be resampled twice more in the job
 * process (once for VAD, once for STT, each through @livekit/rtc-node's resampler on the main thread), after
 * rtc-node has already resampled the 48 kHz WebRTC track in native code. Measured with `npm run bench:scale` on one
 * call: about 15 % less CPU per call, ~5 MiB less RSS and ~40 ms earlier replies (the resamplers hold audio back).
 */
export const CALLER_AUDIO_SAMPLE_RATE = 16_000;
