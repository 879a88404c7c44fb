/**
 * A scripted fake OAuth2 authorization server on 127.0.0.1, port 0, for
 * the OAuth tests. It records every request and checks what a real server
 * checks:
 *
 * - GET /authorize: client id, a loopback redirect URI on any port (RFC
 *   8252 section 7.3), state, and a PKCE S256 challenge. With `authorize`
 *   'approve' it redirects at once with a code, with 'deny' with
 *   error=access_denied, and with 'consent' it shows a page whose Approve
 *   and Deny buttons POST to /authorize/decision.
 * - POST /token: client authentication (client_id, and client_secret when
 *   one is configured), then grant_type
 *   - authorization_code: single-use code, same client and redirect URI,
 *     and BASE64URL(SHA256(code_verifier)) equal to the challenge;
 *   - refresh_token: known, not revoked; with `rotateRefreshTokens` a new
 *     refresh token is issued and the used one is revoked;
 *   - urn:ietf:params:oauth:grant-type:device_code: replies to the polls with
 *     `deviceScript` in order, then issues tokens.
 * - POST /devicecode: RFC 8628 device authorization response.
 *
 * failTokenRequests() makes the next token requests fail with a status
 * (503 by default), to test backoff.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { OAuthSettings } from '../../core/oauth/providers.ts';

const HOST = '127.0.0.1';
const CODE_LIFETIME_MS = 60 * 1000;
const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

export type DeviceStep = 'authorization_pending' | 'slow_down' | 'access_denied' | 'expired_token';

export interface FakeOAuthServerOptions {
  clientId?: string;
  /** When set, the token endpoint requires it. */
  clientSecret?: string | null;
  scope?: string;
  /** Default 3600, as Microsoft and Google issue. */
  accessTokenLifetimeSeconds?: number;
  /** Issue a new refresh token on every refresh and revoke the used one. */
  rotateRefreshTokens?: boolean;
  /** Leave refresh_token out of authorization_code and device_code responses. */
  omitRefreshToken?: boolean;
  authorize?: 'approve' | 'deny' | 'consent';
  /** Error responses to the device-code polls, in order, before the tokens. */
  deviceScript?: DeviceStep[];
  deviceIntervalSeconds?: number;
  deviceExpiresInSeconds?: number;
  /** Clock for access token expiry. */
  now?: () => number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  /** grant_type of a token request. */
  grantType: string | undefined;
  /** Form fields of a POST, query parameters of a GET. */
  params: Record<string, string>;
}

export interface TokenFailure {
  status: number;
  retryAfterSeconds?: number;
}

interface AuthorizationCode {
  clientId: string;
  redirectUri: string;
  challenge: string;
  used: boolean;
  expiresAt: number;
}

interface PendingAuthorization {
  redirectUri: string;
  state: string;
  clientId: string;
  challenge: string;
}

interface DeviceGrant {
  script: DeviceStep[];
  done: boolean;
}

export class FakeOAuthServer {
  readonly requests: RecordedRequest[] = [];
  /** Refresh tokens issued and not revoked. */
  readonly liveRefreshTokens = new Set<string>();
  /** Access tokens issued, with their expiry by `now`. */
  readonly accessTokens = new Map<string, number>();

  private options: Required<Omit<FakeOAuthServerOptions, 'clientSecret'>> & { clientSecret: string | null };
  private server: http.Server | undefined;
  private baseUrl: string | undefined;
  private counter = 0;
  private readonly codes = new Map<string, AuthorizationCode>();
  private readonly pending = new Map<string, PendingAuthorization>();
  private readonly devices = new Map<string, DeviceGrant>();
  private tokenFailures: TokenFailure[] = [];

  constructor(options: FakeOAuthServerOptions = {}) {
    this.options = {
      clientId: options.clientId ?? 'relay-test-client',
      clientSecret: options.clientSecret ?? null,
      scope: options.scope ?? 'smtp.send offline_access',
      accessTokenLifetimeSeconds: options.accessTokenLifetimeSeconds ?? 3600,
      rotateRefreshTokens: options.rotateRefreshTokens ?? false,
      omitRefreshToken: options.omitRefreshToken ?? false,
      authorize: options.authorize ?? 'approve',
      deviceScript: options.deviceScript ?? [],
      deviceIntervalSeconds: options.deviceIntervalSeconds ?? 5,
      deviceExpiresInSeconds: options.deviceExpiresInSeconds ?? 900,
      now: options.now ?? Date.now,
    };
  }

