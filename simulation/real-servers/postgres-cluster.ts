/**
 * A throw-away PostgreSQL cluster on loopback from a given bin directory: initdb into a temp dir, pg_ctl start on a
 * free port with the unix socket in that dir, pg_ctl stop and remove on stop. The two e2e flavours (Debian's package
 * for the memory store, the pgserver wheel with pgvector for Letta) differ only in binaries and set-up.
 *
 * initdb/postgres refuse to run as root ("cannot be run as root"), and e2e runs on CI as root: then the cluster runs
 * as `nobody` with its directory handed over.
 */
import { spawn } from 'node:child_process';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freeTcpPort } from './livekit-server.js';

export interface PostgresCluster {
  port: number;
  /** The temp dir: also the unix socket directory (a `host` for pg clients connecting as the superuser). */
  dir: string;
  output(): string;
  /** Stops the server (fast shutdown: connections are cut) but keeps the cluster. */
  halt(): Promise<void>;
  /** Starts a halted server again on the same port and data. */
  resume(): Promise<void>;
  stop(): Promise<void>;
}

export interface PostgresClusterOptions {
  binDir: string;
  superuser: string;
  /** initdb authentication options, e.g. ['--auth=trust']. */
  auth: string[];
  /** false only where durability is not what is measured: fsync=on is the production setting. */
  fsync: boolean;
  tmpPrefix: string;
  serverOptions?: string;
}

const NOBODY = { uid: 65534, gid: 65534 };

function run(file: string, args: string[], asUser: typeof NOBODY | undefined, log: (s: string) => void): Promise<void> {
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', TZ: 'UTC' };
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'], ...(asUser ?? {}) });
    child.stdout.on('data', (d: Buffer) => log(d.toString()));
    child.stderr.on('data', (d: Buffer) => log(d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${path.basename(file)} ${args.join(' ')} exited with ${code}`))));
  });
}

/** Starts the cluster, then runs `setUp` (create roles, databases, extensions); cleans up if either fails. */
export async function startPostgresCluster<T>(o: PostgresClusterOptions, setUp: (cluster: PostgresCluster) => Promise<T>): Promise<T> {
  const asUser = process.getuid?.() === 0 ? NOBODY : undefined;
  const dir = await mkdtemp(path.join(tmpdir(), o.tmpPrefix));
  if (asUser) await chown(dir, asUser.uid, asUser.gid);
  const data = path.join(dir, 'data');
  const port = await freeTcpPort();
  let log = '';
  const append = (s: string) => (log += s);
  const pgCtl = (...args: string[]) => run(path.join(o.binDir, 'pg_ctl'), ['-D', data, ...args], asUser, append);
  const stop = async () => {
    await pgCtl('stop', '-m', 'immediate').catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  };
  // -k: the unix socket goes into our temp dir, not /var/run/postgresql (absent or not ours).
  const serverOptions = `-h 127.0.0.1 -p ${port} -k ${dir} -c fsync=${o.fsync ? 'on' : 'off'} ${o.serverOptions ?? ''}`.trim();
  const start = () => pgCtl('start', '-w', '-t', '60', '-l', path.join(dir, 'server.log'), '-o', serverOptions);
  const cluster: PostgresCluster = { port, dir, output: () => log, halt: () => pgCtl('stop', '-w', '-m', 'fast'), resume: start, stop };
  try {
    await run(path.join(o.binDir, 'initdb'), ['-D', data, '-U', o.superuser, ...o.auth, '-E', 'UTF8', '--no-sync'], asUser, append);
    await start();
    return await setUp(cluster);
  } catch (err) {
    await stop();
    throw new Error(`PostgreSQL did not start: ${(err as Error).message}\n${log}`, { cause: err });
  }
}
