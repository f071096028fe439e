/**
 * A throw-away cluster of the Debian `postgresql` package (/usr/lib/postgresql/<major>/bin, installed by
 * scripts/e2e/setup-25-postgres.sh) on loopback, for the memory store's e2e tests and benchmark. postgres.ts starts
 * the pgserver wheel's PostgreSQL for Letta instead (pgvector, only present after the Letta set-up).
 *
 * initdb/postgres refuse to run as root; as root the cluster runs as `nobody` with its directory handed over.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freeTcpPort } from './livekit-server.js';

export interface DebianPostgres {
  /** postgresql://memory:<password>@127.0.0.1:<port>/memory */
  url: string;
  port: number;
  version: string;
  output(): string;
  /** Stops the server (fast shutdown: connections are cut) but keeps the cluster, for connection-loss tests. */
  halt(): Promise<void>;
  /** Starts a halted server again on the same port and data. */
  resume(): Promise<void>;
  stop(): Promise<void>;
}

export interface DebianPostgresOptions {
  /** false only where durability is not what is measured: fsync=on is the production setting. */
  fsync?: boolean;
}

const NOBODY = { uid: 65534, gid: 65534 };

export function debianPostgresBinDir(): string {
  const root = '/usr/lib/postgresql';
  const majors = existsSync(root) ? readdirSync(root).filter((d) => existsSync(path.join(root, d, 'bin/initdb'))) : [];
  majors.sort((a, b) => Number(b) - Number(a));
  if (majors.length === 0) throw new Error(`PostgreSQL is not installed (no ${root}/*/bin/initdb): run \`npm run e2e:setup\` first`);
  return path.join(root, majors[0], 'bin');
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

export async function startDebianPostgres(options: DebianPostgresOptions = {}): Promise<DebianPostgres> {
  const bin = debianPostgresBinDir();
  const asUser = process.getuid?.() === 0 ? NOBODY : undefined;
  const dir = await mkdtemp(path.join(tmpdir(), 'memory-pg-'));
  if (asUser) await chown(dir, asUser.uid, asUser.gid);
  const data = path.join(dir, 'data');
  const port = await freeTcpPort();
  // A password, so the URL the tests pass around has one to keep out of logs.
  const password = `pw-${Math.random().toString(36).slice(2, 12)}`;
  let log = '';
  const append = (s: string) => (log += s);
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', TZ: 'UTC' };
  const pgCtl = (...args: string[]) => run(path.join(bin, 'pg_ctl'), ['-D', data, ...args], env, asUser, append);
  const stop = async () => {
    await pgCtl('stop', '-m', 'immediate').catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    // Trust on loopback for the set-up connection only; the worker's connections use the password (md5/scram both fine).
    await run(path.join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--no-sync'], env, asUser, append);
    const fsync = options.fsync === false ? 'off' : 'on';
    const startServer = () =>
      pgCtl('start', '-w', '-t', '60', '-l', path.join(dir, 'server.log'), '-o', `-h 127.0.0.1 -p ${port} -k ${dir} -c fsync=${fsync} -c max_connections=200`);
    await startServer();
    const admin = new pg.Client({ host: dir, port, user: 'postgres', database: 'postgres' });
    await admin.connect();
    try {
      await admin.query(`CREATE ROLE memory LOGIN PASSWORD '${password}'`);
      await admin.query('CREATE DATABASE memory OWNER memory');
      const { rows } = await admin.query<{ server_version: string }>('SHOW server_version');
      return {
        url: `postgresql://memory:${password}@127.0.0.1:${port}/memory`,
        port,
        version: rows[0].server_version,
        output: () => log,
        halt: () => pgCtl('stop', '-w', '-m', 'fast'),
        resume: startServer,
        stop,
      };
    } finally {
      await admin.end();
    }
  } catch (err) {
    await stop();
    throw new Error(`PostgreSQL did not start: ${(err as Error).message}\n${log}`, { cause: err });
  }
}
