/**
 * RelayApi over the web console's HTTP API, for the renderer in a browser
 * (and for tests in Node, which has the same fetch). Each call sends the
 * bearer token.
 *
 * The event feed is one fetch() stream of server-sent events, shared by
 * all subscribers. It is read with a stream reader, because EventSource
 * cannot send the Authorization header.
 *
 * A broken feed reconnects with doubling delays up to MAX_RECONNECT_DELAY_MS,
 * and gives up after MAX_RECONNECT_ATTEMPTS failures in a row or at once
 * on a 401; onConnectionChange tells the UI either way.
 */
import { API_EVENTS_PATH, API_METHODS, createApiClient } from './definition.ts';
import type { ApiErrorBody, ApiMethodName, ApiResult, RelayApi, RelayEventListener } from './definition.ts';
import type { RelayEventView } from './model.ts';

const FIRST_RECONNECT_DELAY_MS = 1000;
const MAX_RECONNECT_DELAY_MS = 30 * 1000;
// With the delay capped at 30 s this is about 50 minutes of trying.
const MAX_RECONNECT_ATTEMPTS = 100;

export type ConnectionState = 'connecting' | 'connected' | 'disconnected' | 'unauthorized';

export interface HttpClientOptions {
  /** Origin of the console, e.g. http://127.0.0.1:8025; '' for the page's own origin. */
  readonly baseUrl: string;
  readonly token: string;
  readonly fetch?: typeof fetch;
  /** State of the event feed, for a "connection lost" banner. */
  readonly onConnectionChange?: (state: ConnectionState) => void;
}

function unreachable(error: unknown): ApiResult<never> {
  const reason = error instanceof Error ? error.message : String(error);
  return {
    ok: false,
    error: { code: 'EUNREACHABLE', message: `The relay did not respond (${reason}). Check that it is still running.` },
  };
}

async function errorFrom(response: Response): Promise<ApiResult<never>> {
  const text = await response.text();
  try {
    const body = JSON.parse(text) as { error?: ApiErrorBody };
    if (body.error?.code) return { ok: false, error: body.error };
  } catch {
    // Not JSON: a proxy's or the host check's page; its text is the message.
  }
  return { ok: false, error: { code: 'EINTERNAL', message: `HTTP ${response.status}: ${text.slice(0, 200)}` } };
}

function fileNameFrom(response: Response, fallback: string): string {
  const disposition = response.headers.get('content-disposition') ?? '';
  return /filename="([^"]+)"/.exec(disposition)?.[1] ?? fallback;
}

function queryString(input: unknown): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries((input ?? {}) as Record<string, unknown>)) {
    if (value !== undefined && value !== null) params.set(key, String(value));
  }
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
}

/** Splits a server-sent event stream into the data of each `relay` event. */
export function parseEventBlock(block: string): RelayEventView | null {
  let type = 'message';
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith('event:')) type = line.slice(6).trim();
    else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
  }
  if (type !== 'relay' || data.length === 0) return null;
  return JSON.parse(data.join('\n')) as RelayEventView;
}

export function createHttpClient(options: HttpClientOptions): RelayApi {
  const fetchFunction = options.fetch ?? ((...args: Parameters<typeof fetch>) => fetch(...args));
  const authorization = { Authorization: `Bearer ${options.token}` };

  async function call(name: ApiMethodName, input: unknown): Promise<ApiResult<unknown>> {
    const spec = API_METHODS[name];
    const isGet = spec.http.method === 'GET';
    const url = options.baseUrl + spec.http.path + (isGet ? queryString(input) : '');
    let response: Response;
    try {
      response = await fetchFunction(url, {
        method: spec.http.method,
        headers: isGet ? authorization : { ...authorization, 'Content-Type': 'application/json' },
        body: isGet ? undefined : JSON.stringify(input ?? {}),
      });
    } catch (error) {
      return unreachable(error);
    }

    if (!response.ok) return errorFrom(response);
    if (spec.result === 'binary') {
      const content = new Uint8Array(await response.arrayBuffer());
      return { ok: true, value: { fileName: fileNameFrom(response, `${name}.bin`), content } };
    }
    const body = (await response.json()) as { value: unknown };
    return { ok: true, value: body.value };
  }

  const listeners = new Set<RelayEventListener>();
  let feed: AbortController | null = null;

  async function readFeed(signal: AbortSignal): Promise<'ended' | 'unauthorized'> {
    const response = await fetchFunction(options.baseUrl + API_EVENTS_PATH, { headers: authorization, signal });
    if (response.status === 401) return 'unauthorized';
    if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
    options.onConnectionChange?.('connected');

    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffered = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return 'ended';
      buffered += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
      let boundary = buffered.indexOf('\n\n');
      while (boundary !== -1) {
        const event = parseEventBlock(buffered.slice(0, boundary));
        buffered = buffered.slice(boundary + 2);
        if (event) for (const listener of listeners) listener(event);
        boundary = buffered.indexOf('\n\n');
      }
    }
  }

  async function runFeed(controller: AbortController): Promise<void> {
    let failures = 0;
    while (!controller.signal.aborted && failures < MAX_RECONNECT_ATTEMPTS) {
      options.onConnectionChange?.('connecting');
      try {
        const outcome = await readFeed(controller.signal);
        if (outcome === 'unauthorized') {
          options.onConnectionChange?.('unauthorized');
          return;
        }
        failures = 0;
      } catch {
        // A refused connection or a dropped stream: retried below with a
        // longer delay, and the UI hears "disconnected" meanwhile.
        if (controller.signal.aborted) return;
        failures += 1;
      }
      if (controller.signal.aborted) return;
      options.onConnectionChange?.('disconnected');
      const delay = Math.min(FIRST_RECONNECT_DELAY_MS * 2 ** Math.max(0, failures - 1), MAX_RECONNECT_DELAY_MS);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  function subscribe(listener: RelayEventListener): () => void {
    listeners.add(listener);
    if (!feed) {
      const controller = new AbortController();
      feed = controller;
      void runFeed(controller);
    }
    return () => {
      listeners.delete(listener);
      if (listeners.size === 0 && feed) {
        feed.abort();
        feed = null;
      }
    };
  }

  return createApiClient({ call, subscribe });
}
