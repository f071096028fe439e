// Audio I/O for running a real AgentSession without a LiveKit room:
//
//   session.input.audio = new CallerAudioInput(...)     // a simulated caller's microphone
//   session.output.audio = new RecordingAudioOutput(...) // a simulated loudspeaker
//   await session.start({ agent })
//
// Both run on the wall clock, as a room would: the caller delivers one frame per frame
// period (silence between lines, because VAD needs a continuous stream), and the output
// plays audio out in real time, so the framework's playout tracking, interruption and
// pause/resume logic behave as in production. Times are performance.now() milliseconds.
import { stream as agentStream, voice } from '@livekit/agents';
import { AudioFrame } from '@livekit/rtc-node';
import type { SpeechAudio } from './espeak.js';
import { resampleLinear, speechBounds } from './pcm.js';
import type { CallRecorder } from './recorder.js';

export interface CallerAudioInputOptions {
  /** Rate of the frames delivered to the session. Default 24000 (RoomIO's default). */
  sampleRate?: number;
  /** Frame length, 10 or 20 ms. Default 20. */
  frameMs?: number;
  /** Records what the caller says on the 'caller' track. */
  recorder?: CallRecorder;
}

/** When a line was played. All times are wall-clock capture times (performance.now() ms). */
export interface SayResult {
  /** First sample of the line (including espeak's leading silence). */
  playStart: number;
  /** After the last sample of the line. */
  playEnd: number;
  /** First voiced sample. */
  speechStart: number;
  /** End of the last voiced sample: "the caller stopped talking". */
  speechEnd: number;
}

interface QueuedLine {
  pcm: Int16Array;
  /** Sample offsets of the voiced part. */
  voiced: { start: number; end: number };
  offset: number;
  playStart?: number;
  resolve: (r: SayResult) => void;
}

type Playable = SpeechAudio | { pcm: Int16Array; sampleRate: number } | Int16Array;

/**
 * A caller's microphone. Starts streaming when the session attaches it (or on `start()`),
 * one frame per period in wall-clock time, and keeps streaming silence until closed.
 */
export class CallerAudioInput extends voice.AudioInput {
  readonly sampleRate: number;
  readonly frameMs: number;
  /** Frames delivered, and the worst lateness of a frame behind the wall clock (ms). */
  readonly stats = { frames: 0, maxLagMs: 0 };

  readonly #samplesPerFrame: number;
  readonly #recorder?: CallRecorder;
  readonly #channel = agentStream.createStreamChannel<AudioFrame>();
  readonly #lines: QueuedLine[] = [];
  #t0 = 0;
  #sent = 0;
  #timer: NodeJS.Timeout | undefined;
  #attached = true;
  #closed = false;

