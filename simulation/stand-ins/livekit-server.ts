/**
 * Minimal stand-in for a LiveKit server's agent-worker endpoint, for tests.
 *
 * Speaks the real worker protocol that @livekit/agents 1.8 uses
 * (dist/worker.js): the worker opens a WebSocket to `<LIVEKIT_URL>/agent` with
 * `Authorization: Bearer <JWT>` signed by the API key/secret and carrying the
 * `video.agent` grant, then exchanges binary protobuf messages
 * (`WorkerMessage` up, `ServerMessage` down, from @livekit/protocol):
 *
 *   register  (RegisterWorkerRequest)  -> register (RegisterWorkerResponse{workerId, serverInfo})
 *   ping      (WorkerPing{timestamp})   -> pong     (WorkerPong{lastTimestamp, timestamp})
 *   updateWorker / updateJob / others  -> recorded, no answer
 *
 * Until the register response arrives the worker counts as "connecting", and
 * its health endpoint answers 503; afterwards 200. That is all this stand-in
 * is for: it never assigns jobs. Everything else (HTTP, /rtc) is 404.
 *
 * ```ts
 * const lk = await startLiveKitServer({ apiKey: 'devkey', apiSecret: 'secret' });
 * process.env.LIVEKIT_URL = lk.url;      // ws://127.0.0.1:<port>
 * await lk.waitForWorkers(1);
 * lk.workers[0].agentName;
 * await lk.close();
 * ```
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { ServerInfo, ServerInfo_Edition, ServerMessage, WorkerMessage } from '@livekit/protocol';
import { TokenVerifier } from 'livekit-server-sdk';
import { WebSocketServer, type WebSocket } from 'ws';

export interface LiveKitServerOptions {
  apiKey: string;
  apiSecret: string;
  /** Delay before answering register, to test "connected but not yet registered". */
  registerDelayMs?: number;
}

export interface RegisteredWorker {
  workerId: string;
  agentName: string;
  version: string;
  /** Whether its WebSocket is still open. */
  connected: boolean;
  /** Every message case received from it, in order (register, updateWorker, ...). */
  received: string[];
}

export interface LiveKitServer {
  /** ws://127.0.0.1:<port> — what LIVEKIT_URL should be. */
  url: string;
  port: number;
  workers: RegisteredWorker[];
  /** Upgrade attempts refused for a bad/missing token. */
  rejected: number;
  waitForWorkers(count: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

async function authorize(req: IncomingMessage, options: LiveKitServerOptions): Promise<boolean> {
  const header = req.headers.authorization ?? '';
  const match = /^Bearer (.+)$/.exec(header);
  if (!match?.[1]) return false;
  try {
    const claims = await new TokenVerifier(options.apiKey, options.apiSecret).verify(match[1]);
    return claims.video?.agent === true;
  } catch {
    return false;
  }
}

function refuse(socket: Socket, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

export async function startLiveKitServer(options: LiveKitServerOptions): Promise<LiveKitServer> {
  const workers: RegisteredWorker[] = [];
  const sockets = new Set<WebSocket>();
  const waiters: Array<() => void> = [];
  let nextWorker = 1;
  let rejected = 0;

  const http: Server = createServer((_req, res) => {
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('not found');
  });
  const wss = new WebSocketServer({ noServer: true });

  http.on('upgrade', (req, socket: Socket, head) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path !== '/agent') {
      refuse(socket, 404, 'Not Found');
      return;
    }
    void authorize(req, options).then((ok) => {
      if (!ok) {
        rejected += 1;
        refuse(socket, 401, 'Unauthorized');
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => onWorker(ws));
    });
  });

  function send(ws: WebSocket, message: ServerMessage): void {
    if (ws.readyState === ws.OPEN) ws.send(message.toBinary());
  }

  function onWorker(ws: WebSocket): void {
    sockets.add(ws);
    let worker: RegisteredWorker | undefined;
    ws.on('message', (data, isBinary) => {
      if (!isBinary) return; // the real server ignores text frames too
      const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      let msg: WorkerMessage;
      try {
        msg = WorkerMessage.fromBinary(bytes);
      } catch {
        ws.close(1003, 'bad protobuf');
        return;
      }
      const kind = msg.message.case ?? 'unknown';
      worker?.received.push(kind);
      switch (msg.message.case) {
        case 'register': {
          const request = msg.message.value;
          const registered: RegisteredWorker = {
            workerId: `AW_test_${nextWorker++}`,
            agentName: request.agentName,
            version: request.version,
            connected: true,
            received: ['register'],
          };
          worker = registered;
          setTimeout(() => {
            send(
              ws,
              new ServerMessage({
                message: {
                  case: 'register',
                  value: {
                    workerId: registered.workerId,
                    serverInfo: new ServerInfo({
                      edition: ServerInfo_Edition.Standard,
                      version: '0.0.0-test',
                      protocol: 16,
                      nodeId: 'ND_test',
                    }),
                  },
                },
              }),
            );
            workers.push(registered);
            for (const wake of waiters.splice(0)) wake();
          }, options.registerDelayMs ?? 0);
          break;
        }
        case 'ping':
          send(
            ws,
            new ServerMessage({
              message: {
                case: 'pong',
                value: { lastTimestamp: msg.message.value.timestamp, timestamp: BigInt(Date.now()) },
              },
            }),
          );
          break;
        default:
          break;
      }
    });
    ws.on('close', () => {
      sockets.delete(ws);
      if (worker) worker.connected = false;
      for (const wake of waiters.splice(0)) wake();
    });
  }

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = http.address() as AddressInfo;

  return {
    url: `ws://127.0.0.1:${port}`,
    port,
    workers,
    get rejected() {
      return rejected;
    },
    async waitForWorkers(count, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (workers.filter((w) => w.connected).length < count) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`timed out waiting for ${count} registered worker(s)`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(left, 500));
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    },
    async close() {
      for (const ws of sockets) ws.terminate();
      wss.close();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
