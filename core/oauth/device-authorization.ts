/**
 * Device authorization grant (RFC 8628) for the headless service: the
 * relay requests a user code from the provider, shows it with the verification
 * URI, and polls the token endpoint while the user approves on a phone or
 * another computer.
 *
 * Polling follows RFC 8628 section 3.5: wait `interval` seconds (default
 * DEFAULT_POLL_INTERVAL_MS) between requests, keep waiting on
 * authorization_pending, add SLOW_DOWN_STEP_MS on slow_down, stop on
 * access_denied and expired_token, and double the interval after a
 * network failure or 5xx. Polling also stops when the device code's own
 * lifetime ends, and after at most MAX_POLLS requests.
 *
 * Throws OAuthError: EOAUTH_FLOW_UNAVAILABLE, EOAUTH_ACCESS_DENIED,
 * EOAUTH_DEVICE_CODE_EXPIRED, EOAUTH_SIGN_IN_CANCELLED,
 * EOAUTH_AUTHORIZATION_FAILED, EOAUTH_CLIENT_REJECTED, EOAUTH_UNAVAILABLE,
 * EOAUTH_NO_REFRESH_TOKEN.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { OAuthError } from './errors.ts';
import type { OAuthClient } from './providers.ts';
import { grantError, signInResultFrom } from './sign-in-result.ts';
import type { SignInResult } from './sign-in-result.ts';
import { parsePositiveNumber, postForm, requestToken, withClientCredentials } from './token-endpoint.ts';
import type { FetchLike } from './token-endpoint.ts';

const SECOND = 1000;

/** Poll interval when the server sends none (RFC 8628 section 3.2). */
export const DEFAULT_POLL_INTERVAL_MS = 5 * SECOND;

/** Added to the interval on each slow_down (RFC 8628 section 3.5). */
export const SLOW_DOWN_STEP_MS = 5 * SECOND;

/** Shortest interval used, whatever the server sends. */
const MIN_POLL_INTERVAL_MS = 1 * SECOND;

/** Maximum interval that doubling after network failures reaches. */
const MAX_BACKOFF_INTERVAL_MS = 60 * SECOND;

/**
 * Maximum device code lifetime. Microsoft gives 15 minutes and Google 30.
 * A larger expires_in is cut to this, so polling always ends.
 */
const MAX_DEVICE_CODE_LIFETIME_MS = 60 * 60 * SECOND;

/** Hard bound on token requests per sign-in, above what the lifetime allows. */
const MAX_POLLS = Math.ceil(MAX_DEVICE_CODE_LIFETIME_MS / MIN_POLL_INTERVAL_MS) + 1;

const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

/** User-facing part of the device authorization response: where to go and which code to enter. */
export interface DeviceCodePrompt {
  readonly userCode: string;
  readonly verificationUri: string;
  /** A URI with the code already in it, when the provider sends one. */
  readonly verificationUriComplete: string | null;
  /** Epoch ms after which the code no longer works. */
  readonly expiresAt: number;
  /** The provider's own instruction sentence (Microsoft sends one), or null. */
  readonly message: string | null;
}

export interface DeviceSignInOptions {
  readonly client: OAuthClient;
  readonly fetch?: FetchLike | undefined;
  readonly now?: (() => number) | undefined;
  /** Waits `ms`; rejects when `signal` aborts. Tests inject a fake. */
  readonly sleep?: ((ms: number, signal: AbortSignal | undefined) => Promise<void>) | undefined;
  readonly signal?: AbortSignal | undefined;
}

export interface DeviceSignIn {
  readonly prompt: DeviceCodePrompt;
  /** Polls until the user approves, declines or the code expires. */
  complete(): Promise<SignInResult>;
}

interface DeviceCode {
  readonly prompt: DeviceCodePrompt;
  readonly deviceCode: string;
  readonly intervalMs: number;
}

/** Asks the device authorization endpoint for a user code (RFC 8628 section 3.1). */
export async function requestDeviceCode(options: DeviceSignInOptions): Promise<DeviceSignIn> {
  const { client } = options;
  if (client.deviceAuthorizationUrl === null) {
    throw new OAuthError(
      'EOAUTH_FLOW_UNAVAILABLE',
      client.deviceFlowUnavailableReason ?? 'This provider has no device sign-in.',
    );
  }

  const fetchLike = options.fetch ?? fetch;
  const now = options.now ?? Date.now;
  const result = await postForm(
    client.deviceAuthorizationUrl,
    withClientCredentials(client, { scope: client.scope }),
    { fetch: fetchLike, signal: options.signal },
  );
  if (result.kind !== 'json') {
    throw grantError(client, result);
  }

  const code = parseDeviceCode(client.deviceAuthorizationUrl, result.body, now());
  return {
    prompt: code.prompt,
    complete: () => pollForToken(options, code),
  };
}

