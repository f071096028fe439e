/**
 * The token server against hostile and broken HTTP over raw TCP: malformed request targets, odd methods and
 * headers, bodies of every size and type, slow clients. Whatever arrives, the server answers 4xx (never 5xx, never
 * a crash or a hang) and afterwards still issues a valid token.
 */
import { connect, type Socket } from 'node:net';
import { TokenVerifier } from 'livekit-server-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWebServer, type RunningWebServer, type WebTimeouts } from '../../src/web/app.js';
import { captureLogger, closedLoopbackPort, TEST_API_KEY, TEST_SECRET, testConfig } from './helpers.js';

/** Short bounds so slow-client tests take seconds; the defaults are 10 s / 15 s. */
const TIMEOUTS: WebTimeouts = { headersMs: 1_500, requestMs: 2_500, checkIntervalMs: 250, idleMs: 5_000 };

let web: RunningWebServer;
const logger = captureLogger();

interface RawResponse {
  /** Status of the first response, undefined when the server sent none. */
  status?: number;
  head: string;
  body: string;
  /** The server closed the connection. */
  closed: boolean;
  elapsedMs: number;
}

function parseResponse(data: Buffer): { status: number; head: string; body: string; complete: boolean } | undefined {
  const text = data.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const head = text.slice(0, end);
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1]);
  if (!Number.isFinite(status)) return undefined;
  const length = /\r\ncontent-length: *(\d+)/i.exec(head);
  const body = text.slice(end + 4);
  const complete = length ? body.length >= Number(length[1]) : false;
  return { status, head, body: length ? body.slice(0, Number(length[1])) : body, complete };
}

/**
 * Sends raw bytes (each chunk after `gapMs`), then reads until the server closes the connection, a complete
 * response has arrived, or `waitMs` passes. Socket errors (the server resetting a connection it refused) are
 * expected outcomes here, not test failures.
 */
function rawExchange(
  chunks: ReadonlyArray<string | Buffer>,
  { gapMs = 0, waitMs = 5_000 }: { gapMs?: number; waitMs?: number } = {},
): Promise<RawResponse> {
  const started = Date.now();
  return new Promise((resolve) => {
    const socket: Socket = connect(web.port, '127.0.0.1');
    const received: Buffer[] = [];
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      socket.destroy();
      const parsed = parseResponse(Buffer.concat(received));
      resolve({
        status: parsed?.status,
        head: parsed?.head ?? '',
        body: parsed?.body ?? '',
        closed,
        elapsedMs: Date.now() - started,
      });
    };
    const deadline = setTimeout(() => finish(false), waitMs);
    socket.on('data', (chunk) => {
      received.push(chunk);
      if (parseResponse(Buffer.concat(received))?.complete) finish(false);
    });
    socket.on('close', () => finish(true));
    socket.on('error', () => finish(true));
    socket.on('connect', async () => {
      for (const chunk of chunks) {
        if (done || socket.destroyed) return;
        if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
        if (done || socket.destroyed) return;
        socket.write(chunk);
      }
    });
  });
}

const request = (lines: string[], body: string | Buffer = '') =>
  rawExchange([Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), Buffer.from(body)])]);

function post(contentType: string | undefined, body: string | Buffer, extraHeaders: string[] = []) {
  const headers = [
    'POST /api/token HTTP/1.1',
    'Host: 127.0.0.1',
    ...(contentType === undefined ? [] : [`Content-Type: ${contentType}`]),
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    ...extraHeaders,
  ];
  return request(headers, body);
}

