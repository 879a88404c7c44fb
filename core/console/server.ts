/**
 * The web console's HTTP server: the API of core/api/definition.ts under
 * /api, relay events as server-sent events at /api/events, and the built
 * React UI everywhere else. Request checks are in request-guard.ts.
 *
 * Routes come from the method table: a GET method takes its input from
 * the query string, a POST method from a JSON body. Results are JSON,
 * except exportMessage, which sends the .eml file itself. Errors are
 * `{"error": {"code", "message", "field"?, "value"?}}` with a 4xx or 5xx
 * status.
 *
 * The event stream takes the same bearer token as every other call. The
 * UI reads it with fetch() and a stream reader instead of EventSource,
 * because EventSource cannot send an Authorization header, and a token in
 * the URL would end up in the browser history and in proxy logs.
 */
import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { API_EVENTS_PATH, API_METHODS, ApiError } from '../api/definition.ts';
import type { ApiMethodName, ApiResult, RelayApi } from '../api/definition.ts';
import type { ExportedMessage } from '../api/model.ts';
import { invokeApiMethod } from './handlers.ts';
import { checkJsonBody, checkSameOrigin, checkToken, isAllowedHost } from './request-guard.ts';
import { serveStatic } from './static-files.ts';

// Larger bodies are not settings or a test address; reject them unread.
const MAX_BODY_BYTES = 64 * 1024;
// Idle streams get a comment line this often, so proxies keep them open.
const HEARTBEAT_MS = 15 * 1000;
// Each open console window keeps one stream open, so more than this
// means streams are leaking.
const MAX_EVENT_STREAMS = 32;
// How long a browser waits before it reconnects a broken stream.
const RECONNECT_MS = 3 * 1000;

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

export interface ConsoleServerOptions {
  readonly api: RelayApi;
  readonly token: string;
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** Folder of the built UI. */
  readonly staticDir: string;
  /** Receives an unexpected failure; the client gets a generic 500. */
  readonly onError?: ((error: Error) => void) | undefined;
}

export interface ConsoleServer {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

interface Route {
  readonly name: ApiMethodName;
  readonly method: 'GET' | 'POST';
}

/** Routes by `METHOD /path`; one path may serve a GET and a POST method. */
const ROUTES = new Map<string, Route>(
  Object.entries(API_METHODS).map(([name, spec]) => [
    `${spec.http.method} ${spec.http.path}`,
    { name: name as ApiMethodName, method: spec.http.method },
  ]),
);

function allowedMethods(pathname: string): string[] {
  return Object.values(API_METHODS)
    .filter((spec) => spec.http.path === pathname)
    .map((spec) => spec.http.method);
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
  });
  response.end(text);
}

function sendError(response: ServerResponse, error: ApiError, extraHeaders: Record<string, string> = {}): void {
  for (const [name, value] of Object.entries(extraHeaders)) response.setHeader(name, value);
  sendJson(response, error.httpStatus, { error: error.toBody() });
}

async function readJsonBody(request: IncomingMessage): Promise<unknown> {
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) {
    throw new ApiError({ code: 'EINVALID', message: `The request body is larger than ${MAX_BODY_BYTES} bytes.` });
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) {
      throw new ApiError({ code: 'EINVALID', message: `The request body is larger than ${MAX_BODY_BYTES} bytes.` });
    }
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ApiError({ code: 'EINVALID', message: `The request body is not valid JSON: ${(error as Error).message}` });
  }
}

function queryInput(url: URL): Record<string, string> {
  const input: Record<string, string> = {};
  for (const [key, value] of url.searchParams) input[key] = value;
  return input;
}

function sendResult(response: ServerResponse, route: Route, result: ApiResult<unknown>): void {
  if (!result.ok) {
    sendError(response, new ApiError(result.error));
    return;
  }
  if (API_METHODS[route.name].result === 'binary') {
    const file = result.value as ExportedMessage;
    response.writeHead(200, {
      'Content-Type': 'message/rfc822',
      'Content-Length': file.content.byteLength,
      'Content-Disposition': `attachment; filename="${file.fileName.replace(/[^A-Za-z0-9._-]/g, '_')}"`,
      'Cache-Control': 'no-store',
    });
    response.end(file.content);
    return;
  }
  sendJson(response, 200, { value: result.value });
}

