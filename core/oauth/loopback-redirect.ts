/**
 * One-shot loopback redirect listener for native-app sign-in (RFC 8252
 * section 7.3): an HTTP server on 127.0.0.1 that waits for the
 * authorization server to send the browser to /callback with the
 * expected `state`, responds with a small page, and closes.
 *
 * It listens on the IP literal rather than "localhost", as RFC 8252
 * section 8.3 recommends, so no resolver or firewall rule for another
 * interface is involved. A request with a wrong or missing state gets 400
 * and does not end the wait: any local process can reach the port, and
 * only the browser that carries our state may finish the sign-in (RFC
 * 6749 section 10.12).
 *
 * Throws OAuthError EOAUTH_LOOPBACK_FAILED when it cannot listen.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { OAuthError } from './errors.ts';

export const CALLBACK_PATH = '/callback';

/** Parameters of the redirect that carried our state. */
export interface AuthorizationRedirect {
  /** The authorization code, or null when the server sent an error. */
  readonly code: string | null;
  /** RFC 6749 section 4.1.2.1 error, such as 'access_denied'. */
  readonly error: string | null;
  readonly errorDescription: string | null;
}

/** Result page for the browser, written once the sign-in has an outcome. */
export interface ResultPage {
  readonly ok: boolean;
  readonly title: string;
  readonly text: string;
}

export interface LoopbackListener {
  /** http://127.0.0.1:<port>/callback */
  readonly redirectUri: string;
  readonly port: number;
  /** Resolves with the first redirect that carries the expected state. */
  readonly redirect: Promise<AuthorizationRedirect>;
  /** Sends `page` in response to the waiting browser request, then closes the listener. */
  finish(page: ResultPage): Promise<void>;
  /** Closes the listener and any open connection; the browser gets no page. */
  close(): Promise<void>;
}

/** Starts listening on 127.0.0.1:`port` (0 picks a free port). */
export async function startLoopbackListener(state: string, port = 0): Promise<LoopbackListener> {
  let settle: ((redirect: AuthorizationRedirect) => void) | undefined;
  const redirect = new Promise<AuthorizationRedirect>((resolve) => {
    settle = resolve;
  });
  let pending: http.ServerResponse | undefined;

  const server = http.createServer((request, response) => {
    const outcome = handleRequest(request, response, state, pending !== undefined);
    if (outcome === null) {
      return;
    }
    pending = response;
    settle?.(outcome);
  });

  await listen(server, port);
  const actualPort = (server.address() as AddressInfo).port;

  const close = async (): Promise<void> => {
    if (!server.listening) {
      return;
    }
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  };

  return {
    redirectUri: `http://127.0.0.1:${actualPort}${CALLBACK_PATH}`,
    port: actualPort,
    redirect,
    async finish(page) {
      const response = pending;
      if (response && !response.writableEnded) {
        const sent = new Promise<void>((resolve) => {
          response.once('finish', resolve);
          response.once('close', resolve);
        });
        sendPage(response, page.ok ? 200 : 400, page);
        await sent;
      }
      await close();
    },
    close,
  };
}

/**
 * Handles one request. Returns the redirect when this is the one we wait
 * for; its response stays open until finish(). Returns null otherwise.
 */
function handleRequest(
  request: http.IncomingMessage,
  response: http.ServerResponse,
  state: string,
  alreadyAnswered: boolean,
): AuthorizationRedirect | null {
  const url = new URL(request.url ?? '/', 'http://127.0.0.1');

  if (request.method !== 'GET') {
    response.setHeader('allow', 'GET');
    sendPage(response, 405, { ok: false, title: 'Method not allowed', text: 'Only GET is accepted here.' });
    return null;
  }
  if (url.pathname !== CALLBACK_PATH) {
    sendPage(response, 404, { ok: false, title: 'Not found', text: 'This address only receives the sign-in redirect.' });
    return null;
  }
  if (url.searchParams.get('state') !== state) {
    sendPage(response, 400, {
      ok: false,
      title: 'Sign-in not recognized',
      text: 'This sign-in was not started by Smarthost Relay, or it belongs to an older attempt. Start the sign-in again from the relay.',
    });
    return null;
  }
  if (alreadyAnswered) {
    sendPage(response, 409, {
      ok: false,
      title: 'Sign-in already received',
      text: 'Smarthost Relay already received this sign-in. You can close this window.',
    });
    return null;
  }

  return {
    code: url.searchParams.get('code'),
    error: url.searchParams.get('error'),
    errorDescription: url.searchParams.get('error_description'),
  };
}

function sendPage(response: http.ServerResponse, status: number, page: ResultPage): void {
  const body =
    '<!doctype html><html lang="en"><head><meta charset="utf-8">' +
    `<title>${escapeHtml(page.title)}</title></head>` +
    '<body style="font-family: sans-serif; margin: 3em;">' +
    `<h1>${escapeHtml(page.title)}</h1><p>${escapeHtml(page.text)}</p></body></html>`;

  response.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    // The URL of this page contains the authorization code, so keep it
    // out of caches and out of any Referer header.
    'cache-control': 'no-store',
    'referrer-policy': 'no-referrer',
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'",
    connection: 'close',
  });
  response.end(body);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);
}

function listen(server: http.Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => {
      reject(
        new OAuthError(
          'EOAUTH_LOOPBACK_FAILED',
          `Could not listen on 127.0.0.1:${port} for the sign-in redirect: ${error.message}.`,
          { cause: error },
        ),
      );
    };
    server.once('error', onError);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', onError);
      resolve();
    });
  });
}
