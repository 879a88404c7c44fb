import { chromium } from 'playwright-core';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { OAuthError } from '../core/oauth/errors.ts';
import { resolveOAuthClient } from '../core/oauth/providers.ts';
import type { OAuthClient } from '../core/oauth/providers.ts';
import { buildAuthorizationUrl, createPkcePair, s256Challenge, signInWithBrowser } from '../core/oauth/sign-in.ts';
import type { FetchLike } from '../core/oauth/token-endpoint.ts';
import { startFakeOAuthServer } from './support/fake-oauth-server.ts';
import type { FakeOAuthServer } from './support/fake-oauth-server.ts';
import { useTempDirs } from './support/tmp.ts';

const CHROMIUM_PATH = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const createTempDir = useTempDirs();

let server: FakeOAuthServer;
let client: OAuthClient;

beforeEach(async () => {
  server = await startFakeOAuthServer();
  client = resolveOAuthClient(server.settings());
});

afterEach(async () => {
  await server.stop();
});

async function rejectionOf(promise: Promise<unknown>): Promise<OAuthError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(OAuthError);
  return error as OAuthError;
}

/**
 * openUrl for tests without a browser: follows the redirect in the
 * background, as shell.openExternal returns before the browser is done.
 */
function openWithFetch(url: string): void {
  followRedirect(url).catch((error: unknown) => {
    throw new Error(`the simulated browser failed: ${String(error)}`);
  });
}

/** Follows the authorization redirect the way a browser would, without one. */
async function followRedirect(url: string): Promise<Response> {
  const authorize = await fetch(url, { redirect: 'manual' });
  const location = authorize.headers.get('location');
  if (location === null) {
    throw new Error(`the authorization endpoint answered ${authorize.status} without a redirect`);
  }
  return fetch(location);
}

describe('signInWithBrowser in Chromium', () => {
  let context: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    // A persistent context on a fresh directory: the profile starts empty.
    context = await chromium.launchPersistentContext(await createTempDir('chromium-profile'), {
      executablePath: CHROMIUM_PATH,
      args: CHROMIUM_ARGS,
    });
  });

  afterAll(async () => {
    await context?.close();
  });

  beforeEach(async () => {
    page = await context.newPage();
  });

  afterEach(async () => {
    await page.close();
  });

  it('signs in with PKCE through the loopback redirect', async () => {
    let navigation: Promise<unknown> = Promise.resolve();

    const result = await signInWithBrowser({
      client,
      openUrl: (url) => {
        navigation = page.goto(url);
      },
    });
    await navigation;

    expect(server.liveRefreshTokens.has(result.refreshToken)).toBe(true);
    expect(server.isValidAccessToken(result.accessToken.token)).toBe(true);
    expect(page.url()).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback\?code=/);
    expect(await page.textContent('h1')).toBe('Signed in');
    expect(await page.textContent('body')).toContain('You can close this window.');

    const authorize = server.requests.find((request) => request.path === '/authorize');
    expect(authorize?.params).toMatchObject({
      response_type: 'code',
      client_id: 'relay-test-client',
      code_challenge_method: 'S256',
      scope: 'smtp.send offline_access',
    });
    expect(authorize?.params.redirect_uri).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback$/);
    const exchange = server.tokenRequests('authorization_code');
    expect(exchange).toHaveLength(1);
    expect(exchange[0]?.params.redirect_uri).toBe(authorize?.params.redirect_uri);
  });

  it('signs in after the user clicks Approve', async () => {
    server.setOptions({ authorize: 'consent' });
    let consentPage: Promise<unknown> = Promise.resolve();

    const signIn = signInWithBrowser({
      client,
      openUrl: (url) => {
        consentPage = page.goto(url);
      },
    });
    await expect.poll(() => server.requests.length).toBeGreaterThan(0);
    await consentPage;
    await page.click('button[value=approve]');
    const result = await signIn;

    expect(server.liveRefreshTokens.has(result.refreshToken)).toBe(true);
    await expect.poll(() => page.textContent('h1')).toBe('Signed in');
  });

  it('reports a declined consent', async () => {
    server.setOptions({ authorize: 'consent' });
    let consentPage: Promise<unknown> = Promise.resolve();

    // rejectionOf() attaches its handler now, before the click rejects the sign-in.
    const signInError = rejectionOf(
      signInWithBrowser({
        client,
        openUrl: (url) => {
          consentPage = page.goto(url);
        },
      }),
    );
    await expect.poll(() => server.requests.length).toBeGreaterThan(0);
    await consentPage;
    await page.click('button[value=deny]');
    const error = await signInError;

    expect(error.code).toBe('EOAUTH_ACCESS_DENIED');
    expect(error.oauthError).toBe('access_denied');
    await expect.poll(() => page.textContent('h1')).toBe('Sign-in failed');
    expect(server.tokenRequests()).toHaveLength(0);
  });
});