/** The server is up and still does its job: health answers and a valid request gets a verifiable token. */
async function expectServerHealthy(): Promise<void> {
  const health = await fetch(`${web.url}/healthz`);
  expect(health.status).toBe(200);
  const res = await fetch(`${web.url}/api/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    // The identity is bound by the server (signed cookie), so only the room is asked for.
    body: JSON.stringify({ room: 'after-fuzz' }),
  });
  expect(res.status).toBe(200);
  const { token } = (await res.json()) as { token: string };
  const claims = await new TokenVerifier(TEST_API_KEY, TEST_SECRET).verify(token);
  expect(claims.video?.room).toBe('after-fuzz');
}

function expectClientError(res: RawResponse, what: string): void {
  expect(res.status, `${what}: ${res.head.split('\r\n')[0] ?? 'no response'}`).toBeGreaterThanOrEqual(400);
  expect(res.status, what).toBeLessThan(500);
}

beforeAll(async () => {
  web = await startWebServer(testConfig(await closedLoopbackPort()), { logger, timeouts: TIMEOUTS });
});

afterAll(async () => {
  await web?.close();
  // No request of any kind reached the 500 path.
  expect(logger.lines.filter((line) => line.includes('"level":50'))).toEqual([]);
});

describe('malformed request targets', () => {
  const targets: Array<[string, string]> = [
    ['bracket after a double slash', 'GET //[ HTTP/1.1'],
    ['bracket at the root', 'GET /[ HTTP/1.1'],
    ['broken percent escape', 'GET /%zz HTTP/1.1'],
    ['broken percent escape on the API', 'POST /api/%zz HTTP/1.1'],
    ['truncated percent escape', 'GET /% HTTP/1.1'],
    ['encoded NUL', 'GET /%00 HTTP/1.1'],
    ['encoded traversal', 'GET /%2e%2e/%2e%2e/package.json HTTP/1.1'],
    ['backslash traversal', 'GET /..%5c..%5cpackage.json HTTP/1.1'],
    ['double-encoded traversal', 'GET /%252e%252e/package.json HTTP/1.1'],
    ['overlong UTF-8', 'GET /%c0%ae%c0%ae/package.json HTTP/1.1'],
    ['absolute-form to another host', 'GET http://evil.example/../../package.json HTTP/1.1'],
    ['absolute-form with a bad port', 'GET http://127.0.0.1:99999/ HTTP/1.1'],
    ['authority-form', 'CONNECT 127.0.0.1:22 HTTP/1.1'],
    ['asterisk-form on GET', 'GET * HTTP/1.1'],
    ['asterisk-form OPTIONS', 'OPTIONS * HTTP/1.1'],
    ['no leading slash', 'GET healthz HTTP/1.1'],
    ['empty target', 'GET  HTTP/1.1'],
    ['raw space in target', 'GET /a b HTTP/1.1'],
    ['raw control character', 'GET /\x01 HTTP/1.1'],
    ['raw non-ASCII byte', 'GET /\xff\xfe HTTP/1.1'],
    ['semicolon params', 'GET /;a=b/..;/package.json HTTP/1.1'],
    ['very long path (64 KiB)', `GET /${'a'.repeat(64 * 1024)} HTTP/1.1`],
    ['very long API path (8 KiB)', `GET /api/${'x/'.repeat(4 * 1024)} HTTP/1.1`],
    ['many slashes', `GET ${'/'.repeat(5_000)} HTTP/1.1`],
    ['unknown HTTP version', 'GET / HTTP/9.9'],
    ['lower-case method', 'get / HTTP/1.1'],
    ['unknown method', 'FROB / HTTP/1.1'],
    ['very long method', `${'A'.repeat(10_000)} / HTTP/1.1`],
    ['garbage request line', '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03'],
  ];
  for (const [what, line] of targets) {
    it(`answers a ${what} with a 4xx`, async () => {
      const res = await request([line, 'Host: 127.0.0.1', 'Connection: close']);
      expectClientError(res, what);
    });
  }

  // Odd but well-formed: these get an ordinary answer, which must still never be a 5xx.
  const oddButValid: Array<[string, string]> = [
    ['fragment', 'GET /#frag HTTP/1.1'],
    ['garbage query', 'GET /healthz?%zz=%zz&&&==&a[b][c]=1 HTTP/1.1'],
    ['request line without a version', 'GET /healthz'],
  ];
  for (const [what, line] of oddButValid) {
    it(`answers a ${what} without a server error`, async () => {
      const res = await request([line, 'Host: 127.0.0.1', 'Connection: close']);
      expect(res.status, what).toBeLessThan(500);
      expect(res.status, what).toBeGreaterThanOrEqual(200);
    });
  }

  it('still serves a valid token request afterwards', expectServerHealthy);
});

describe('odd methods and headers', () => {
  const cases: Array<[string, string[], string?]> = [
    ['PUT on the token route', ['PUT /api/token HTTP/1.1', 'Host: x', 'Content-Length: 0']],
    ['DELETE on the token route', ['DELETE /api/token HTTP/1.1', 'Host: x']],
    ['PATCH on a static file', ['PATCH /app.js HTTP/1.1', 'Host: x', 'Content-Length: 0']],
    ['TRACE', ['TRACE / HTTP/1.1', 'Host: x']],
    ['PROPFIND', ['PROPFIND / HTTP/1.1', 'Host: x']],
    ['QUERY without a content type', ['QUERY /api/token HTTP/1.1', 'Host: x', 'Content-Length: 2'], '{}'],
    ['no Host header', ['POST /api/token HTTP/1.1', 'Content-Type: application/json', 'Content-Length: 2'], '{}'],
    ['a header without a colon', ['GET / HTTP/1.1', 'Host: x', 'NoColonHere']],
    ['a space before the colon', ['GET / HTTP/1.1', 'Host : x']],
    ['a NUL in a header value', ['GET / HTTP/1.1', 'Host: x', 'X-A: a\x00b']],
    ['obsolete header folding', ['GET / HTTP/1.1', 'Host: x', 'X-A: a', ' folded']],
    ['a 64 KiB header', ['GET / HTTP/1.1', 'Host: x', `X-Big: ${'b'.repeat(64 * 1024)}`]],
    ['2,000 headers', ['GET / HTTP/1.1', 'Host: x', ...Array.from({ length: 2_000 }, (_, i) => `X-${i}: ${i}`)]],
    ['a negative Content-Length', ['POST /api/token HTTP/1.1', 'Host: x', 'Content-Length: -1']],
    ['a non-numeric Content-Length', ['POST /api/token HTTP/1.1', 'Host: x', 'Content-Length: lots']],
    [
      'two different Content-Lengths',
      [
        'POST /api/token HTTP/1.1',
        'Host: x',
        'Content-Type: application/json',
        'Content-Length: 2',
        'Content-Length: 3',
      ],
      '{}',
    ],
    [
      'Content-Length and chunked together (request smuggling)',
      [
        'POST /api/token HTTP/1.1',
        'Host: x',
        'Content-Type: application/json',
        'Content-Length: 4',
        'Transfer-Encoding: chunked',
      ],
      '0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n',
    ],
    ['an unknown Transfer-Encoding', ['POST /api/token HTTP/1.1', 'Host: x', 'Transfer-Encoding: gzip, zork'], 'x'],
    [
      'malformed chunk sizes',
      ['POST /api/token HTTP/1.1', 'Host: x', 'Content-Type: application/json', 'Transfer-Encoding: chunked'],
      'zz\r\n{}\r\n0\r\n\r\n',
    ],
    [
      'a compressed body the server cannot read',
      [
        'POST /api/token HTTP/1.1',
        'Host: x',
        'Content-Type: application/json',
        'Content-Encoding: gzip',
        'Content-Length: 4',
      ],
      '\x1f\x8b\x08\x00',
    ],
    [
      'an Expect header the server does not meet',
      ['POST /api/token HTTP/1.1', 'Host: x', 'Expect: 200-ok', 'Content-Length: 0'],
    ],
    [
      'an Upgrade to websocket on the token route',
      ['GET /api/token HTTP/1.1', 'Host: x', 'Connection: Upgrade', 'Upgrade: websocket'],
    ],
    ['an unsatisfiable Range', ['GET /app.js HTTP/1.1', 'Host: x', 'Range: bytes=999999999-']],
    ['a malformed Range', ['GET /app.js HTTP/1.1', 'Host: x', 'Range: bytes=--5,zz']],
    [
      'a garbage If-Modified-Since on a missing file',
      ['GET /nope.js HTTP/1.1', 'Host: x', 'If-Modified-Since: yesterday'],
    ],
  ];
  for (const [what, lines, body] of cases) {
    it(`answers ${what} with a 4xx`, async () => {
      const res = await request([...lines, 'Connection: close'], body ?? '');
      expectClientError(res, what);
    });
  }

  it('still serves a valid token request afterwards', expectServerHealthy);
});

describe('bodies of every size and type', () => {
  const contentTypes = [
    undefined,
    'application/json',
    'application/json; charset=utf-8',
    'APPLICATION/JSON',
    'application/json; charset=utf-16',
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=zz',
    'application/octet-stream',
    'application/jsonp',
    ';;;',
    '',
    'application/json\x7f',
  ];
  const bodies: Array<[string, string | Buffer]> = [
    ['invalid JSON', '{not json'],
    ['truncated JSON', '{"room": "a'],
    ['a JSON string', '"room"'],
    ['a JSON number', '42'],
    ['JSON null', 'null'],
    ['JSON true', 'true'],
    ['a JSON array', '[{"room":"a"}]'],
    ['room as an array', '{"room":["a"]}'],
    ['room as an object', '{"room":{"toString":"a"}}'],
    ['identity as a number', '{"identity":1e309}'],
    ['a __proto__ key', '{"__proto__":{"room":"polluted"},"room":"a"}'],
    ['a constructor.prototype key', '{"constructor":{"prototype":{"room":"polluted"}}}'],
    ['deeply nested arrays', `${'['.repeat(2_000)}${']'.repeat(2_000)}`],
    ['deeply nested objects', `${'{"a":'.repeat(800)}1${'}'.repeat(800)}`],
    ['random bytes', Buffer.from(Array.from({ length: 2_000 }, (_, i) => (i * 131 + 7) % 256))],
    [
      'invalid UTF-8 in the room name',
      Buffer.concat([Buffer.from('{"room":"a'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]),
    ],
    ['a UTF-16 BOM body', Buffer.from('\ufeff{"room":"a"}', 'utf16le')],
    ['exactly the 4 KiB limit of spaces around a bad room', `{"room":"a b"}${' '.repeat(4096 - 14)}`],
    ['one byte over the limit', `{"room":"ok"}${' '.repeat(4097 - 13)}`],
    ['64 KiB', `{"pad":"${'p'.repeat(64 * 1024)}"}`],
    ['1 MiB', Buffer.alloc(1024 * 1024, 0x20)],
  ];

  for (const contentType of contentTypes) {
    it(`answers every bad body sent as ${JSON.stringify(contentType ?? 'no content type')} with a 4xx`, async () => {
      for (const [what, body] of bodies) {
        const res = await post(contentType, body);
        expectClientError(res, `${what} as ${String(contentType)}`);
        if (res.status !== undefined && res.body.startsWith('{')) {
          expect(JSON.parse(res.body), what).toHaveProperty('error');
        }
      }
    });
  }

  it('answers a 10 MiB body declared up front with 413 before reading it', async () => {
    const headers = Buffer.from(
      'POST /api/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
        `Content-Length: ${10 * 1024 * 1024}\r\nConnection: close\r\n\r\n`,
    );
    // Only the headers go out: the answer must not wait for 10 MiB that never comes.
    const res = await rawExchange([headers], { waitMs: 3_000 });
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body)).toEqual({ error: 'request body must be at most 4096 bytes' });
  });

  it('answers an endless chunked body with 413 once it passes the limit', async () => {
    const chunk = `400\r\n${' '.repeat(0x400)}\r\n`;
    const res = await rawExchange(
      [
        'POST /api/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n',
        ...Array.from({ length: 64 }, () => chunk),
      ],
      { gapMs: 5 },
    );
    expect(res.status).toBe(413);
  });

  it('answers a body shorter than its Content-Length once the client gives up sending', async () => {
    const res = await rawExchange(
      ['POST /api/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{}'],
      { waitMs: TIMEOUTS.requestMs + 4_000 },
    );
    // The request timeout ends the wait: 408, never a socket held open forever.
    expect(res.status).toBe(408);
  });

  it('answers an empty JSON body and a missing body alike: both names generated', async () => {
    for (const contentType of [undefined, 'application/json']) {
      const res = await post(contentType, '');
      expect(res.status, String(contentType)).toBe(200);
      expect(JSON.parse(res.body)).toMatchObject({ room: expect.stringMatching(/^voice-/) });
    }
  });

  it('does not pollute prototypes through JSON keys', async () => {
    await post('application/json', '{"__proto__":{"polluted":true}}');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('still serves a valid token request afterwards', expectServerHealthy);
});

describe('identity cookies of every shape', () => {
  // Whatever the Cookie header holds, the answer is a fresh, server-chosen identity (never 5xx, never the sent value).
  const cookies: Array<[string, string]> = [
    ['an unsigned identity', 'voice_caller=caller-AAAAAAAAAAAAAAAAAAAAAA'],
    ['a forged signature', 'voice_caller=caller-AAAAAAAAAAAAAAAAAAAAAA.forgedSignature'],
    ['an empty value', 'voice_caller='],
    ['percent-encoding garbage', 'voice_caller=%E0%A4%A'],
    ['a quoted value', 'voice_caller="caller-x.y"'],
    ['no equals sign', 'voice_caller'],
    ['the cookie many times', Array.from({ length: 200 }, (_, i) => `voice_caller=v${i}`).join('; ')],
    ['an 8 KiB value', `voice_caller=${'c'.repeat(8 * 1024)}`],
  ];
  for (const [what, cookie] of cookies) {
    it(`answers a token request with ${what} by binding a new identity`, async () => {
      const res = await post('application/json', '{"room":"cookie-room"}', [`Cookie: ${cookie}`]);
      expect(res.status, what).toBe(200);
      const { identity } = JSON.parse(res.body) as { identity: string };
      expect(identity).toMatch(/^caller-[A-Za-z0-9_-]{22}$/);
      expect(res.head.toLowerCase()).toContain('set-cookie: voice_caller=');
    });
  }

  it('refuses Cookie headers the HTTP parser cannot take with a 4xx', async () => {
    // Node's header limit (16 KiB) answers 431; a control character makes the header invalid (400).
    expectClientError(await post('application/json', '{}', [`Cookie: voice_caller=${'c'.repeat(32 * 1024)}`]), 'a 32 KiB cookie');
    expectClientError(await post('application/json', '{}', ['Cookie: voice_caller=a\x01b']), 'a control character');
  });

  it('still serves a valid token request afterwards', expectServerHealthy);
});

describe('slow clients', () => {
  it('drops clients that trickle their headers (slowloris) while serving everyone else', async () => {
    const header = 'GET /healthz HTTP/1.1\r\nHost: x\r\n' + 'X-Slow: 1\r\n'.repeat(200);
    const trickles = Array.from({ length: 20 }, () =>
      rawExchange(header.match(/[\s\S]{1,8}/g) ?? [], { gapMs: 100, waitMs: 20_000 }),
    );
    // While twenty connections hang on their headers, a normal caller gets a token at once.
    const started = Date.now();
    await expectServerHealthy();
    expect(Date.now() - started).toBeLessThan(2_000);

    for (const res of await Promise.all(trickles)) {
      // Cut off by the headers timeout (1.5 s, checked every 0.25 s), long before the ~31 s the headers would take.
      expect(res.status).toBe(408);
      expect(res.elapsedMs).toBeGreaterThanOrEqual(TIMEOUTS.headersMs - 100);
      expect(res.elapsedMs).toBeLessThan(8_000);
    }
  });

  it('drops a client that trickles its body', async () => {
    const body = '{"room":"slow-room","identity":"slow"}';
    const res = await rawExchange(
      [
        'POST /api/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
          `Content-Length: ${body.length}\r\n\r\n`,
        ...body.split(''),
      ],
      { gapMs: 250, waitMs: 20_000 },
    );
    expect(res.status).toBe(408);
    expect(res.elapsedMs).toBeLessThan(8_000);
  });

  it('times out a connection that never sends a byte', async () => {
    const res = await rawExchange([], { waitMs: 20_000 });
    expect(res.status).toBe(408);
    expect(res.elapsedMs).toBeLessThan(TIMEOUTS.headersMs + 4_000);
  });

  it('still serves a valid token request afterwards', expectServerHealthy);
});
