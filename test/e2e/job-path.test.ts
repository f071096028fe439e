/**
 * The worker's job path against a real livekit-server (issue 8, item 4): the worker runs as users start it
 * (`tsx src/main.ts dev` / `start`, a child process through cli.runApp), registers with the server, and a caller who
 * joins with a token from our token server (`POST /api/token`, explicit agent dispatch in the token) gets the agent:
 * it greets, a turn goes through OpenAI/Deepgram/Cartesia stand-ins, and when the caller leaves and the room closes,
 * the job's shutdown callback drains the turns into the Letta stand-in, once each, in order.
 * Production mode's load limit: with WORKER_LOAD_THRESHOLD=0 the worker is full, says so, and gets no job.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { synthesize } from '../../simulation/harness/espeak.js';
import { lastUserText } from '../../simulation/stand-ins/openai-server.js';
import { CALLER_SAMPLE_RATE, Caller } from './support/caller.js';
import { literal, startTokenServer, startWorker, waitForServerLog, type TokenServer, type WorkerProcess } from './support/processes.js';
import { AGENT_NAME, GREETING_REPLY, startVoiceStack, type VoiceStack } from './support/voice-stack.js';

let stack: VoiceStack;
let web: TokenServer;

beforeAll(async () => {
  stack = await startVoiceStack();
  web = await startTokenServer(await stack.env(), stack.dir);
});

afterAll(async () => {
  await web?.stop(5_000);
  await stack?.close();
});

const squash = (text: string) => text.replace(/\s+/g, ' ').trim();
const plain = (text: string) => squash(text).toLowerCase().replace(/[^a-z0-9 ]/g, '');

function jwtClaims(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

interface CallResult {
  caller: Caller;
  room: string;
}

/**
 * One whole call: join with a token from the token server, get the agent, hear the greeting, say `lines` one at a time
 * (each answered), leave, and wait for the job's drain into Letta.
 */
async function call(worker: WorkerProcess, lines: readonly string[]): Promise<CallResult> {
  const room = `e2e-room-${randomBytes(3).toString('hex')}`;
  const issued = await web.token(room);
  // Explicit dispatch travels in the token (RoomConfiguration.agents), nothing else asks for the agent.
  expect(JSON.stringify(jwtClaims(issued.token).roomConfig)).toContain(AGENT_NAME);
  expect(issued.url).toBe(stack.livekit.url);

  const joinedAt = performance.now();
  const caller = await Caller.join(issued.url, issued.token);
  try {
    // Dispatched: the agent participant joins, named by the framework and reporting its state.
    const agent = await caller.waitForAgent(60_000);
    expect(agent.attributes['lk.agent.name']).toBe(AGENT_NAME);
    await waitForServerLog(stack.livekit, new RegExp(`assigned job to worker.*${literal(room)}|${literal(room)}.*assigned job to worker`), 10_000);

    // The greeting: speech on the agent's track, and the Cartesia stand-in was asked to say the greeting text.
    const greeting = await caller.waitForAgentSpeech(joinedAt, 60_000);
    expect(greeting.length).toBeGreaterThanOrEqual(20);
    expect(stack.cartesia.requests.some((r) => squash(r.text).includes(GREETING_REPLY))).toBe(true);
    await caller.waitForAgentState('listening', 30_000);

    for (const line of lines) {
      const speech = await synthesize(line, { sampleRate: CALLER_SAMPLE_RATE });
      stack.deepgram.expectUtterance({ text: line, durationSeconds: speech.speechEndSeconds - speech.speechStartSeconds });
      await caller.say(line, speech.pcm);
      const saidAt = caller.spoken.at(-1)!.endAt;

      // The reply comes back as audio, after Deepgram heard the line and OpenAI was asked about it.
      await caller.waitForAgentSpeech(saidAt - 1000 * (speech.durationSeconds - speech.speechEndSeconds), 30_000);
      const utterance = stack.deepgram.utterances.find((u) => u.text === line);
      expect(utterance?.finalTranscript !== undefined && plain(utterance.finalTranscript)).toBe(plain(line));
      expect(stack.openai.chatRequests().some((req) => plain(lastUserText(req)) === plain(line))).toBe(true);
      expect(stack.cartesia.requests.some((r) => plain(r.text).includes(plain(`Noted: ${line}`)))).toBe(true);
      await caller.waitForAgentState('listening', 30_000);
    }
    expect(stack.deepgram.connections.some((c) => c.audioSeconds > 1)).toBe(true);
    // The agent went through its states on the real room.
    const states = caller.agentStates.map((s) => s.state);
    expect(states).toEqual(expect.arrayContaining(['listening', 'thinking', 'speaking']));
  } catch (err) {
    await caller.leave().catch(() => undefined);
    throw new Error(`${String(err)}\n--- worker output ---\n${worker.output().slice(-5000)}`);
  }
  await caller.leave();
  return { caller, room };
}