  constructor(opts: CallerAudioInputOptions = {}) {
    super();
    this.sampleRate = opts.sampleRate ?? 24000;
    this.frameMs = opts.frameMs ?? 20;
    this.#samplesPerFrame = Math.round((this.sampleRate * this.frameMs) / 1000);
    this.#recorder = opts.recorder;
    this.multiStream.addInputStream(this.#channel.stream());
  }

  /** Begin the frame clock (idempotent). Called automatically when the session attaches. */
  start(): void {
    if (this.#timer || this.#closed) return;
    this.#t0 = performance.now();
    this.#sent = 0;
    // Tick at half the frame period; each tick delivers every frame that is due, so a
    // stalled event loop catches up instead of drifting (as a mic buffer would).
    this.#timer = setInterval(() => this.#pump(), Math.max(1, this.frameMs / 2));
  }

  override setAttached(attached: boolean): void {
    // Detached = muted: time (and any line being said) goes on, frames are not delivered.
    this.#attached = attached;
  }

  override onAttached(): void {
    this.start();
  }

  /** True while a line is queued or playing. */
  get speaking(): boolean {
    return this.#lines.length > 0;
  }

  /**
   * Say a line: queue its PCM after any line still playing. Resolves when its last sample
   * has been delivered, with the capture times of the line.
   */
  say(audio: Playable): Promise<SayResult> {
    let pcm: Int16Array;
    if (audio instanceof Int16Array) pcm = audio;
    else pcm = audio.sampleRate === this.sampleRate ? audio.pcm : resampleLinear(audio.pcm, audio.sampleRate, this.sampleRate);
    const voiced = speechBounds(pcm, this.sampleRate) ?? { start: 0, end: pcm.length };
    return new Promise((resolve) => {
      this.#lines.push({ pcm, voiced, offset: 0, resolve });
      this.start();
    });
  }

  /** Wall time at which sample `n` of the stream (since start) was captured. */
  #timeOf(n: number): number {
    return this.#t0 + (n / this.sampleRate) * 1000;
  }

  #pump(): void {
    const now = performance.now();
    const due = Math.floor((now - this.#t0) / this.frameMs);
    while (this.#sent < due && !this.#closed) {
      const lag = now - (this.#t0 + (this.#sent + 1) * this.frameMs);
      this.stats.maxLagMs = Math.max(this.stats.maxLagMs, lag);
      const frame = this.#nextFrame();
      this.#sent++;
      this.stats.frames++;
      if (this.#attached) void this.#channel.write(frame).catch(() => undefined);
    }
  }

  #nextFrame(): AudioFrame {
    const data = new Int16Array(this.#samplesPerFrame);
    let filled = 0;
    const frameStart = this.#sent * this.#samplesPerFrame;
    while (filled < data.length && this.#lines.length > 0) {
      const line = this.#lines[0];
      if (line.playStart === undefined) {
        line.playStart = this.#timeOf(frameStart + filled);
        this.#recorder?.add('caller', line.playStart, line.pcm, this.sampleRate);
      }
      const n = Math.min(data.length - filled, line.pcm.length - line.offset);
      data.set(line.pcm.subarray(line.offset, line.offset + n), filled);
      filled += n;
      line.offset += n;
      if (line.offset >= line.pcm.length) {
        this.#lines.shift();
        const ms = (samples: number) => line.playStart! + (samples / this.sampleRate) * 1000;
        // Resolve after this frame is delivered; the times are capture times regardless.
        const result = { playStart: line.playStart, playEnd: ms(line.pcm.length), speechStart: ms(line.voiced.start), speechEnd: ms(line.voiced.end) };
        queueMicrotask(() => line.resolve(result));
      }
    }
    return new AudioFrame(data, this.sampleRate, 1, this.#samplesPerFrame);
  }

  override async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#channel.close();
    await super.close();
  }
}

export interface RecordingAudioOutputOptions {
  /** Rate the session should produce. Default 24000 (RoomIO's default). */
  sampleRate?: number;
  /** Audio queued ahead of the playhead before captureFrame blocks. Default 200 (RoomIO's). */
  queueSizeMs?: number;
  /** Playout clock resolution. Default 10 ms. */
  tickMs?: number;
  /** Records what was actually played on the 'agent' track. */
  recorder?: CallRecorder;
}

/** One agent playback segment (a flush or clearBuffer ends it). Times are performance.now() ms. */
export interface AgentSegmentRecord {
  index: number;
  /** First frame handed to the output by the session. */
  firstFrameAt: number;
  /** First sample actually played (the caller starts hearing the agent). */
  playoutStartedAt?: number;
  /** Last sample played (or the moment of interruption). */
  playoutEndedAt?: number;
  flushedAt?: number;
  capturedSeconds: number;
  playedSeconds: number;
  interrupted: boolean;
  finished: boolean;
}

interface Segment {
  record: AgentSegmentRecord;
  /** Frames (at the output rate) not yet played. */
  queue: Int16Array[];
  headOffset: number;
  queuedSamples: number;
  flushed: boolean;
}

/**
 * A loudspeaker that plays the agent's audio out in real time and records it.
 * Segment accounting follows the agents contract: each segment (frames between flushes)
 * gets exactly one playback-finished event, with the played duration and whether it was
 * interrupted by clearBuffer(). Supports pause/resume (so false-interruption resume works).
 */
export class RecordingAudioOutput extends voice.AudioOutput {
  static readonly EVENT_SEGMENT_STARTED = 'harnessSegmentStarted';
  static readonly EVENT_SEGMENT_FINISHED = 'harnessSegmentFinished';

  readonly segments: AgentSegmentRecord[] = [];
  readonly #rate: number;
  readonly #queueSizeMs: number;
  readonly #recorder?: CallRecorder;
  /** Segments captured but not finished, oldest (playing) first. */
  readonly #pending: Segment[] = [];
  #capturing: Segment | null = null;
  /** Wall time up to which playout has been simulated. */
  #playClock = performance.now();
  #paused = false;
  #generation = 0;
  #timer: NodeJS.Timeout;
  #waiters: Array<() => void> = [];

  constructor(opts: RecordingAudioOutputOptions = {}) {
    const rate = opts.sampleRate ?? 24000;
    super(rate, undefined, { pause: true });
    this.#rate = rate;
    this.#queueSizeMs = opts.queueSizeMs ?? 200;
    this.#recorder = opts.recorder;
    this.#timer = setInterval(() => this.#tick(), opts.tickMs ?? 10);
  }

  /** Segment currently sounding, if any. */
  get playing(): AgentSegmentRecord | null {
    const s = this.#pending[0];
    return s && s.record.playoutStartedAt !== undefined && !this.#paused ? s.record : null;
  }

  /** Resolves with the next segment that starts playing out. */
  nextSegmentStarted(timeoutMs = 30_000): Promise<AgentSegmentRecord> {
    return this.#once(RecordingAudioOutput.EVENT_SEGMENT_STARTED, timeoutMs);
  }

  /** Resolves with the next segment that finishes (played out or interrupted). */
  nextSegmentFinished(timeoutMs = 30_000): Promise<AgentSegmentRecord> {
    return this.#once(RecordingAudioOutput.EVENT_SEGMENT_FINISHED, timeoutMs);
  }

  #once(event: string, timeoutMs: number): Promise<AgentSegmentRecord> {
    return new Promise((resolve, reject) => {
      const on = (r: AgentSegmentRecord) => {
        clearTimeout(timer);
        resolve(r);
      };
      const timer = setTimeout(() => {
        this.off(event, on);
        reject(new Error(`no agent segment event ${event} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.once(event, on);
    });
  }

  override async captureFrame(frame: AudioFrame): Promise<void> {
    const generation = this.#generation;
    // Like RoomIO's output, a new segment waits for the previous one to finish playing.
    if (!this.#capturing) {
      while (this.#pending.length > 0 && generation === this.#generation) await this.#waitTick();
      if (generation !== this.#generation) return;
    }
    await super.captureFrame(frame);
    if (generation !== this.#generation) return;
    const pcm =
      frame.sampleRate === this.#rate
        ? new Int16Array(frame.data.subarray(0, frame.samplesPerChannel * frame.channels))
        : resampleLinear(frame.data, frame.sampleRate, this.#rate);
    let seg = this.#capturing;
    if (!seg) {
      const record: AgentSegmentRecord = {
        index: this.segments.length,
        firstFrameAt: performance.now(),
        capturedSeconds: 0,
        playedSeconds: 0,
        interrupted: false,
        finished: false,
      };
      this.segments.push(record);
      seg = { record, queue: [], headOffset: 0, queuedSamples: 0, flushed: false };
      this.#capturing = seg;
      this.#pending.push(seg);
      this.onPlaybackStarted(Date.now());
    }
    if (this.#pending[0] === seg && seg.queuedSamples === 0) {
      // Nothing was sounding: this frame starts playing now, not at the last tick.
      this.#playClock = Math.max(this.#playClock, performance.now());
    }
    seg.queue.push(pcm);
    seg.queuedSamples += pcm.length;
    seg.record.capturedSeconds += pcm.length / this.#rate;
    // Backpressure: hold the producer while more than queueSizeMs waits to be played.
    while (this.#queuedMs() > this.#queueSizeMs && generation === this.#generation) await this.#waitTick();
  }

  override flush(): void {
    super.flush();
    const seg = this.#capturing;
    if (!seg) return;
    this.#capturing = null;
    seg.flushed = true;
    seg.record.flushedAt = performance.now();
  }

  override clearBuffer(): void {
    this.#generation++;
    if (this.#capturing) this.flush();
    this.#tick(); // account audio played up to now before cutting
    const now = performance.now();
    for (const seg of this.#pending.splice(0)) this.#finish(seg, true, now);
    this.#wake();
  }

  /**
   * Abandoning an open segment means it was already reported finished elsewhere; forget
   * it without emitting another playback-finished event.
   */
  override abandonOpenSegment(): void {
    super.abandonOpenSegment();
    const seg = this.#capturing;
    if (!seg) return;
    this.#capturing = null;
    const i = this.#pending.indexOf(seg);
    if (i >= 0) this.#pending.splice(i, 1);
    seg.record.finished = true;
    this.#wake();
  }

  override pause(): void {
    this.#tick();
    this.#paused = true;
    super.pause();
  }

  override resume(): void {
    this.#paused = false;
    this.#playClock = performance.now();
    super.resume();
  }

  /** Stop the playout clock. Pending segments are left as they are. */
  close(): void {
    clearInterval(this.#timer);
    this.#wake();
  }

  #queuedMs(): number {
    return (this.#pending.reduce((n, s) => n + s.queuedSamples, 0) / this.#rate) * 1000;
  }

  #waitTick(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  /** Advance the playout clock to now, consuming queued audio in real time. */
  #tick(): void {
    const now = performance.now();
    if (this.#paused) {
      this.#playClock = now;
      this.#wake();
      return;
    }
    let budget = Math.floor(((now - this.#playClock) / 1000) * this.#rate);
    while (budget > 0 && this.#pending.length > 0) {
      const seg = this.#pending[0];
      if (seg.queuedSamples === 0) {
        if (seg.flushed) {
          this.#pending.shift();
          this.#finish(seg, false, this.#playClock);
          continue;
        }
        break; // underrun: the session has not produced more audio yet
      }
      const head = seg.queue[0];
      const n = Math.min(budget, head.length - seg.headOffset);
      if (seg.record.playoutStartedAt === undefined) {
        seg.record.playoutStartedAt = this.#playClock;
        this.emit(RecordingAudioOutput.EVENT_SEGMENT_STARTED, seg.record);
      }
      this.#recorder?.add('agent', this.#playClock, head.subarray(seg.headOffset, seg.headOffset + n), this.#rate);
      seg.headOffset += n;
      seg.queuedSamples -= n;
      seg.record.playedSeconds += n / this.#rate;
      this.#playClock += (n / this.#rate) * 1000;
      budget -= n;
      if (seg.headOffset >= head.length) {
        seg.queue.shift();
        seg.headOffset = 0;
      }
    }
    // A flushed segment whose last sample has just played finishes without waiting a tick.
    const head = this.#pending[0];
    if (head && head.flushed && head.queuedSamples === 0) {
      this.#pending.shift();
      this.#finish(head, false, this.#playClock);
    }
    if (budget > 0) this.#playClock = now; // idle time is silence
    this.#wake();
  }

  #finish(seg: Segment, interrupted: boolean, at: number): void {
    const r = seg.record;
    if (r.finished) return;
    r.finished = true;
    r.interrupted = interrupted;
    r.playoutEndedAt = at;
    seg.queue = [];
    seg.queuedSamples = 0;
    this.onPlaybackFinished({ playbackPosition: r.playedSeconds, interrupted });
    this.emit(RecordingAudioOutput.EVENT_SEGMENT_FINISHED, r);
  }
}
