/**
 * Interactive sign-in that yields a refresh token for the smart-host
 * account.
 *
 * signInWithBrowser(): the authorization code grant (RFC 6749 section
 * 4.1) with PKCE (RFC 7636, method S256) through the system browser and a
 * loopback redirect (RFC 8252 section 7.3). The caller passes `openUrl`:
 * Electron's shell.openExternal on the desktop. The relay never receives
 * the user's password, because the browser talks to the provider directly.
 *
 * signInWithDeviceCode() and requestDeviceCode() (re-exported from
 * device-authorization.ts): the device authorization grant (RFC 8628) for
 * the headless service, where the user approves on any other device.
 *
 * Tunables: SIGN_IN_TIMEOUT_MS (how long the loopback listener waits),
 * `port` (0 picks a free one; a fixed port lets an SSH tunnel reach it).
 *
 * Throws OAuthError: EOAUTH_FLOW_UNAVAILABLE, EOAUTH_LOOPBACK_FAILED,
 * EOAUTH_BROWSER_FAILED, EOAUTH_SIGN_IN_TIMEOUT, EOAUTH_SIGN_IN_CANCELLED,
 * EOAUTH_ACCESS_DENIED, EOAUTH_AUTHORIZATION_FAILED, EOAUTH_CLIENT_REJECTED,
 * EOAUTH_UNAVAILABLE, EOAUTH_NO_REFRESH_TOKEN.
 */
import { createHash, randomBytes } from 'node:crypto';
import { OAuthError, isOAuthError } from './errors.ts';
import { startLoopbackListener } from './loopback-redirect.ts';
import type { AuthorizationRedirect, LoopbackListener, ResultPage } from './loopback-redirect.ts';
import type { OAuthClient } from './providers.ts';
import { grantError, signInResultFrom } from './sign-in-result.ts';
import type { SignInResult } from './sign-in-result.ts';
import { requestToken } from './token-endpoint.ts';
import type { FetchLike } from './token-endpoint.ts';

export { requestDeviceCode, signInWithDeviceCode } from './device-authorization.ts';
export type { DeviceCodePrompt, DeviceSignIn, DeviceSignInOptions } from './device-authorization.ts';
export type { SignInResult } from './sign-in-result.ts';

/** How long the loopback listener waits for the browser to come back. */
export const SIGN_IN_TIMEOUT_MS = 5 * 60 * 1000;

export interface BrowserSignInOptions {
  readonly client: OAuthClient;
  /** Opens the URL in the user's browser (Electron: shell.openExternal). */
  readonly openUrl: (url: string) => Promise<void> | void;
  readonly fetch?: FetchLike | undefined;
  readonly now?: (() => number) | undefined;
  readonly timeoutMs?: number | undefined;
  /** Port for the loopback listener; 0 (default) picks a free one. */
  readonly port?: number | undefined;
  /** Pre-fills the account on the provider's sign-in page (login_hint). */
  readonly loginHint?: string | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Called once the listener runs, before the browser opens. */
  readonly onAuthorizationUrl?: ((url: string, redirectUri: string) => void) | undefined;
}

export interface PkcePair {
  /** 43 characters of base64url, sent only to the token endpoint. */
  readonly verifier: string;
  /** BASE64URL(SHA256(verifier)), sent in the authorization request. */
  readonly challenge: string;
}

/** Creates a PKCE verifier of 32 random bytes and its S256 challenge (RFC 7636 section 4.1 and 4.2). */
export function createPkcePair(): PkcePair {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: s256Challenge(verifier) };
}