  async start(): Promise<string> {
    const server = http.createServer((request, response) => {
      void this.handle(request, response).catch((error: unknown) => {
        response.writeHead(500, { 'content-type': 'text/plain' });
        response.end(`fake OAuth server error: ${String(error)}`);
      });
    });
    server.listen(0, HOST);
    await once(server, 'listening');
    this.server = server;
    this.baseUrl = `http://${HOST}:${(server.address() as AddressInfo).port}`;
    return this.baseUrl;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) {
      return;
    }
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  url(path: string): string {
    if (this.baseUrl === undefined) {
      throw new Error('FakeOAuthServer: the URL is known only after start().');
    }
    return `${this.baseUrl}${path}`;
  }

  /** Settings for resolveOAuthClient() with the 'custom' provider pointing here. */
  settings(overrides: Partial<OAuthSettings> = {}): OAuthSettings {
    return {
      provider: 'custom',
      clientId: this.options.clientId,
      clientSecret: this.options.clientSecret,
      tokenUrl: this.url('/token'),
      authorizationUrl: this.url('/authorize'),
      deviceAuthorizationUrl: this.url('/devicecode'),
      scope: this.options.scope,
      ...overrides,
    };
  }

  setOptions(options: Partial<FakeOAuthServerOptions>): void {
    this.options = { ...this.options, ...options } as typeof this.options;
  }

  /** Token requests so far, optionally only those of one grant type. */
  tokenRequests(grantType?: string): RecordedRequest[] {
    return this.requests.filter(
      (request) => request.path === '/token' && (grantType === undefined || request.grantType === grantType),
    );
  }

  /** Issues a refresh token directly, as if someone had signed in. */
  mintRefreshToken(): string {
    const token = this.newToken('rt');
    this.liveRefreshTokens.add(token);
    return token;
  }

  revokeRefreshToken(token: string): void {
    this.liveRefreshTokens.delete(token);
  }

  /** True when `token` was issued here, is not revoked and has not expired by `now`. */
  isValidAccessToken(token: string): boolean {
    const expiresAt = this.accessTokens.get(token);
    return expiresAt !== undefined && this.options.now() < expiresAt;
  }

  revokeAccessToken(token: string): void {
    this.accessTokens.delete(token);
  }

  /** Makes the next `count` token requests fail with `failure` before any check. */
  failTokenRequests(count: number, failure: TokenFailure = { status: 503 }): void {
    this.tokenFailures = Array.from({ length: count }, () => failure);
  }

  private async handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', this.url('/'));
    const params =
      request.method === 'POST' ? await readForm(request) : Object.fromEntries(url.searchParams.entries());
    this.requests.push({
      method: request.method ?? '',
      path: url.pathname,
      grantType: url.pathname === '/token' ? params.grant_type : undefined,
      params,
    });

