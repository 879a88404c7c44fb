import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OAuthError } from '../core/oauth/errors.ts';
import { resolveOAuthClient } from '../core/oauth/providers.ts';
import type { FetchLike } from '../core/oauth/token-endpoint.ts';
import { AccessTokenSource, REFRESH_MARGIN_MS } from '../core/oauth/token-source.ts';
import type { AccessTokenSourceOptions, TokenSourceEvent } from '../core/oauth/token-source.ts';
import { startFakeOAuthServer } from './support/fake-oauth-server.ts';
import type { FakeOAuthServer } from './support/fake-oauth-server.ts';

const HOUR_MS = 60 * 60 * 1000;
const START_MS = Date.UTC(2026, 11, 4, 9, 0, 0);

let server: FakeOAuthServer;
let now: number;

beforeEach(async () => {
  now = START_MS;
  server = await startFakeOAuthServer({ now: () => now });
});

afterEach(async () => {
  await server.stop();
});

function createSource(overrides: Partial<AccessTokenSourceOptions> = {}): AccessTokenSource {
  return new AccessTokenSource({
    client: resolveOAuthClient(server.settings()),
    refreshToken: server.mintRefreshToken(),
    now: () => now,
    random: () => 0,
    ...overrides,
  });
}

async function rejectionOf(promise: Promise<unknown>): Promise<OAuthError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(OAuthError);
  return error as OAuthError;
}