/** The pid a log line names: pino JSON (`start`) has "pid":N, pino-pretty (`dev`) prints `LEVEL (N):`. */
function pidOf(line: string): number {
  const match = line.match(/"pid":(\d+)/) ?? line.match(/[A-Z]+\S* \((\d+)\):/);
  if (!match) throw new Error(`no pid in log line: ${line}`);
  return Number(match[1]);
}

/** The worker's main process (the one that registered with LiveKit), as opposed to its job processes. */
async function mainPidOf(worker: WorkerProcess): Promise<number> {
  return pidOf((await worker.waitForOutput(/^.*registered worker.*$/m, 5_000))[0]);
}

/** After the caller left: the room closes, the job's shutdown drains the memory queue, Letta holds each turn once, in order. */
async function expectDrainedIntoLetta(worker: WorkerProcess, room: string, lines: readonly string[], outputOffset: number): Promise<string> {
  await waitForServerLog(stack.livekit, new RegExp(`closing idle room.*${literal(room)}|${literal(room)}.*closing idle room`), 30_000);
  // src/main.ts addShutdownCallback → worker.close() → MemoryQueue.close(): logs this once the journal is empty.
  const drained = await worker.waitForOutput(/^.*memory queue drained and closed.*$/m, 60_000, outputOffset);
  // Logged by the job process that ran the call, not by the main process's sweeper of leftover journal slots.
  expect(pidOf(drained[0])).not.toBe(await mainPidOf(worker));
  // What the worker sent (source 'client'), whatever shape the write-behind gives a turn: the caller's words as a user
  // message, what the agent said in some client message after it.
  // Every Letta agent counts: with per-caller memory (LETTA_MEMORY_SCOPE) the turns go to the caller's own agent.
  const agents = stack.letta.agentIds();
  const sent = agents.flatMap((id) => stack.letta.clientMessagesOf(id)).sort((x, y) => x.seq - y.seq);
  const heardLine = (text: string) => lines.findIndex((line) => plain(text).includes(plain(line)));
  const userTurns = sent.filter((m) => m.role === 'user' && heardLine(m.text) >= 0);
  expect(userTurns.map((m) => heardLine(m.text))).toEqual(lines.map((_, i) => i)); // each line once, in the order said
  for (const line of lines) {
    expect(sent.some((m) => plain(m.text).includes(plain(`Noted: ${line}`)))).toBe(true);
  }
  expect(agents.flatMap((id) => stack.letta.duplicatesOf(id))).toEqual([]); // nothing stored twice (same otid)
  return drained[0];
}

