// Injected into the voice room page before its own scripts (playwright addInitScript); never served by the app.
// Plain JavaScript read from disk, so no bundler or test runner rewrites it. `PROBE_CONFIG` is prepended by
// audio-probe.ts.
//
// It measures, on the page's own clock (performance.now()):
//  - when the caller's microphone track carries voice (an AnalyserNode on the track getUserMedia returned);
//  - when the agent's audio arrives (an AnalyserNode on every remote audio track an RTCPeerConnection receives);
//  - the agent state the page shows (#agent-state data-state), each change with its time.
// With PROBE_CONFIG.holdMicrophone, getUserMedia waits until window.__audioProbe.releaseMicrophone() is called:
// the fake microphone's file starts playing when the device opens, so holding it lets the caller hear the greeting
// out before the recording starts.
/* global PROBE_CONFIG */
(() => {
  const config = PROBE_CONFIG;
  const BLOCK = 240; // 5 ms at 48 kHz: the resolution of voiced/silent decisions
  const probe = {
    config,
    /** @type {Array<{id: string, source: 'local' | 'remote', label: string, attachedAt: number, segments: Array<{start: number, end: number, peakRms: number}>}>} */
    tracks: [],
    /** @type {Array<{state: string, at: number}>} */
    states: [],
    micRequestedAt: null,
    micOpenedAt: null,
    micReleasedAt: null,
    errors: [],
    releaseMicrophone: () => {},
    inboundAudioStats: async () => [],
  };
  window.__audioProbe = probe;

  let context = null;
  const audioContext = () => {
    if (!context) context = new AudioContext({ latencyHint: 'interactive' });
    if (context.state === 'suspended') void context.resume();
    return context;
  };

  function watch(source, track) {
    if (probe.tracks.some((t) => t.id === track.id && t.source === source)) return;
    const record = { id: track.id, source, label: track.label, attachedAt: performance.now(), segments: [] };
    probe.tracks.push(record);
    const ctx = audioContext();
    const input = ctx.createMediaStreamSource(new MediaStream([track]));
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 2048; // ~43 ms: longer than any gap between polls, so no audio goes unseen
    const sink = ctx.createGain();
    sink.gain.value = 0; // keeps the graph pulled without playing anything twice
    input.connect(analyser);
    analyser.connect(sink);
    sink.connect(ctx.destination);
    const samples = new Float32Array(analyser.fftSize);
    let seenUntil = performance.now();
    let open = null; // the segment being extended
    const poll = () => {
      const now = performance.now();
      analyser.getFloatTimeDomainData(samples);
      const msPerSample = 1000 / ctx.sampleRate;
      for (let from = 0; from + BLOCK <= samples.length; from += BLOCK) {
        const blockEnd = now - (samples.length - from - BLOCK) * msPerSample;
        if (blockEnd <= seenUntil) continue;
        let sum = 0;
        for (let i = from; i < from + BLOCK; i++) sum += samples[i] * samples[i];
        const rms = Math.sqrt(sum / BLOCK);
        if (rms < config.thresholdRms) continue;
        const blockStart = blockEnd - BLOCK * msPerSample;
        if (open && blockStart - open.end <= config.holdMs) {
          open.end = blockEnd;
          open.peakRms = Math.max(open.peakRms, rms);
        } else {
          open = { start: blockStart, end: blockEnd, peakRms: rms };
          record.segments.push(open);
        }
      }
      seenUntil = now;
    };
    setInterval(() => {
      try {
        poll();
      } catch (err) {
        probe.errors.push(String(err));
      }
    }, config.pollMs);
  }

  // ---- the caller's microphone ---------------------------------------------------------------------------------
  let release;
  const released = new Promise((resolve) => (release = resolve));
  probe.releaseMicrophone = () => {
    probe.micReleasedAt ??= performance.now();
    release();
  };
  if (!config.holdMicrophone) probe.releaseMicrophone();
  const getUserMedia = MediaDevices.prototype.getUserMedia;
  MediaDevices.prototype.getUserMedia = async function (constraints) {
    probe.micRequestedAt ??= performance.now();
    await released;
    const stream = await getUserMedia.call(this, constraints);
    probe.micOpenedAt ??= performance.now();
    for (const track of stream.getAudioTracks()) watch('local', track);
    return stream;
  };

  // ---- what arrives from the SFU ---------------------------------------------------------------------------------
  const connections = [];
  const NativePeerConnection = window.RTCPeerConnection;
  class ProbedPeerConnection extends NativePeerConnection {
    constructor(...args) {
      super(...args);
      connections.push(this);
      this.addEventListener('track', (event) => {
        if (event.track.kind === 'audio') watch('remote', event.track);
      });
    }
  }
  window.RTCPeerConnection = ProbedPeerConnection;
  probe.inboundAudioStats = async () => {
    const out = [];
    for (const pc of connections) {
      if (pc.connectionState === 'closed') continue;
      const report = await pc.getStats();
      report.forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'audio') {
          out.push({
            trackIdentifier: s.trackIdentifier,
            packetsReceived: s.packetsReceived ?? 0,
            totalAudioEnergy: s.totalAudioEnergy ?? 0,
            totalSamplesDuration: s.totalSamplesDuration ?? 0,
            jitterBufferDelay: s.jitterBufferDelay ?? 0,
            jitterBufferEmittedCount: s.jitterBufferEmittedCount ?? 0,
          });
        }
      });
    }
    return out;
  };

  // ---- the agent state the page shows ----------------------------------------------------------------------------
  const observeState = () => {
    const el = document.getElementById('agent-state');
    if (!el) return;
    const record = () => {
      const state = el.dataset.state ?? '';
      if (probe.states.at(-1)?.state !== state) probe.states.push({ state, at: performance.now() });
    };
    record();
    new MutationObserver(record).observe(el, { attributes: true, attributeFilter: ['data-state'] });
  };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', observeState);
  else observeState();
})();
