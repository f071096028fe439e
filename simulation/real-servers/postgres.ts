/**
 * A throw-away PostgreSQL cluster with pgvector on loopback, from the binaries of the `pgserver` wheel that
 * `scripts/e2e/setup-30-letta.sh` installs into the Letta virtualenv (PostgreSQL 16.2 + pgvector 0.6.2).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { e2eCacheDir } from './e2e-cache.js';
import { startPostgresCluster } from './postgres-cluster.js';

export interface RealPostgres {
  /** postgresql://letta@127.0.0.1:<port>/letta (trust auth on loopback, no password). */
  uri: string;
  port: number;
  output(): string;
  stop(): Promise<void>;
}

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

export async function startRealPostgres(): Promise<RealPostgres> {
  const options = { binDir: pgBinDir(), superuser: 'letta', auth: ['--auth=trust'], fsync: false, tmpPrefix: 'letta-pg-' };
  return startPostgresCluster(options, async (cluster) => {
    const { port } = cluster;
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
    return { uri: `postgresql://letta@127.0.0.1:${port}/letta`, port, output: cluster.output, stop: cluster.stop };
  });
}
