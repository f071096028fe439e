// Self-signed TLS for local stand-ins. The cartesia plugin's /tts/bytes client is
// hard-wired to node:https, so that path can only be exercised against a TLS server.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface TlsMaterial {
  key: string;
  cert: string;
}

/** Make a one-day certificate for 127.0.0.1/localhost with the openssl CLI. */
export function makeSelfSignedCert(): TlsMaterial {
  const dir = mkdtempSync(path.join(tmpdir(), 'harness-tls-'));
  try {
    const keyPath = path.join(dir, 'key.pem');
    const certPath = path.join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', keyPath, '-out', certPath, '-days', '1', '-subj', '/CN=127.0.0.1',
        '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
      ],
      { stdio: 'ignore' },
    );
    return { key: readFileSync(keyPath, 'utf8'), cert: readFileSync(certPath, 'utf8'), };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Trust `cert` for requests made through node's default https agent (what the plugin
 * uses), without turning verification off. Returns a function that undoes it.
 */
export function trustInGlobalHttpsAgent(cert: string): () => void {
  const opts = https.globalAgent.options;
  const previous = opts.ca;
  const current = previous === undefined ? [] : Array.isArray(previous) ? previous : [previous];
  opts.ca = [...current, cert];
  return () => {
    opts.ca = previous;
  };
}
