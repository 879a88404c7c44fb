/**
 * Pieces shared by the tests of the sign-in from the user interfaces.
 * They point the 'custom' provider at a FakeOAuthServer and start a fake
 * smart host that accepts that server's access tokens with XOAUTH2. They
 * also keep fetch() on loopback, and stand in for the browser that follows
 * an authorization URL to the relay's loopback callback.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Settings } from '../../core/settings.ts';
import type { FetchLike } from '../../core/oauth/token-endpoint.ts';
import type { FakeOAuthServer } from './fake-oauth-server.ts';
import { startFakeSmartHost } from './fake-smarthost.ts';
import type { FakeSmartHost } from './fake-smarthost.ts';

export const MAILBOX = 'box@example.com';
export const CLIENT_ID = 'relay-test-client';
export const OAUTH_SCOPE = 'https://mail.example.test/smtp offline_access';
/** User code in the fake server's device authorization responses. */
export const FAKE_USER_CODE = 'WDJB-MJHT';
export const REFRESH_GRANT = 'refresh_token';
export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** OAuth settings for the 'custom' provider with every endpoint on `oauth`. */
export function oauthSettings(oauth: FakeOAuthServer): Partial<Settings> {
  return {
    authMethod: 'xoauth2',
    oauthProvider: 'custom',
    oauthClientId: CLIENT_ID,
    oauthTokenUrl: oauth.url('/token'),
    oauthAuthorizationUrl: oauth.url('/authorize'),
    oauthDeviceAuthorizationUrl: oauth.url('/devicecode'),
    oauthScope: OAUTH_SCOPE,
  };
}

/** Starts a smart host that offers only XOAUTH2 and accepts the live access tokens of `oauth` for MAILBOX. */
export function startXOAuth2SmartHost(oauth: FakeOAuthServer): Promise<FakeSmartHost> {
  return startFakeSmartHost({
    authMethods: ['XOAUTH2'],
    auth: { user: MAILBOX, verifyAccessToken: (token) => oauth.isValidAccessToken(token) },
  });
}

/** fetch() that rejects any address but loopback, so no test can reach a real provider. */
export const loopbackFetch: FetchLike = (input, init) => {
  const url = new URL(input);
  if (!LOOPBACK_HOSTS.has(url.hostname)) {
    return Promise.reject(new TypeError(`The test's fetch reaches only loopback, not ${url.origin}.`));
  }
  return fetch(input, init);
};

/**
 * Does what the browser does with an authorization URL when the fake
 * server approves at once: follows its redirect to the relay's loopback
 * callback, and returns the page that the relay sent back.
 */
export async function followAuthorizationUrl(url: string): Promise<{ status: number; text: string }> {
  const authorize = await loopbackFetch(url, { redirect: 'manual' });
  const location = authorize.headers.get('location');
  if (location === null) {
    throw new Error(`The authorization endpoint answered ${authorize.status} without a redirect.`);
  }

  const callback = await loopbackFetch(location, {});
  return { status: callback.status, text: await callback.text() };
}

// Preloaded into a serve process, so that its fetch() reaches only loopback.
const FETCH_GUARD_MODULE = `
const loopback = new Set(['127.0.0.1', 'localhost', '[::1]']);
const realFetch = globalThis.fetch;
globalThis.fetch = (input, init) => {
  const url = new URL(input instanceof Request ? input.url : String(input));
  if (!loopback.has(url.hostname)) {
    return Promise.reject(new TypeError('The sign-in test guard blocked fetch() to ' + url.origin));
  }
  return realFetch(input, init);
};
`;

/** Writes the fetch guard into `dir` and returns the NODE_OPTIONS that preload it. */
export async function loopbackFetchGuard(dir: string): Promise<string> {
  const file = path.join(dir, 'fetch-guard.mjs');
  await writeFile(file, FETCH_GUARD_MODULE);
  return `${process.env.NODE_OPTIONS ?? ''} --import=${pathToFileURL(file).href}`.trim();
}