export async function startConsoleServer(options: ConsoleServerOptions): Promise<ConsoleServer> {
  const streams = new Set<ServerResponse>();

  function openEventStream(request: IncomingMessage, response: ServerResponse): void {
    if (streams.size >= MAX_EVENT_STREAMS) {
      sendJson(response, 503, { error: { code: 'EINTERNAL', message: 'Too many open event streams; close other console windows.' } });
      return;
    }
    response.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
    });
    response.write(`retry: ${RECONNECT_MS}\n: connected\n\n`);
    streams.add(response);
    const unsubscribe = options.api.subscribe((event) => {
      response.write(`event: relay\ndata: ${JSON.stringify(event)}\n\n`);
    });
    const heartbeat = setInterval(() => response.write(': heartbeat\n\n'), HEARTBEAT_MS);
    heartbeat.unref();
    request.once('close', () => {
      clearInterval(heartbeat);
      unsubscribe();
      streams.delete(response);
    });
  }

  async function handleApi(request: IncomingMessage, response: ServerResponse, url: URL): Promise<void> {
    checkSameOrigin(request);
    checkToken(request, options.token);

    if (url.pathname === API_EVENTS_PATH) {
      if (request.method !== 'GET') throw methodNotAllowed('GET');
      openEventStream(request, response);
      return;
    }
    const route = ROUTES.get(`${request.method ?? ''} ${url.pathname}`);
    if (!route) {
      const allowed = allowedMethods(url.pathname);
      if (allowed.length > 0) throw methodNotAllowed(allowed.join(', '));
      throw new ApiError({ code: 'EUNKNOWN_METHOD', message: `There is no API at ${url.pathname}.` });
    }

    let input: unknown;
    if (route.method === 'POST') {
      checkJsonBody(request);
      input = await readJsonBody(request);
    } else {
      input = queryInput(url);
    }
    sendResult(response, route, await invokeApiMethod(options.api, route.name, input));
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) response.setHeader(name, value);
    if (!isAllowedHost(request.headers.host, options.host)) {
      response.writeHead(403, { 'Content-Type': 'text/plain; charset=utf-8' });
      response.end('This console answers only under its IP address, localhost or the machine name.\n');
      return;
    }

    const url = new URL(request.url ?? '/', 'http://console.invalid');
    if (url.pathname === '/api' || url.pathname.startsWith('/api/')) {
      try {
        await handleApi(request, response, url);
      } catch (error) {
        const apiError = error instanceof ApiError ? error : new ApiError({ code: 'EINTERNAL', message: (error as Error).message });
        const headers: Record<string, string> = {};
        if (apiError.code === 'EUNAUTHORIZED') headers['WWW-Authenticate'] = 'Bearer';
        if (apiError.code === 'EMETHOD') headers.Allow = String(apiError.value);
        if (!response.headersSent) sendError(response, apiError, headers);
        else response.end();
      }
      return;
    }
    await serveStatic(options.staticDir, request, response, url.pathname);
  }

  const server = http.createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      // The details (file paths among them) go to the relay's log, not to
      // a client that may not even have the token.
      options.onError?.(error as Error);
      const message = 'The web console could not answer this request; the activity log has the details.';
      if (!response.headersSent) sendJson(response, 500, { error: { code: 'EINTERNAL', message } });
      else response.end();
    });
  });
  // Slow-loris protection: a request must arrive whole within this time.
  server.requestTimeout = 30 * 1000;
  server.headersTimeout = 10 * 1000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;

  return {
    host: address.address,
    port: address.port,
    close: async () => {
      for (const stream of streams) stream.end();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

function methodNotAllowed(allowed: string): ApiError {
  return new ApiError({ code: 'EMETHOD', message: `Use ${allowed} for this address.`, value: allowed });
}
