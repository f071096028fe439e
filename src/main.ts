import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type JobContext, type JobProcess, ServerOptions, cli, defineAgent } from '@livekit/agents';
import * as silero from '@livekit/agents-plugin-silero';
import { prepareVoiceCall } from './call/voice-call.js';
import { CALLER_AUDIO_SAMPLE_RATE } from './call/caller-audio.js';
import { callerIdentityOf } from './callers/caller-identity.js';
import { ConfigError, loadConfig, secretsOf, type Config } from './config.js';
import { redactingLogger } from './logging.js';
import { createAgentSession } from './pipeline.js';
import { createLettaClient } from './letta/client.js';
import { MemoryQueue } from './memory/memory-queue.js';
import { startOrphanSweeper } from './memory/orphan-sweeper.js';
import { openMemoryQueue } from './memory/open-queue.js';
import { JobMetrics } from './metrics/job-metrics.js';
import { startJobReporting } from './metrics/job-reporting.js';
import { startMetricsServer } from './metrics/metrics-server.js';
import { createWorkerServices, memoryQueueOptions, type WorkerServices } from './services.js';
import { publishTurnMetrics, setAgentMode } from './telemetry/turn-publisher.js';
import { frameworkLoadThreshold, isProductionCommand, watchLoad } from './worker-load.js';

let services: Promise<WorkerServices> | undefined;

/** One set of clients, Letta agent and memory queue per job process, shared by the calls it runs. */
function processServices(config: Config): Promise<WorkerServices> {
  services ??= createWorkerServices(config, redactingLogger(secretsOf(config)));
  return services;
}

export default defineAgent({
  prewarm: async (proc: JobProcess) => {
    proc.userData.vad = await silero.VAD.load();
  },
  entry: async (ctx: JobContext) => {
    const config = loadConfig();
    const worker = await processServices(config);
    const session = createAgentSession(config, worker.chat, ctx.proc.userData.vad as silero.VAD);
    const mode = config.hybridStreaming ? 'hybrid' : 'letta';
    const onPublishError = (err: unknown) => worker.logger.warn({ err: String(err) }, 'could not publish turn metrics to the room');
    const callerIdentity = await callerIdentityOf(ctx, config.memoryScope);
    // The main worker process serves these on METRICS_PORT (docs/metrics.md).
    const metrics = startJobReporting(config.metrics, worker.queue, worker.logger);
    const call = await prepareVoiceCall(worker, session, {
      sessionId: ctx.job.id,
      callerIdentity,
      // The voice room page shows each turn's latency and the mode.
      onTurn: (report) => {
        metrics?.observeTurn(report);
        void publishTurnMetrics(ctx.room, report, { onError: onPublishError });
      },
    });
    // A job process runs one call: drain its turns into Letta before it exits (with a deadline); leftovers stay journaled.
    ctx.addShutdownCallback(async () => {
      const unqueued = await call.recorder.flushed(config.memory.drainDeadlineMs);
      if (unqueued > 0) worker.logger.warn({ unqueued }, 'turns lost: Letta never became reachable to name its agent during this call');
      services = undefined;
      await worker.close();
      // After the drain, so its writes are in the final snapshot.
      await metrics?.stop();
    });
    // In caller scope the session listens to the caller whose memory it uses, never to someone else in the room.
    await session.start({
      agent: call.agent,
      room: ctx.room,
      inputOptions: {
        audioSampleRate: CALLER_AUDIO_SAMPLE_RATE,
        ...(callerIdentity && !ctx.isFakeJob ? { participantIdentity: callerIdentity } : {}),
      },
    });
    await ctx.connect();
    void setAgentMode(ctx.room, mode, { onError: onPublishError });
    session.generateReply({ instructions: config.greeting });
  },
});

function runWorker(): void {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
  const logger = redactingLogger(secretsOf(config));
  const base = {
    agent: fileURLToPath(import.meta.url),
    agentName: config.livekit.agentName,
    port: config.livekit.workerHttpPort,
    numIdleProcesses: config.livekit.idleProcesses,
    // A busy machine can take longer than the framework's 10 s to start a job process; then no call gets an agent.
    initializeProcessTimeout: config.livekit.processStartTimeoutMs,
    // Turn detection is VAD or STT endpointing: the local end-of-turn model is never used, so do not start its
    // inference process (several hundred MB per worker). Option added by patches/@livekit+agents+1.8.1.patch.
    localEotInference: false,
  };
  // A worker that marks itself full gets no jobs from LiveKit: say so as a warning instead of a silent stall.
  const loadLimit = watchLoad({
    threshold: config.livekit.loadThreshold ?? frameworkLoadThreshold(isProductionCommand(process.argv)),
    measure: new ServerOptions(base).loadFunc,
    logger,
  });
  cli.runApp(new ServerOptions({ ...base, ...loadLimit }));
  // This process's own memory queue (below) is measured like a job process's and served with theirs.
  const mainQueueMetrics = new JobMetrics();
  if (config.metrics) {
    // WORKER_HTTP_PORT belongs to the framework's server (only / and /worker); job processes push to this one.
    startMetricsServer({ ...config.metrics, logger }).then(
      (server) => server.addLocalRegistry(mainQueueMetrics.registry),
      (err: unknown) =>
        logger.warn({ err: err instanceof Error ? err.message : String(err), ...config.metrics }, 'Prometheus metrics endpoint could not start'),
    );
  }
  if (config.memory.store.kind === 'postgres') {
    // Finished calls hand their undelivered turns back to the database; this long-lived queue adopts them (notified
    // at once, else every housekeeping tick), and those of workers on other machines that died (after the lease).
    adoptLeftBehindTurns(config, logger, mainQueueMetrics);
    return;
  }
  // Delivers turns that finished calls (separate job processes) left in their journal slots.
  startOrphanSweeper({
    dataDir: config.memory.dataDir,
    openQueue: async () => {
      const queue = await MemoryQueue.open(memoryQueueOptions(config), { letta: createLettaClient(config.letta), logger });
      mainQueueMetrics.watchQueue(queue); // a sweep's queue replaces the last one's
      return queue;
    },
    intervalMs: 30_000,
    deadlineMs: config.memory.drainDeadlineMs,
    logger,
  });
}

function adoptLeftBehindTurns(config: Config, logger: ReturnType<typeof redactingLogger>, metrics: JobMetrics): void {
  const open = () =>
    openMemoryQueue(memoryQueueOptions(config), config.memory.store, { letta: createLettaClient(config.letta), logger }).then(
      (queue) => metrics.watchQueue(queue),
      (err: unknown) => {
        logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'memory queue could not open on PostgreSQL; retrying in 30 s');
        setTimeout(() => void open(), 30_000).unref();
      },
    );
  void open();
}

// Job processes import this file for the agent definition; only the command line starts a worker.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) runWorker();
