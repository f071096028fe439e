/**
 * A throw-away PostgreSQL cluster with pgvector on loopback, from the binaries of the `pgserver` wheel that
 * `scripts/e2e/setup-30-letta.sh` installs into the Letta virtualenv (PostgreSQL 16.2 + pgvector 0.6.2).
 *
 * PostgreSQL refuses to run as root (initdb/postgres exit with "cannot be run as root"), and e2e runs on CI as
 * root; then the cluster runs as `nobody` with its data directory handed to that user.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { e2eCacheDir } from './e2e-cache.js';
import { freeTcpPort } from './livekit-server.js';

export interface RealPostgres {
  /** postgresql://letta@127.0.0.1:<port>/letta (trust auth on loopback, no password). */
  uri: string;
  port: number;
  output(): string;
  stop(): Promise<void>;
}

const NOBODY = { uid: 65534, gid: 65534 };

export function lettaVenvDir(): string {
  return path.join(e2eCacheDir(), 'letta-venv');
}

function pgBinDir(): string {
  const dir = path.join(lettaVenvDir(), 'lib/python3.11/site-packages/pgserver/pginstall/bin');
  if (!existsSync(path.join(dir, 'initdb'))) {
    throw new Error(`PostgreSQL (pgserver wheel) is not installed in ${dir}: run \`npm run e2e:setup\` first`);
  }
  return dir;
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv, asUser: typeof NOBODY | undefined, log: (s: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'], ...(asUser ?? {}) });
    child.stdout.on('data', (d: Buffer) => log(d.toString()));
    child.stderr.on('data', (d: Buffer) => log(d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${path.basename(file)} ${args.join(' ')} exited with ${code}`))));
  });
}

export async function startRealPostgres(): Promise<RealPostgres> {
  const bin = pgBinDir();
  const asUser = process.getuid?.() === 0 ? NOBODY : undefined;
  const dir = await mkdtemp(path.join(tmpdir(), 'letta-pg-'));
  if (asUser) await chown(dir, asUser.uid, asUser.gid);
  const data = path.join(dir, 'data');
  const port = await freeTcpPort();
  let log = '';
  const append = (s: string) => (log += s);
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', TZ: 'UTC' };
  const pgCtl = (...args: string[]) => run(path.join(bin, 'pg_ctl'), ['-D', data, ...args], env, asUser, append);

  const stop = async () => {
    await pgCtl('stop', '-m', 'immediate').catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await run(path.join(bin, 'initdb'), ['-D', data, '-U', 'letta', '--auth=trust', '-E', 'UTF8', '--no-sync'], env, asUser, append);
    // -k: the unix socket goes into our temp dir, not /var/run/postgresql (absent or not ours).
    await pgCtl('start', '-w', '-t', '60', '-l', path.join(dir, 'server.log'), '-o', `-h 127.0.0.1 -p ${port} -k ${dir} -c fsync=off`);
    const admin = new pg.Client({ host: '127.0.0.1', port, user: 'letta', database: 'postgres' });
    await admin.connect();
    try {
      await admin.query('CREATE DATABASE letta');
    } finally {
      await admin.end();
    }
    const db = new pg.Client({ host: '127.0.0.1', port, user: 'letta', database: 'letta' });
    await db.connect();
    try {
      await db.query('CREATE EXTENSION IF NOT EXISTS vector');
    } finally {
      await db.end();
    }
  } catch (err) {
    await stop();
    throw new Error(`PostgreSQL did not start: ${(err as Error).message}\n${log}`, { cause: err });
  }
  return { uri: `postgresql://letta@127.0.0.1:${port}/letta`, port, output: () => log, stop };
}
