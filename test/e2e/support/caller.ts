/**
 * A caller in a real LiveKit room, as a Node participant: it publishes a microphone track that streams in real time
 * (silence between lines, like an open microphone; the agent's VAD and Deepgram need the trailing silence to end a
 * turn), subscribes to the agent's audio and measures its energy, and records the agent's `lk.agent.state`.
 */
import {
  AudioFrame,
  AudioSource,
  AudioStream,
  LocalAudioTrack,
  ParticipantKind,
  Room,
  RoomEvent,
  TrackKind,
  TrackPublishOptions,
  TrackSource,
  type RemoteParticipant,
  type RemoteTrack,
} from '@livekit/rtc-node';

export const CALLER_SAMPLE_RATE = 48_000;
const FRAME_MS = 10;
const SAMPLES_PER_FRAME = (CALLER_SAMPLE_RATE * FRAME_MS) / 1000;
/** Normalised RMS above which a frame of agent audio counts as speech (espeak speech is far above it, silence is 0). */
export const SPEECH_RMS = 0.01;

export interface AgentAudioFrame {
  at: number;
  rms: number;
}

export interface AgentStateChange {
  at: number;
  state: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function rms(samples: Int16Array): number {
  let sum = 0;
  for (const s of samples) sum += s * s;
  return samples.length === 0 ? 0 : Math.sqrt(sum / samples.length) / 32768;
}

export class Caller {
  readonly room = new Room();
  readonly agentAudio: AgentAudioFrame[] = [];
  readonly agentStates: AgentStateChange[] = [];
  /** When each line started and stopped being played into the microphone (performance.now()). */
  readonly spoken: Array<{ text: string; startAt: number; endAt: number }> = [];
  #source = new AudioSource(CALLER_SAMPLE_RATE, 1);
  #queue: Int16Array[] = [];
  #pumping = false;
  #pump?: Promise<void>;
  #readers: Array<ReadableStreamDefaultReader<AudioFrame>> = [];

  /** Joins with a token (from our token server) and starts the open microphone. */
  static async join(url: string, token: string): Promise<Caller> {
    const caller = new Caller();
    caller.#watchAgent();
    await caller.room.connect(url, token, { autoSubscribe: true, dynacast: false });
    const track = LocalAudioTrack.createAudioTrack('microphone', caller.#source);
    await caller.room.localParticipant!.publishTrack(track, new TrackPublishOptions({ source: TrackSource.SOURCE_MICROPHONE }));
    caller.#startMicrophone();
    return caller;
  }

  /** The agent participant, once it has joined. */
  agent(): RemoteParticipant | undefined {
    return [...this.room.remoteParticipants.values()].find((p) => p.kind === ParticipantKind.AGENT);
  }

  async waitForAgent(timeoutMs: number): Promise<RemoteParticipant> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const agent = this.agent();
      if (agent) return agent;
      if (Date.now() > deadline) throw new Error(`no agent joined the room within ${timeoutMs} ms`);
      await sleep(50);
    }
  }

  /** Frames of agent audio louder than speech level after `since`. */
  voicedSince(since: number): AgentAudioFrame[] {
    return this.agentAudio.filter((f) => f.at >= since && f.rms > SPEECH_RMS);
  }

  async waitForAgentSpeech(since: number, timeoutMs: number, minFrames = 20): Promise<AgentAudioFrame[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const voiced = this.voicedSince(since);
      if (voiced.length >= minFrames) return voiced;
      if (Date.now() > deadline) throw new Error(`agent audio: ${voiced.length} voiced frames (of ${this.agentAudio.length}) after ${timeoutMs} ms`);
      await sleep(50);
    }
  }

  /** Waits until the agent's `lk.agent.state` is `state` (now or later). */
  async waitForAgentState(state: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.agent()?.attributes['lk.agent.state'] !== state) {
      if (Date.now() > deadline) {
        throw new Error(`agent state not ${state} within ${timeoutMs} ms (seen: ${this.agentStates.map((s) => s.state).join(' → ')})`);
      }
      await sleep(50);
    }
  }

  /** Plays `pcm` (mono, 48 kHz) into the microphone in real time; resolves when its last frame was sent. */
  async say(text: string, pcm: Int16Array): Promise<void> {
    const startAt = performance.now();
    const frames: Int16Array[] = [];
    for (let i = 0; i < pcm.length; i += SAMPLES_PER_FRAME) {
      const frame = new Int16Array(SAMPLES_PER_FRAME);
      frame.set(pcm.subarray(i, Math.min(i + SAMPLES_PER_FRAME, pcm.length)));
      frames.push(frame);
    }
    this.#queue.push(...frames);
    while (this.#queue.length > 0) await sleep(FRAME_MS);
    this.spoken.push({ text, startAt, endAt: performance.now() });
  }

  async leave(): Promise<void> {
    this.#pumping = false;
    await this.#pump;
    for (const reader of this.#readers) await reader.cancel().catch(() => undefined);
    await this.room.disconnect();
    await this.#source.close();
  }

  /** Real-time pacing on a wall clock: a 10 ms frame is due every 10 ms since start, speech if queued, else silence. */
  #startMicrophone(): void {
    this.#pumping = true;
    const silence = new Int16Array(SAMPLES_PER_FRAME);
    this.#pump = (async () => {
      const start = performance.now();
      let sent = 0;
      while (this.#pumping) {
        const due = Math.floor((performance.now() - start) / FRAME_MS);
        while (sent < due && this.#pumping) {
          const data = this.#queue.shift() ?? silence;
          await this.#source.captureFrame(new AudioFrame(data, CALLER_SAMPLE_RATE, 1, SAMPLES_PER_FRAME));
          sent++;
        }
        await sleep(FRAME_MS / 2);
      }
    })();
  }

  #watchAgent(): void {
    const recordState = (participant: RemoteParticipant) => {
      const state = participant.attributes['lk.agent.state'];
      if (state !== undefined && this.agentStates.at(-1)?.state !== state) this.agentStates.push({ at: performance.now(), state });
    };
    this.room.on(RoomEvent.ParticipantConnected, (p) => {
      if (p.kind === ParticipantKind.AGENT) recordState(p);
    });
    this.room.on(RoomEvent.ParticipantAttributesChanged, (_changed, p) => {
      if (p.kind === ParticipantKind.AGENT) recordState(p as RemoteParticipant);
    });
    this.room.on(RoomEvent.TrackSubscribed, (track: RemoteTrack, _pub, participant) => {
      if (participant.kind !== ParticipantKind.AGENT || track.kind !== TrackKind.KIND_AUDIO) return;
      const reader = new AudioStream(track, { sampleRate: CALLER_SAMPLE_RATE, numChannels: 1 }).getReader();
      this.#readers.push(reader);
      void (async () => {
        try {
          for (;;) {
            const { done, value } = await reader.read();
            if (done) return;
            this.agentAudio.push({ at: performance.now(), rms: rms(value.data) });
          }
        } catch {
          // the stream ends when the room disconnects
        }
      })();
    });
  }
}
