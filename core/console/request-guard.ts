/**
 * Checks every web-console request before it reaches the API:
 *
 *   Host     must be an IP literal, `localhost` or this machine's name.
 *            A DNS-rebinding page reaches the console under the
 *            attacker's own domain name, which this rejects.
 *   Origin   when present, must be this console's own origin, and
 *            Sec-Fetch-Site must not be `cross-site`, so another site
 *            cannot make the browser send a request.
 *   token    `Authorization: Bearer <token>` on every /api request,
 *            including the event stream.
 *   POST     must carry `Content-Type: application/json`. An HTML form
 *            cannot send that type, and a script on another site can send
 *            it only after a CORS preflight, which the console never
 *            answers with Access-Control-Allow-* headers.
 */
import net from 'node:net';
import os from 'node:os';
import type { IncomingMessage } from 'node:http';
import { ApiError } from '../api/definition.ts';
import { tokenMatches } from './token.ts';

/** The host part of a Host header, without brackets or port. */
function hostnameOf(hostHeader: string): string | null {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(hostHeader);
  if (bracketed?.[1]) return bracketed[1].toLowerCase();
  const plain = /^([^:[\]]+)(?::\d+)?$/.exec(hostHeader);
  return plain?.[1]?.toLowerCase() ?? null;
}

/** Names under which this machine may be reached without DNS rebinding. */
function machineNames(): Set<string> {
  const name = os.hostname().toLowerCase();
  return new Set(['localhost', name, `${name}.local`, name.split('.')[0] ?? name]);
}

export function isAllowedHost(hostHeader: string | undefined, boundHost: string): boolean {
  if (!hostHeader) return false;
  const hostname = hostnameOf(hostHeader);
  if (hostname === null) return false;
  if (net.isIP(hostname) !== 0) return true;
  return machineNames().has(hostname) || hostname === boundHost.toLowerCase();
}

/** Rejects requests from another site; see the file header. */
export function checkSameOrigin(request: IncomingMessage): void {
  const fetchSite = request.headers['sec-fetch-site'];
  if (fetchSite === 'cross-site') {
    throw new ApiError({ code: 'EFORBIDDEN', message: 'Requests from other sites are not allowed.' });
  }
  const origin = request.headers.origin;
  if (origin === undefined) return;
  if (origin !== `http://${request.headers.host ?? ''}`) {
    throw new ApiError({
      code: 'EFORBIDDEN',
      message: `Requests from ${origin} are not allowed; open the console at its own address.`,
      value: origin,
    });
  }
}

export function checkToken(request: IncomingMessage, token: string): void {
  const header = request.headers.authorization ?? '';
  const match = /^Bearer ([A-Za-z0-9_-]+)$/.exec(header);
  if (!match?.[1] || !tokenMatches(match[1], token)) {
    throw new ApiError({
      code: 'EUNAUTHORIZED',
      message: 'Missing or wrong access token. Open the console with the URL that serve printed at start-up.',
    });
  }
}

export function checkJsonBody(request: IncomingMessage): void {
  const type = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new ApiError({
      code: 'EFORBIDDEN',
      message: `Expected Content-Type application/json, got ${type || 'none'}.`,
      value: type,
    });
  }
}