describe('AccessTokenSource', () => {
  it('refreshes once, then serves the cached token', async () => {
    const source = createSource();

    const first = await source.getAccessToken();
    const second = await source.getAccessToken();

    expect(server.isValidAccessToken(first)).toBe(true);
    expect(second).toBe(first);
    expect(server.tokenRequests('refresh_token')).toHaveLength(1);
    expect(server.tokenRequests()[0]?.params.scope).toBe('smtp.send offline_access');
  });

  it('refreshes 5 minutes before expiry, not earlier', async () => {
    const source = createSource();
    const first = await source.getAccessToken();
    const expiresAt = START_MS + HOUR_MS;
    expect(source.status.expiresAt).toBe(expiresAt);

    now = expiresAt - REFRESH_MARGIN_MS - 1;
    expect(await source.getAccessToken()).toBe(first);
    expect(server.tokenRequests()).toHaveLength(1);

    now = expiresAt - REFRESH_MARGIN_MS;
    const second = await source.getAccessToken();
    expect(second).not.toBe(first);
    expect(server.tokenRequests()).toHaveLength(2);
  });

  it('shares one refresh among concurrent callers', async () => {
    const source = createSource();

    const tokens = await Promise.all(Array.from({ length: 10 }, () => source.getAccessToken()));

    expect(new Set(tokens).size).toBe(1);
    expect(server.tokenRequests()).toHaveLength(1);
  });

  it('stores and uses a rotated refresh token', async () => {
    server.setOptions({ rotateRefreshTokens: true });
    const initial = server.mintRefreshToken();
    const stored: string[] = [];
    const events: TokenSourceEvent[] = [];
    const source = createSource({
      refreshToken: initial,
      storeRefreshToken: async (token) => {
        stored.push(token);
      },
      onEvent: (event) => events.push(event),
    });

    await source.getAccessToken();
    now += HOUR_MS;
    await source.getAccessToken();

    expect(stored).toHaveLength(2);
    expect(server.liveRefreshTokens.has(initial)).toBe(false);
    expect(server.liveRefreshTokens.has(stored[1] ?? '')).toBe(true);
    expect(server.tokenRequests()[1]?.params.refresh_token).toBe(stored[0]);
    expect(events.map((event) => event.event)).toEqual(['OAUTH_REFRESHED', 'OAUTH_REFRESHED']);
    expect(events[0]).toMatchObject({ rotated: true, forced: false });
  });

  it('keeps the rotated token when storing it fails', async () => {
    server.setOptions({ rotateRefreshTokens: true });
    const events: TokenSourceEvent[] = [];
    const source = createSource({
      storeRefreshToken: () => Promise.reject(new Error('disk full')),
      onEvent: (event) => events.push(event),
    });

    await source.getAccessToken();
    now += HOUR_MS;
    const token = await source.getAccessToken();

    expect(server.isValidAccessToken(token)).toBe(true);
    const failures = events.filter((event) => event.event === 'OAUTH_TOKEN_STORE_FAILED');
    expect(failures).toHaveLength(2);
  });

  it('stops calling after a refused refresh token', async () => {
    const events: TokenSourceEvent[] = [];
    const source = createSource({ refreshToken: 'rt-revoked', onEvent: (event) => events.push(event) });

    const error = await rejectionOf(source.getAccessToken());
    expect(error.code).toBe('EOAUTH_REFRESH_REJECTED');
    expect(error.oauthError).toBe('invalid_grant');
    expect(error.transient).toBe(false);
    expect(error.message).not.toContain('rt-revoked');

    for (const hours of [0, 1, 24]) {
      now = START_MS + hours * HOUR_MS;
      const again = await rejectionOf(source.getAccessToken());
      expect(again.code).toBe('EOAUTH_REFRESH_REJECTED');
    }
    expect(server.tokenRequests()).toHaveLength(1);
    expect(source.status.state).toBe('rejected');
    expect(events).toEqual([
      expect.objectContaining({ event: 'OAUTH_REFRESH_FAILED', code: 'EOAUTH_REFRESH_REJECTED', retryAt: undefined }),
    ]);
  });

  it('resumes after reset with a new refresh token', async () => {
    const source = createSource({ refreshToken: 'rt-revoked' });
    await rejectionOf(source.getAccessToken());

    source.reset(server.mintRefreshToken());
    const token = await source.getAccessToken();

    expect(server.isValidAccessToken(token)).toBe(true);
    expect(server.tokenRequests()).toHaveLength(2);
    expect(source.status.state).toBe('ready');
  });

  it('stops calling after a rejected client', async () => {
    const client = resolveOAuthClient(server.settings({ clientId: 'someone-else' }));
    const source = createSource({ client });

    const error = await rejectionOf(source.getAccessToken());
    await rejectionOf(source.getAccessToken());

    expect(error.code).toBe('EOAUTH_CLIENT_REJECTED');
    expect(error.oauthError).toBe('invalid_client');
    expect(error.httpStatus).toBe(401);
    expect(server.tokenRequests()).toHaveLength(1);
  });

  it('backs off exponentially after 5xx, up to the cap', async () => {
    server.failTokenRequests(5, { status: 503 });
    const source = createSource({ retryInitialMs: 5_000, retryMaxMs: 40_000 });
    const waits: number[] = [];

    for (let attempt = 1; attempt <= 5; attempt += 1) {
      const error = await rejectionOf(source.getAccessToken());
      expect(error.code).toBe('EOAUTH_UNAVAILABLE');
      expect(error.transient).toBe(true);
      expect(error.httpStatus).toBe(503);
      const retryAt = error.retryAt ?? 0;
      waits.push(retryAt - now);

      // Calls before retryAt fail at once, without a request.
      now = retryAt - 1;
      const early = await rejectionOf(source.getAccessToken());
      expect(early.retryAt).toBe(retryAt);
      expect(server.tokenRequests()).toHaveLength(attempt);
      now = retryAt;
    }

    expect(waits).toEqual([5_000, 10_000, 20_000, 40_000, 40_000]);
    const token = await source.getAccessToken();
    expect(server.isValidAccessToken(token)).toBe(true);
    expect(source.status.state).toBe('ready');
  });

  it('honours Retry-After when longer than the backoff', async () => {
    server.failTokenRequests(1, { status: 429, retryAfterSeconds: 120 });
    const source = createSource();

    const error = await rejectionOf(source.getAccessToken());

    expect(error.retryAt).toBe(now + 120_000);
    expect(source.status).toMatchObject({ state: 'retrying', retryAt: now + 120_000 });
  });

  it('serves a valid token while refreshing fails', async () => {
    const source = createSource();
    const first = await source.getAccessToken();

    now = START_MS + HOUR_MS - REFRESH_MARGIN_MS;
    server.failTokenRequests(1, { status: 503, retryAfterSeconds: 600 });
    expect(await source.getAccessToken()).toBe(first);
    expect(await source.getAccessToken()).toBe(first);
    expect(server.tokenRequests()).toHaveLength(2);

    // Past expiry and still backing off: an error, not a dead token.
    now = START_MS + HOUR_MS;
    const error = await rejectionOf(source.getAccessToken());
    expect(error.code).toBe('EOAUTH_UNAVAILABLE');
  });

  it('treats a refused connection as transient', async () => {
    const port = await closedPort();
    const client = resolveOAuthClient(server.settings({ tokenUrl: `http://127.0.0.1:${port}/token` }));
    const source = createSource({ client });

    const error = await rejectionOf(source.getAccessToken());

    expect(error.code).toBe('EOAUTH_UNAVAILABLE');
    expect(error.message).toContain(`127.0.0.1:${port}`);
  });

  it('treats a body without access_token as transient', async () => {
    const fakeFetch: FetchLike = async () => new Response('{"token_type":"Bearer"}', { status: 200 });
    const source = createSource({ fetch: fakeFetch });

    const error = await rejectionOf(source.getAccessToken());

    expect(error.code).toBe('EOAUTH_UNAVAILABLE');
  });

  it('forces one refresh on invalidate, not a loop', async () => {
    const source = createSource();
    const first = await source.getAccessToken();

    expect(source.invalidate(first)).toBe(true);
    const second = await source.getAccessToken();
    expect(second).not.toBe(first);
    expect(server.tokenRequests()).toHaveLength(2);

    // The forced token is rejected too: no second forced refresh.
    expect(source.invalidate(second)).toBe(false);
    expect(await source.getAccessToken()).toBe(second);
    expect(server.tokenRequests()).toHaveLength(2);

    // A stale token: the newer one is worth a retry, and costs no request.
    expect(source.invalidate(first)).toBe(true);
    expect(await source.getAccessToken()).toBe(second);
    expect(server.tokenRequests()).toHaveLength(2);

    // After the next expiry-driven refresh, a forced refresh is allowed again.
    now += HOUR_MS;
    const third = await source.getAccessToken();
    expect(source.invalidate(third)).toBe(true);
  });

  it('throws not signed in without a refresh token', async () => {
    const source = createSource({ refreshToken: null });

    const error = await rejectionOf(source.getAccessToken());

    expect(error.code).toBe('EOAUTH_NOT_SIGNED_IN');
    expect(source.status.state).toBe('signed-out');
    expect(server.requests).toHaveLength(0);
  });

  it('uses the access token from sign-in first', async () => {
    const source = createSource({ accessToken: { token: 'at-from-sign-in', expiresAt: START_MS + HOUR_MS } });

    expect(await source.getAccessToken()).toBe('at-from-sign-in');
    expect(server.requests).toHaveLength(0);
  });

  it('ignores a refresh superseded by reset', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const gatedFetch: FetchLike = async (url, init) => {
      await gate;
      return fetch(url, init);
    };
    const source = createSource({ refreshToken: 'rt-revoked', fetch: gatedFetch });

    const stale = source.getAccessToken();
    const fresh = server.mintRefreshToken();
    source.reset(fresh);
    release();

    const staleError = await rejectionOf(stale);
    expect(staleError.code).toBe('EOAUTH_UNAVAILABLE');
    expect(source.status.state).toBe('ready');
    const token = await source.getAccessToken();
    expect(server.isValidAccessToken(token)).toBe(true);
    expect(server.tokenRequests().map((request) => request.params.refresh_token)).toEqual(['rt-revoked', fresh]);
  });
});

/** Returns a loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const listener = net.createServer();
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const { port } = listener.address() as net.AddressInfo;
  await new Promise<void>((resolve) => listener.close(() => resolve()));
  return port;
}