    if (request.method === 'GET' && url.pathname === '/authorize') {
      this.authorize(params, response);
    } else if (request.method === 'POST' && url.pathname === '/authorize/decision') {
      this.decide(params, response);
    } else if (request.method === 'POST' && url.pathname === '/token') {
      this.token(params, response);
    } else if (request.method === 'POST' && url.pathname === '/devicecode') {
      this.deviceCode(params, response);
    } else {
      sendJson(response, 404, { error: 'not_found' });
    }
  }

  private authorize(params: Record<string, string>, response: http.ServerResponse): void {
    const redirectUri = params.redirect_uri ?? '';
    // RFC 6749 section 4.1.2.1: never redirect to an unchecked URI.
    if (params.client_id !== this.options.clientId || !isLoopbackRedirect(redirectUri)) {
      sendHtml(response, 400, '<h1>Invalid client or redirect URI</h1>');
      return;
    }

    const state = params.state ?? '';
    if (params.response_type !== 'code' || params.code_challenge_method !== 'S256' || !params.code_challenge) {
      redirect(response, redirectUri, { error: 'invalid_request', state });
      return;
    }

    const pending: PendingAuthorization = {
      redirectUri,
      state,
      clientId: params.client_id,
      challenge: params.code_challenge,
    };
    if (this.options.authorize === 'consent') {
      const requestId = this.newToken('req');
      this.pending.set(requestId, pending);
      sendHtml(response, 200, consentPage(requestId));
      return;
    }
    this.finishAuthorization(pending, this.options.authorize === 'approve', response);
  }

  private decide(params: Record<string, string>, response: http.ServerResponse): void {
    const pending = this.pending.get(params.request_id ?? '');
    if (!pending) {
      sendHtml(response, 400, '<h1>Unknown request</h1>');
      return;
    }
    this.pending.delete(params.request_id ?? '');
    this.finishAuthorization(pending, params.decision === 'approve', response);
  }

  private finishAuthorization(pending: PendingAuthorization, approved: boolean, response: http.ServerResponse): void {
    if (!approved) {
      redirect(response, pending.redirectUri, {
        error: 'access_denied',
        error_description: 'The user declined.',
        state: pending.state,
      });
      return;
    }

    const code = this.newToken('code');
    this.codes.set(code, {
      clientId: pending.clientId,
      redirectUri: pending.redirectUri,
      challenge: pending.challenge,
      used: false,
      expiresAt: this.options.now() + CODE_LIFETIME_MS,
    });
    redirect(response, pending.redirectUri, { code, state: pending.state });
  }

  private token(params: Record<string, string>, response: http.ServerResponse): void {
    const failure = this.tokenFailures.shift();
    if (failure) {
      const headers: Record<string, string> = {};
      if (failure.retryAfterSeconds !== undefined) {
        headers['retry-after'] = String(failure.retryAfterSeconds);
      }
      sendJson(response, failure.status, { error: 'temporarily_unavailable' }, headers);
      return;
    }

    const clientOk =
      params.client_id === this.options.clientId &&
      (this.options.clientSecret === null || params.client_secret === this.options.clientSecret);
    if (!clientOk) {
      sendJson(response, 401, { error: 'invalid_client', error_description: 'Unknown client or wrong secret.' });
      return;
    }

    switch (params.grant_type) {
      case 'authorization_code':
        this.exchangeCode(params, response);
        return;
      case 'refresh_token':
        this.refresh(params, response);
        return;
      case DEVICE_CODE_GRANT:
        this.pollDevice(params, response);
        return;
      default:
        sendJson(response, 400, { error: 'unsupported_grant_type' });
    }
  }

  private exchangeCode(params: Record<string, string>, response: http.ServerResponse): void {
    const code = this.codes.get(params.code ?? '');
    const problem = this.codeProblem(code, params);
    if (code) {
      code.used = true;
    }
    if (problem !== undefined) {
      sendJson(response, 400, { error: 'invalid_grant', error_description: problem });
      return;
    }
    sendJson(response, 200, this.issueTokens(!this.options.omitRefreshToken));
  }

  /** Returns why the code exchange fails, or undefined when it succeeds. */
  private codeProblem(code: AuthorizationCode | undefined, params: Record<string, string>): string | undefined {
    const verifier = params.code_verifier ?? '';
    if (code === undefined) return 'unknown code';
    if (code.used) return 'code already used';
    if (this.options.now() >= code.expiresAt) return 'code expired';
    if (code.redirectUri !== params.redirect_uri) return 'redirect_uri does not match';
    // RFC 7636 section 4.1: 43 to 128 unreserved characters.
    if (!/^[A-Za-z0-9\-._~]{43,128}$/.test(verifier)) return 'code_verifier has the wrong syntax';
    if (s256(verifier) !== code.challenge) return 'PKCE verification failed';
    return undefined;
  }

  private refresh(params: Record<string, string>, response: http.ServerResponse): void {
    const refreshToken = params.refresh_token ?? '';
    if (!this.liveRefreshTokens.has(refreshToken)) {
      sendJson(response, 400, {
        error: 'invalid_grant',
        error_description: 'AADSTS70000: The refresh token has been revoked or has expired.',
      });
      return;
    }

    if (this.options.rotateRefreshTokens) {
      this.liveRefreshTokens.delete(refreshToken);
      sendJson(response, 200, this.issueTokens(true));
      return;
    }
    sendJson(response, 200, this.issueTokens(false));
  }

  private deviceCode(params: Record<string, string>, response: http.ServerResponse): void {
    if (params.client_id !== this.options.clientId) {
      sendJson(response, 400, { error: 'invalid_client' });
      return;
    }
    const deviceCode = this.newToken('dc');
    this.devices.set(deviceCode, { script: [...this.options.deviceScript], done: false });
    sendJson(response, 200, {
      device_code: deviceCode,
      user_code: 'WDJB-MJHT',
      verification_uri: this.url('/device'),
      expires_in: this.options.deviceExpiresInSeconds,
      interval: this.options.deviceIntervalSeconds,
      message: 'To sign in, open the verification page and enter the code WDJB-MJHT.',
    });
  }

  private pollDevice(params: Record<string, string>, response: http.ServerResponse): void {
    const grant = this.devices.get(params.device_code ?? '');
    if (!grant || grant.done) {
      sendJson(response, 400, { error: 'invalid_grant', error_description: 'Unknown or used device code.' });
      return;
    }

    const step = grant.script.shift();
    if (step !== undefined) {
      sendJson(response, 400, { error: step });
      return;
    }
    grant.done = true;
    sendJson(response, 200, this.issueTokens(!this.options.omitRefreshToken));
  }

  private issueTokens(withRefreshToken: boolean): Record<string, unknown> {
    const accessToken = this.newToken('at');
    const lifetime = this.options.accessTokenLifetimeSeconds;
    this.accessTokens.set(accessToken, this.options.now() + lifetime * 1000);

    const body: Record<string, unknown> = {
      access_token: accessToken,
      token_type: 'Bearer',
      expires_in: lifetime,
      scope: this.options.scope,
    };
    if (withRefreshToken) {
      body.refresh_token = this.mintRefreshToken();
    }
    return body;
  }

  private newToken(prefix: string): string {
    this.counter += 1;
    return `${prefix}-${this.counter}-${randomBytes(6).toString('hex')}`;
  }
}