/** Requests a device code, passes the prompt to `onPrompt`, and polls until the sign-in ends. */
export async function signInWithDeviceCode(
  options: DeviceSignInOptions & { readonly onPrompt: (prompt: DeviceCodePrompt) => void },
): Promise<SignInResult> {
  const signIn = await requestDeviceCode(options);
  options.onPrompt(signIn.prompt);
  return signIn.complete();
}

function parseDeviceCode(url: string, body: Record<string, unknown>, now: number): DeviceCode {
  const deviceCode = body.device_code;
  const userCode = body.user_code;
  // Google names the field verification_url, RFC 8628 verification_uri.
  const verificationUri = body.verification_uri ?? body.verification_url;
  const expiresIn = parsePositiveNumber(body.expires_in);

  if (
    typeof deviceCode !== 'string' ||
    typeof userCode !== 'string' ||
    typeof verificationUri !== 'string' ||
    expiresIn === null
  ) {
    throw new OAuthError(
      'EOAUTH_AUTHORIZATION_FAILED',
      `${url} returned a device authorization response without device_code, user_code, verification_uri or expires_in.`,
    );
  }

  const lifetimeMs = Math.min(expiresIn * SECOND, MAX_DEVICE_CODE_LIFETIME_MS);
  const interval = parsePositiveNumber(body.interval);
  const complete = body.verification_uri_complete;
  const message = body.message;
  return {
    deviceCode,
    intervalMs: Math.max(interval === null ? DEFAULT_POLL_INTERVAL_MS : interval * SECOND, MIN_POLL_INTERVAL_MS),
    prompt: {
      userCode,
      verificationUri,
      verificationUriComplete: typeof complete === 'string' ? complete : null,
      expiresAt: now + lifetimeMs,
      message: typeof message === 'string' ? message : null,
    },
  };
}

async function pollForToken(options: DeviceSignInOptions, code: DeviceCode): Promise<SignInResult> {
  const { client, signal } = options;
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? defaultSleep;
  const form = { grant_type: DEVICE_CODE_GRANT, device_code: code.deviceCode };
  let intervalMs = code.intervalMs;

  for (let poll = 0; poll < MAX_POLLS; poll += 1) {
    await sleepOrCancel(sleep, intervalMs, signal);
    if (now() >= code.prompt.expiresAt) {
      break;
    }

    const result = await requestToken(client, form, { fetch: options.fetch ?? fetch, signal });
    if (result.kind === 'token') {
      return signInResultFrom(client, result.token, now());
    }
    if (result.kind === 'unavailable') {
      // RFC 8628 section 3.5: back off exponentially after a failed
      // request, up to the cap, but never below what slow_down set.
      intervalMs = Math.max(intervalMs, Math.min(intervalMs * 2, MAX_BACKOFF_INTERVAL_MS));
      continue;
    }

    switch (result.error) {
      case 'authorization_pending':
        continue;
      case 'slow_down':
        intervalMs += SLOW_DOWN_STEP_MS;
        continue;
      case 'access_denied':
        throw new OAuthError('EOAUTH_ACCESS_DENIED', 'The sign-in was declined on the verification page.', {
          oauthError: result.error,
          description: result.description,
          httpStatus: result.httpStatus,
        });
      case 'expired_token':
        throw expiredError(result.description);
      default:
        throw grantError(client, result);
    }
  }

  throw expiredError(undefined);
}

function expiredError(description: string | undefined): OAuthError {
  return new OAuthError(
    'EOAUTH_DEVICE_CODE_EXPIRED',
    'The sign-in code expired before it was approved. Start the sign-in again and enter the new code.',
    { oauthError: 'expired_token', description },
  );
}

async function sleepOrCancel(
  sleep: NonNullable<DeviceSignInOptions['sleep']>,
  ms: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  if (signal?.aborted) {
    throw cancelledError(signal.reason);
  }
  try {
    await sleep(ms, signal);
  } catch (error) {
    if (signal?.aborted) {
      throw cancelledError(error);
    }
    throw error;
  }
  if (signal?.aborted) {
    throw cancelledError(signal.reason);
  }
}

function cancelledError(cause: unknown): OAuthError {
  return new OAuthError('EOAUTH_SIGN_IN_CANCELLED', 'The sign-in was cancelled.', { cause });
}

function defaultSleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return delay(ms, undefined, signal ? { signal } : {});
}