describe('signInWithBrowser without a browser', () => {
  it('ignores a callback with the wrong state', async () => {
    let forged: Response | undefined;
    let browser: Promise<Response> | undefined;

    // Like shell.openExternal, openUrl returns before the browser comes back.
    const result = await signInWithBrowser({
      client,
      openUrl: async (url) => {
        const redirectUri = new URL(url).searchParams.get('redirect_uri') ?? '';
        forged = await fetch(`${redirectUri}?code=forged&state=wrong`);
        browser = followRedirect(url);
      },
    });

    expect((await browser)?.status).toBe(200);
    expect(forged?.status).toBe(400);
    expect(await forged?.text()).toContain('Sign-in not recognized');
    expect(server.liveRefreshTokens.has(result.refreshToken)).toBe(true);
    expect(server.tokenRequests('authorization_code')[0]?.params.code).not.toBe('forged');
  });

  it('times out and closes the listener', async () => {
    let redirectUri = '';
    const started = Date.now();

    const error = await rejectionOf(
      signInWithBrowser({
        client,
        timeoutMs: 300,
        openUrl: (url) => {
          redirectUri = new URL(url).searchParams.get('redirect_uri') ?? '';
        },
      }),
    );

    expect(error.code).toBe('EOAUTH_SIGN_IN_TIMEOUT');
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    await expect(fetch(redirectUri)).rejects.toThrow();
  });

  it('stops when the caller aborts', async () => {
    const controller = new AbortController();

    const error = await rejectionOf(
      signInWithBrowser({ client, signal: controller.signal, openUrl: () => controller.abort() }),
    );

    expect(error.code).toBe('EOAUTH_SIGN_IN_CANCELLED');
  });

  it('reports a browser that fails to open', async () => {
    const error = await rejectionOf(
      signInWithBrowser({
        client,
        openUrl: () => {
          throw new Error('no default browser');
        },
      }),
    );

    expect(error.code).toBe('EOAUTH_BROWSER_FAILED');
    expect(error.message).toContain('no default browser');
  });

  it('fails when no refresh token is issued', async () => {
    server.setOptions({ omitRefreshToken: true });

    const error = await rejectionOf(signInWithBrowser({ client, openUrl: openWithFetch }));

    expect(error.code).toBe('EOAUTH_NO_REFRESH_TOKEN');
  });

  it('fails PKCE with a changed verifier', async () => {
    // Proves that the fake server checks the verifier, so the passing
    // tests above are evidence that the real one is sent.
    const tampering: FetchLike = (url, init) => {
      const form = new URLSearchParams(String(init.body));
      form.set('code_verifier', createPkcePair().verifier);
      return fetch(url, { ...init, body: form.toString() });
    };

    const error = await rejectionOf(
      signInWithBrowser({ client, fetch: tampering, openUrl: openWithFetch }),
    );

    expect(error.code).toBe('EOAUTH_AUTHORIZATION_FAILED');
    expect(error.description).toBe('PKCE verification failed');
  });

  it('fails when the listener port is taken', async () => {
    let redirectUri = '';
    const controller = new AbortController();
    const first = rejectionOf(
      signInWithBrowser({
        client,
        signal: controller.signal,
        openUrl: (url) => {
          redirectUri = new URL(url).searchParams.get('redirect_uri') ?? '';
        },
      }),
    );
    await expect.poll(() => redirectUri).not.toBe('');
    const port = Number(new URL(redirectUri).port);

    const error = await rejectionOf(signInWithBrowser({ client, port, openUrl: () => undefined }));
    controller.abort();

    expect(error.code).toBe('EOAUTH_LOOPBACK_FAILED');
    expect(error.message).toContain(`127.0.0.1:${port}`);
    expect((await first).code).toBe('EOAUTH_SIGN_IN_CANCELLED');
  });
});

describe('buildAuthorizationUrl', () => {
  it('adds Google offline access and login_hint', () => {
    const google = resolveOAuthClient({ provider: 'google', clientId: 'id.apps.googleusercontent.com' });

    const url = new URL(
      buildAuthorizationUrl(google, {
        redirectUri: 'http://127.0.0.1:5000/callback',
        state: 'state-1',
        challenge: 'challenge-1',
        loginHint: 'scanner@example.com',
      }),
    );

    expect(url.origin + url.pathname).toBe('https://accounts.google.com/o/oauth2/v2/auth');
    expect(Object.fromEntries(url.searchParams)).toEqual({
      response_type: 'code',
      client_id: 'id.apps.googleusercontent.com',
      redirect_uri: 'http://127.0.0.1:5000/callback',
      scope: 'https://mail.google.com/',
      state: 'state-1',
      code_challenge: 'challenge-1',
      code_challenge_method: 'S256',
      access_type: 'offline',
      prompt: 'consent',
      login_hint: 'scanner@example.com',
    });
  });

  it('creates an RFC 7636 S256 pair', () => {
    const pair = createPkcePair();

    expect(pair.verifier).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(pair.challenge).toBe(s256Challenge(pair.verifier));
    expect(createPkcePair().verifier).not.toBe(pair.verifier);
  });

  it('matches the RFC 7636 appendix B example', () => {
    expect(s256Challenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).toBe(
      'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    );
  });
});