/** Creates a FakeOAuthServer and starts it. */
export async function startFakeOAuthServer(options: FakeOAuthServerOptions = {}): Promise<FakeOAuthServer> {
  const server = new FakeOAuthServer(options);
  await server.start();
  return server;
}

function isLoopbackRedirect(uri: string): boolean {
  try {
    const url = new URL(uri);
    return url.protocol === 'http:' && (url.hostname === '127.0.0.1' || url.hostname === '[::1]') && url.port !== '';
  } catch {
    return false;
  }
}

function s256(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

async function readForm(request: http.IncomingMessage): Promise<Record<string, string>> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) {
    chunks.push(chunk as Buffer);
  }
  return Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')).entries());
}

function redirect(response: http.ServerResponse, redirectUri: string, params: Record<string, string>): void {
  const location = new URL(redirectUri);
  for (const [name, value] of Object.entries(params)) {
    location.searchParams.set(name, value);
  }
  response.writeHead(302, { location: location.toString() });
  response.end();
}

function sendJson(
  response: http.ServerResponse,
  status: number,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
): void {
  response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  response.end(JSON.stringify(body));
}

function sendHtml(response: http.ServerResponse, status: number, body: string): void {
  response.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
  response.end(`<!doctype html><html><body>${body}</body></html>`);
}

function consentPage(requestId: string): string {
  return (
    '<h1>Fake provider: allow Smarthost Relay to send mail?</h1>' +
    '<form method="post" action="/authorize/decision">' +
    `<input type="hidden" name="request_id" value="${requestId}">` +
    '<button name="decision" value="approve">Approve</button>' +
    '<button name="decision" value="deny">Deny</button>' +
    '</form>'
  );
}
