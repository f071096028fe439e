/**
 * A real livekit-server (the binary `scripts/e2e/setup.sh` builds into .cache/e2e/bin) on loopback only, with keys and
 * free ports of its own, for end-to-end tests and the mouth-to-ear benchmark.
 *
 * Loopback needs a config file (livekit/livekit v1.13.5, pkg/config/config.go and config-sample.yaml):
 * - `bind_addresses: [127.0.0.1]` keeps signalling on loopback;
 * - `rtc.node_ip: 127.0.0.1` + `use_external_ip: false` stop it from asking a public STUN server for its address;
 * - `rtc.enable_loopback_candidate: true` + `interfaces.includes: [lo]`: without these the ICE agent skips loopback
 *   and offers no candidate a local client can reach;
 * - `rtc.stun_servers`: pkg/service/roommanager.go iceServersForParticipant hands clients Google's public STUN
 *   servers (rtcconfig.DefaultStunServers) whenever none is configured, so we configure a loopback one; nothing
 *   listens there for STUN, which is fine: on loopback host candidates connect directly.
 *
 * ```ts
 * const lk = await startRealLiveKitServer();
 * process.env.LIVEKIT_URL = lk.url; // ws://127.0.0.1:<port>
 * await lk.stop();
 * ```
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { e2eBinary } from './e2e-cache.js';

export interface RealLiveKitServer {
  /** ws://127.0.0.1:<port> — what LIVEKIT_URL should be. */
  url: string;
  /** http://127.0.0.1:<port> — for RoomServiceClient / AgentDispatchClient. */
  httpUrl: string;
  apiKey: string;
  apiSecret: string;
  /** Everything the server printed so far (its log), for assertions and failure messages. */
  output(): string;
  stop(): Promise<void>;
}

export interface RealLiveKitServerOptions {
  /** Extra YAML appended to the generated config (top-level keys). */
  extraConfig?: string;
  /** How long to wait for the server to answer HTTP. Default 30 s. */
  startTimeoutMs?: number;
}

/** A free TCP port on 127.0.0.1 (the kernel picks it; closed again before use). */
export function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** A free UDP port on 127.0.0.1. */
export function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const sock = createSocket('udp4');
    sock.once('error', reject);
    sock.bind(0, '127.0.0.1', () => {
      const { port } = sock.address();
      sock.close(() => resolve(port));
    });
  });
}

export function liveKitConfigYaml(o: { port: number; tcpPort: number; udpPort: number; apiKey: string; apiSecret: string }): string {
  return [
    `port: ${o.port}`,
    'bind_addresses:',
    '  - 127.0.0.1',
    'rtc:',
    `  tcp_port: ${o.tcpPort}`,
    `  udp_port: ${o.udpPort}`,
    '  node_ip: 127.0.0.1',
    '  use_external_ip: false',
    '  enable_loopback_candidate: true',
    '  interfaces:',
    '    includes:',
    '      - lo',
    '  stun_servers:',
    `    - 127.0.0.1:${o.udpPort}`,
    'keys:',
    `  ${o.apiKey}: ${o.apiSecret}`,
    'logging:',
    '  level: info',
    '',
  ].join('\n');
}

async function waitForHttp(url: string, child: ChildProcess, timeoutMs: number, output: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`livekit-server exited with ${child.exitCode} before it was ready:\n${output()}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`livekit-server did not answer ${url} within ${timeoutMs} ms:\n${output()}`);
}

export async function startRealLiveKitServer(options: RealLiveKitServerOptions = {}): Promise<RealLiveKitServer> {
  const binary = e2eBinary('livekit-server');
  const apiKey = `test-${randomBytes(4).toString('hex')}`;
  // livekit-server requires secrets of at least 32 characters.
  const apiSecret = randomBytes(24).toString('base64url');
  const [port, tcpPort, udpPort] = [await freeTcpPort(), await freeTcpPort(), await freeUdpPort()];
  const dir = await mkdtemp(path.join(tmpdir(), 'livekit-'));
  const configFile = path.join(dir, 'livekit.yaml');
  await writeFile(configFile, liveKitConfigYaml({ port, tcpPort, udpPort, apiKey, apiSecret }) + (options.extraConfig ?? ''));

  let log = '';
  const child = spawn(binary, ['--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  const output = () => log;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    }
    await rm(dir, { recursive: true, force: true });
  };

  try {
    await waitForHttp(`http://127.0.0.1:${port}/`, child, options.startTimeoutMs ?? 30_000, output);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: `ws://127.0.0.1:${port}`, httpUrl: `http://127.0.0.1:${port}`, apiKey, apiSecret, output, stop };
}