/** Returns BASE64URL(SHA256(ASCII(verifier))), the S256 code challenge. */
export function s256Challenge(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

/** Builds the authorization request URL (RFC 6749 section 4.1.1 plus RFC 7636 section 4.3). */
export function buildAuthorizationUrl(
  client: OAuthClient,
  request: { readonly redirectUri: string; readonly state: string; readonly challenge: string; readonly loginHint?: string | undefined },
): string {
  const url = new URL(requireAuthorizationUrl(client));
  const params: Record<string, string> = {
    response_type: 'code',
    client_id: client.clientId,
    redirect_uri: request.redirectUri,
    scope: client.scope,
    state: request.state,
    code_challenge: request.challenge,
    code_challenge_method: 'S256',
    ...client.authorizationParams,
  };
  if (request.loginHint) {
    params.login_hint = request.loginHint;
  }

  for (const [name, value] of Object.entries(params)) {
    url.searchParams.set(name, value);
  }
  return url.toString();
}

function requireAuthorizationUrl(client: OAuthClient): string {
  if (client.authorizationUrl === null) {
    throw new OAuthError(
      'EOAUTH_FLOW_UNAVAILABLE',
      'No authorization URL is configured for this provider, so browser sign-in is not possible.',
    );
  }
  return client.authorizationUrl;
}

/** Runs the browser sign-in and returns the tokens. */
export async function signInWithBrowser(options: BrowserSignInOptions): Promise<SignInResult> {
  const { client } = options;
  const pkce = createPkcePair();
  const state = randomBytes(16).toString('base64url');

  requireAuthorizationUrl(client);

  const listener = await startLoopbackListener(state, options.port ?? 0);
  try {
    const url = buildAuthorizationUrl(client, {
      redirectUri: listener.redirectUri,
      state,
      challenge: pkce.challenge,
      loginHint: options.loginHint,
    });
    options.onAuthorizationUrl?.(url, listener.redirectUri);
    await openBrowser(options.openUrl, url);

    const redirect = await waitForRedirect(listener, options.timeoutMs ?? SIGN_IN_TIMEOUT_MS, options.signal);
    const result = await exchangeCode(options, redirect, listener.redirectUri, pkce.verifier);

    await listener.finish({
      ok: true,
      title: 'Signed in',
      text: 'Smarthost Relay can now send mail with this account. You can close this window.',
    });
    return result;
  } catch (error) {
    await listener.finish(failurePage(error));
    throw error;
  }
}

async function openBrowser(openUrl: BrowserSignInOptions['openUrl'], url: string): Promise<void> {
  try {
    await openUrl(url);
  } catch (error) {
    throw new OAuthError(
      'EOAUTH_BROWSER_FAILED',
      `Could not open the browser for sign-in: ${error instanceof Error ? error.message : String(error)}.`,
      { cause: error },
    );
  }
}

/** Waits for the redirect, the timeout or the caller's abort, whichever comes first. */
function waitForRedirect(
  listener: LoopbackListener,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<AuthorizationRedirect> {
  return new Promise((resolve, reject) => {
    const cleanUp = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const onAbort = (): void => {
      cleanUp();
      reject(new OAuthError('EOAUTH_SIGN_IN_CANCELLED', 'The sign-in was cancelled.'));
    };
    const timer = setTimeout(() => {
      cleanUp();
      reject(
        new OAuthError(
          'EOAUTH_SIGN_IN_TIMEOUT',
          `No sign-in came back from the browser within ${Math.round(timeoutMs / 1000)} s. Start the sign-in again.`,
        ),
      );
    }, timeoutMs);

    if (signal?.aborted) {
      onAbort();
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    listener.redirect.then((redirect) => {
      cleanUp();
      resolve(redirect);
    }, reject);
  });
}

async function exchangeCode(
  options: BrowserSignInOptions,
  redirect: AuthorizationRedirect,
  redirectUri: string,
  verifier: string,
): Promise<SignInResult> {
  const { client } = options;

  if (redirect.error !== null) {
    const detail = redirect.errorDescription ? `${redirect.error}: ${redirect.errorDescription}` : redirect.error;
    const denied = redirect.error === 'access_denied';
    throw new OAuthError(
      denied ? 'EOAUTH_ACCESS_DENIED' : 'EOAUTH_AUTHORIZATION_FAILED',
      denied
        ? `The sign-in was declined (${detail}). Sign in again and accept the requested permission.`
        : `The authorization server returned an error (${detail}).`,
      { oauthError: redirect.error, description: redirect.errorDescription ?? undefined },
    );
  }
  if (redirect.code === null || redirect.code === '') {
    throw new OAuthError('EOAUTH_AUTHORIZATION_FAILED', 'The sign-in redirect carried no authorization code.');
  }

  const result = await requestToken(
    client,
    {
      grant_type: 'authorization_code',
      code: redirect.code,
      redirect_uri: redirectUri,
      code_verifier: verifier,
    },
    { fetch: options.fetch ?? fetch, signal: options.signal },
  );
  if (result.kind !== 'token') {
    throw grantError(client, result);
  }
  return signInResultFrom(client, result.token, (options.now ?? Date.now)());
}

function failurePage(error: unknown): ResultPage {
  const message = isOAuthError(error) ? error.message : 'An unexpected error ended the sign-in.';
  return { ok: false, title: 'Sign-in failed', text: `${message} Return to Smarthost Relay for details.` };
}
