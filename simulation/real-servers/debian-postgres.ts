/**
 * A throw-away cluster of the Debian `postgresql` package (/usr/lib/postgresql/<major>/bin, installed by
 * scripts/e2e/setup-25-postgres.sh) on loopback, for the memory store's e2e tests and benchmark. postgres.ts starts
 * the pgserver wheel's PostgreSQL for Letta instead (pgvector, only present after the Letta set-up).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { startPostgresCluster } from './postgres-cluster.js';

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

export function debianPostgresBinDir(): string {
  const root = '/usr/lib/postgresql';
  const majors = existsSync(root) ? readdirSync(root).filter((d) => existsSync(path.join(root, d, 'bin/initdb'))) : [];
  majors.sort((a, b) => Number(b) - Number(a));
  if (majors.length === 0) throw new Error(`PostgreSQL is not installed (no ${root}/*/bin/initdb): run \`npm run e2e:setup\` first`);
  return path.join(root, majors[0], 'bin');
}

export async function startDebianPostgres(options: DebianPostgresOptions = {}): Promise<DebianPostgres> {
  // A password, so the URL the tests pass around has one to keep out of logs.
  const password = `pw-${randomBytes(6).toString('hex')}`;
  const cluster = {
    binDir: debianPostgresBinDir(),
    superuser: 'postgres',
    // Trust for the set-up connection over the unix socket only; the worker's connections use the password.
    auth: ['--auth-local=trust', '--auth-host=scram-sha-256'],
    fsync: options.fsync !== false,
    tmpPrefix: 'memory-pg-',
    serverOptions: '-c max_connections=200',
  };
  return startPostgresCluster(cluster, async ({ port, dir, output, halt, resume, stop }) => {
    const admin = new pg.Client({ host: dir, port, user: 'postgres', database: 'postgres' });
    await admin.connect();
    try {
      await admin.query(`CREATE ROLE memory LOGIN PASSWORD '${password}'`);
      await admin.query('CREATE DATABASE memory OWNER memory');
      const { rows } = await admin.query<{ server_version: string }>('SHOW server_version');
      return { url: `postgresql://memory:${password}@127.0.0.1:${port}/memory`, port, version: rows[0].server_version, output, halt, resume, stop };
    } finally {
      await admin.end();
    }
  });
}
