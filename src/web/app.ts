/**
 * The web server: voice room page, LiveKit browser SDK, token endpoint, health.
 * fastify does the HTTP work (routing, URL decoding, body limits, content-type
 * parsing, client errors, timeouts) so that no request, however malformed,
 * reaches hand-written parsing code; every failure becomes a JSON 4xx.
 */
import { type IncomingMessage, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AddressInfo } from 'node:net';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import type { WebConfig } from './config.js';
import { createIdentityBinding, type ResolveIdentity } from './identity.js';
import { createWebLogger, type WebLogger } from './logger.js';
import { BASE_HEADERS, HttpError, sendError, sendJson } from './replies.js';
import { PUBLIC_DIR, registerStaticAssets } from './static.js';
import { MAX_TOKEN_BODY_BYTES, registerTokenRoute } from './token-route.js';

/** Bounds on slow clients (slowloris): a request's headers and whole request must arrive within these. */
export interface WebTimeouts {
  headersMs: number;
  requestMs: number;
  /** How often Node checks the two bounds above (its default, 30 s, would let a slow client stay that long). */
  checkIntervalMs: number;
  /** An open socket with no traffic at all is closed after this. */
  idleMs: number;
}

export const DEFAULT_WEB_TIMEOUTS: WebTimeouts = {
  headersMs: 10_000,
  requestMs: 15_000,
  checkIntervalMs: 1_000,
  idleMs: 30_000,
};

export interface WebServerOptions {
  logger?: WebLogger;
  publicDir?: string;
  timeouts?: Partial<WebTimeouts>;
  /**
   * A deployment with its own login: returns the signed-in user's id, which becomes their LiveKit identity and so
   * the key to their memory (see ./identity.ts). Replaces the identity cookie. Load the config with
   * `loadWebConfig(env, { customIdentity: true })` so WEB_COOKIE_SECRET is not required.
   */
  resolveIdentity?: ResolveIdentity;
}

/** Messages for fastify's own client errors, in the `{error}` shape and wording of the API docs. */
function clientErrorMessage(error: FastifyError, status: number): string {
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return 'request body must be JSON (Content-Type: application/json)';
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return `request body must be at most ${MAX_TOKEN_BODY_BYTES} bytes`;
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return 'request body is not valid JSON';
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return 'Content-Length does not match the body';
    default:
      return (STATUS_CODES[status] ?? 'bad request').toLowerCase();
  }
}

function handleError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (error instanceof HttpError) return sendError(reply, error.statusCode, error.message);
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    request.log.debug({ code: error.code, status }, 'client error');
    return sendError(reply, status, clientErrorMessage(error, status));
  }
  // The failure kind only: an error from token signing must not put key material in logs.
  request.log.error({ errorName: error.name, code: error.code }, `request ${request.method} failed: ${error.name}`);
  return sendError(reply, 500, 'internal server error');
}

function registerJsonParser(app: FastifyInstance): void {
  // Only JSON bodies: requiring it makes cross-site callers send a CORS preflight, which this server never
  // approves, so another origin cannot mint tokens with a plain form post. Any other type is a 415.
  app.removeAllContentTypeParsers();
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    // An empty JSON body means "no names given", like no body at all.
    if (text.trim() === '') return done(null, undefined);
    parseJson(request, text, done);
  });
}

export async function createWebApp(config: WebConfig, options: WebServerOptions = {}): Promise<FastifyInstance> {
  const logger = options.logger ?? createWebLogger();
  const timeouts = { ...DEFAULT_WEB_TIMEOUTS, ...options.timeouts };
  const app = Fastify({
    // Widened to fastify's logger interface so routes and plugins type against the default instance.
    loggerInstance: logger as FastifyBaseLogger,
    // Per-request access lines would log every fuzzing probe at info; errors are logged in handleError.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: MAX_TOKEN_BODY_BYTES,
    requestTimeout: timeouts.requestMs,
    connectionTimeout: timeouts.idleMs,
    http: {
      headersTimeout: timeouts.headersMs,
      requestTimeout: timeouts.requestMs,
      connectionsCheckingInterval: timeouts.checkIntervalMs,
    },
    // Request ids are not used by anyone and a client-chosen one would only add noise to the log.
    requestIdHeader: false,
    frameworkErrors: (_error, _request, reply) => {
      void sendError(reply, 400, 'malformed request target');
    },
  });
  app.addHook('onRequest', async (request, reply) => {
    void reply.headers(BASE_HEADERS);
    // Origin-form only (`/path`): `*` and absolute-form targets would otherwise be routed by accident.
    if (!request.raw.url?.startsWith('/')) return sendError(reply, 400, 'malformed request target');
  });
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, 404, request.url.startsWith('/api/') ? 'unknown API endpoint' : 'not found'),
  );
  registerJsonParser(app);
  // Node hands CONNECT to a 'connect' listener and, without one, drops the socket unanswered; this is no proxy.
  app.server.on('connect', (_request: IncomingMessage, socket: Duplex) => {
    socket.end(
      'HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD, POST\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
    );
  });

  app.get('/healthz', (_request, reply) => sendJson(reply, 200, { status: 'ok' }));
  registerTokenRoute(app, config, await createIdentityBinding(app, config, options.resolveIdentity));
  if (!(await registerStaticAssets(app, options.publicDir ?? PUBLIC_DIR))) {
    logger.error('livekit-client is not installed: the voice room page cannot load the LiveKit SDK (npm install)');
  }
  return app;
}

export interface RunningWebServer {
  app: FastifyInstance;
  /** Base URL, e.g. http://127.0.0.1:3000 */
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startWebServer(config: WebConfig, options: WebServerOptions = {}): Promise<RunningWebServer> {
  const app = await createWebApp(config, options);
  await app.listen({ port: config.port, host: config.host });
  const { port } = app.server.address() as AddressInfo;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  return {
    app,
    url: `http://${host}:${port}`,
    port,
    close: async () => {
      // Keep-alive sockets from browsers would otherwise hold close() open.
      app.server.closeAllConnections();
      await app.close();
    },
  };
}