/** A sample's value from Prometheus text, e.g. `letta_turns_total{mode="hybrid",source="openai"}`. */
function sample(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

describe('development mode: tsx src/main.ts dev', () => {
  let worker: WorkerProcess;
  let metricsUrl: string;
  beforeAll(async () => {
    const env = await stack.env();
    metricsUrl = `http://127.0.0.1:${env.METRICS_PORT}/metrics`;
    worker = await startWorker('dev', env, stack.livekit, stack.dir);
  });
  afterAll(async () => {
    await worker?.stop(20_000);
  });

  it('registers with the real server', async () => {
    const info = (await (await fetch(`${worker.healthUrl}worker`)).json()) as { agent_name: string };
    expect(info.agent_name).toBe(AGENT_NAME);
    expect(stack.livekit.output()).toMatch(new RegExp(`worker registered.*"agentName":\\s*"${AGENT_NAME}"`));
  });

  it('a caller gets the agent: greeting, two turns, and on leaving both turns reach Letta once each, in order', async () => {
    const lines = ['I would like to book a table for two.', 'Please make it on Friday evening.'];
    const offset = worker.output().length;
    const { room } = await call(worker, lines);
    await expectDrainedIntoLetta(worker, room, lines, offset);

    // The main process's Prometheus endpoint holds what the job process observed: real voice turns, real writes. The
    // job pushes its last snapshot after its queue closed, so give that push a moment.
    let metrics = '';
    const deadline = Date.now() + 15_000;
    do {
      metrics = await (await fetch(metricsUrl)).text();
      if ((sample(metrics, 'letta_memory_write_latency_seconds_count') ?? 0) >= 1) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    } while (Date.now() < deadline);
    expect(sample(metrics, 'letta_turn_voice_to_voice_seconds_count{mode="hybrid"}')).toBeGreaterThanOrEqual(lines.length);
    expect(sample(metrics, 'letta_turn_llm_ttft_seconds_count{mode="hybrid",source="openai"}')).toBeGreaterThanOrEqual(lines.length);
    expect(sample(metrics, 'letta_memory_write_latency_seconds_count')).toBeGreaterThanOrEqual(1);
  });
});

describe('production mode: tsx src/main.ts start', () => {
  let worker: WorkerProcess;
  afterAll(async () => {
    await worker?.stop(30_000);
  });

  it('registers, takes a call, and the job shutdown waits for a slow Letta write before the process exits', async () => {
    // The test box is shared: even a threshold of 1 marks the worker full whenever other tests saturate both cores.
    const env = await stack.env({ WORKER_LOAD_THRESHOLD: 'off', MEMORY_DRAIN_DEADLINE_MS: '40000' });
    worker = await startWorker('start', env, stack.livekit, stack.dir);
    const lines = ['What is the weather like at the harbour?'];
    const offset = worker.output().length;
    // Each Letta agent step now takes 5 s: the turn's write is still running when the caller leaves and the room closes.
    stack.letta.options.messageLatencyMs = 5_000;
    try {
      const { room } = await call(worker, lines);
      const drained = JSON.parse(await expectDrainedIntoLetta(worker, room, lines, offset)) as { written: number };
      // The job process's queue wrote the turn while closing, i.e. after the room had closed.
      expect(drained.written).toBeGreaterThanOrEqual(1);
    } finally {
      stack.letta.options.messageLatencyMs = 200;
    }
  });
});

describe('production mode when the worker is full (WORKER_LOAD_THRESHOLD=0)', () => {
  let worker: WorkerProcess;
  afterAll(async () => {
    await worker?.stop(30_000);
  });

  it('logs a warning with the load and the threshold, and LiveKit sends it no job', async () => {
    worker = await startWorker('start', await stack.env({ WORKER_LOAD_THRESHOLD: '0' }), stack.livekit, stack.dir);
    // The framework measures load every 2.5 s over 2.5 s; the first report comes within ~5 s.
    const warning = await worker.waitForOutput(/^.*worker is full.*$/m, 30_000);
    const line = JSON.parse(warning[0]) as { level: number; load: number; loadThreshold: number; msg: string };
    expect(line.level).toBe(40); // pino warn
    expect(line.loadThreshold).toBe(0);
    expect(typeof line.load).toBe('number');
    expect(line.msg).toMatch(/WORKER_LOAD_THRESHOLD/);

    const room = `e2e-full-${randomBytes(3).toString('hex')}`;
    const serverOffset = stack.livekit.output().length;
    const issued = await web.token(room);
    const caller = await Caller.join(issued.url, issued.token);
    try {
      // A full worker bids no affinity for the job (pkg/service/agentservice.go JobRequestAffinity), so on a single
      // node the request finds no server: agent/client.go logs "failed to send job request ... no servers available".
      await waitForServerLog(stack.livekit, new RegExp(`failed to send job request.*no servers available.*"agentName":\\s*"${AGENT_NAME}"`), 20_000, serverOffset);
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      expect(caller.agent()).toBeUndefined();
      expect(worker.output()).not.toMatch(new RegExp(`received job request[^\\n]*${literal(room)}`));
    } finally {
      await caller.leave();
    }
  });
});
