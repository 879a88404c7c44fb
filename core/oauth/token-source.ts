/**
 * Access token source: hands out OAuth2 access tokens for XOAUTH2 and gets
 * new ones from the token endpoint with the refresh token (RFC 6749
 * section 6).
 *
 * - A token is refreshed REFRESH_MARGIN_MS before it expires, so a session
 *   that starts just before expiry does not authenticate with a token that
 *   dies mid-session.
 * - Concurrent callers share one refresh request.
 * - A rotated refresh token (a new refresh_token in the response, as
 *   Microsoft sends on every refresh) is kept and passed to
 *   `storeRefreshToken`.
 * - invalid_grant (refresh token revoked or expired) and client errors
 *   (invalid_client, invalid_scope, ...) stop all further requests until
 *   reset() brings a new refresh token, so a dead token is never replayed
 *   against the provider. Every getAccessToken() then throws the same
 *   OAuthError.
 * - Network errors, timeouts, 408, 429 and 5xx are retried no earlier than
 *   an exponential backoff allows (REFRESH_RETRY_INITIAL_MS doubling up to
 *   REFRESH_RETRY_MAX_MS, with jitter, or longer when the server sends
 *   Retry-After). Meanwhile a token that has not expired yet is still
 *   handed out.
 * - invalidate() forces one refresh when the smart host rejects a token.
 *   A token that came from a forced refresh cannot force another one, so
 *   a smart host that rejects every token costs at most one extra request
 *   per token lifetime.
 *
 * Reports through `onEvent`: OAUTH_REFRESHED, OAUTH_REFRESH_FAILED and
 * OAUTH_TOKEN_STORE_FAILED. Events carry no token.
 *
 * Throws OAuthError: EOAUTH_NOT_SIGNED_IN, EOAUTH_REFRESH_REJECTED,
 * EOAUTH_CLIENT_REJECTED or EOAUTH_UNAVAILABLE (with retryAt).
 */
import { retryDelayMs } from '../backoff.ts';
import { OAuthError } from './errors.ts';
import type { OAuthClient } from './providers.ts';
import { requestToken } from './token-endpoint.ts';
import type { FetchLike, TokenEndpointResult, TokenResponse } from './token-endpoint.ts';

const SECOND = 1000;
const MINUTE = 60 * SECOND;

/** How long before expiry a token is replaced. */
export const REFRESH_MARGIN_MS = 5 * MINUTE;

/** First wait after a failed refresh; it doubles per failure. */
export const REFRESH_RETRY_INITIAL_MS = 5 * SECOND;

/** Maximum wait between refresh attempts after failures. */
export const REFRESH_RETRY_MAX_MS = 10 * MINUTE;

/**
 * Lifetime assumed for a token whose response had no expires_in. Short,
 * so such a token is replaced soon; Microsoft and Google always send
 * expires_in.
 */
export const ASSUMED_TOKEN_LIFETIME_MS = 10 * MINUTE;

/** Event words this module reports, for the relay's list of event words. */
export const OAUTH_EVENT_WORDS = ['OAUTH_REFRESHED', 'OAUTH_REFRESH_FAILED', 'OAUTH_TOKEN_STORE_FAILED'] as const;

export type TokenSourceEvent =
  | {
      readonly event: 'OAUTH_REFRESHED';
      /** Epoch ms when the new access token expires. */
      readonly expiresAt: number;
      readonly rotated: boolean;
      readonly forced: boolean;
    }
  | {
      readonly event: 'OAUTH_REFRESH_FAILED';
      readonly code: OAuthError['code'];
      readonly reason: string;
      /** Epoch ms of the next allowed attempt; undefined when no attempt follows until reset(). */
      readonly retryAt: number | undefined;
    }
  | { readonly event: 'OAUTH_TOKEN_STORE_FAILED'; readonly error: Error };

/** An access token with its expiry, as sign-in returns it. */
export interface AccessToken {
  readonly token: string;
  /** Epoch ms, by the same clock as the source's `now`. */
  readonly expiresAt: number;
}

export interface AccessTokenSourceOptions {
  readonly client: OAuthClient;
  /** Null until someone signs in; getAccessToken() then throws EOAUTH_NOT_SIGNED_IN. */
  readonly refreshToken: string | null;
  /** A token from sign-in, so the first call needs no request. */
  readonly accessToken?: AccessToken | undefined;
  /** Stores a rotated refresh token. A failure is reported, and the new token is still used. */
  readonly storeRefreshToken?: ((refreshToken: string) => Promise<void>) | undefined;
  readonly fetch?: FetchLike | undefined;
  readonly now?: (() => number) | undefined;
  /** Returns a number in [0, 1) for the backoff jitter. */
  readonly random?: (() => number) | undefined;
  readonly refreshMarginMs?: number | undefined;
  readonly retryInitialMs?: number | undefined;
  readonly retryMaxMs?: number | undefined;
  readonly requestTimeoutMs?: number | undefined;
  readonly onEvent?: ((event: TokenSourceEvent) => void) | undefined;
}

/** State for the UI, without any token. */
export interface TokenSourceStatus {
  readonly state: 'signed-out' | 'ready' | 'retrying' | 'rejected';
  /** Epoch ms when the cached access token expires, or null when there is none. */
  readonly expiresAt: number | null;
  /** Epoch ms of the next allowed refresh attempt while 'retrying'. */
  readonly retryAt: number | null;
  readonly lastError: { readonly code: OAuthError['code']; readonly message: string } | null;
}

interface CachedToken extends AccessToken {
  /** True when a forced refresh produced it, so it may not force another. */
  readonly forced: boolean;
}

export class AccessTokenSource {
  readonly #client: OAuthClient;
  readonly #options: AccessTokenSourceOptions;
  readonly #fetch: FetchLike;
  readonly #now: () => number;
  readonly #marginMs: number;

  #refreshToken: string | null;
  #cached: CachedToken | undefined;
  #inFlight: Promise<string> | undefined;
  #forceRefresh = false;
  /** Set after invalid_grant or a client error; cleared only by reset(). */
  #rejection: OAuthError | undefined;
  #failures = 0;
  #retryAt = 0;
  #lastFailure: OAuthError | undefined;
  /** Counts reset() calls, so a refresh that started before one does not change the state after it. */
  #generation = 0;

  constructor(options: AccessTokenSourceOptions) {
    this.#client = options.client;
    this.#options = options;
    this.#fetch = options.fetch ?? fetch;
    this.#now = options.now ?? Date.now;
    this.#marginMs = options.refreshMarginMs ?? REFRESH_MARGIN_MS;
    this.#refreshToken = options.refreshToken;
    this.#cached = options.accessToken ? { ...options.accessToken, forced: false } : undefined;
  }

  /** Returns a valid access token, refreshing it first when it is missing or about to expire. */
  async getAccessToken(): Promise<string> {
    if (this.#rejection) {
      throw this.#rejection;
    }

    const now = this.#now();
    const cached = this.#cached;
    const usable = cached !== undefined && !this.#forceRefresh && now < cached.expiresAt;
    if (usable && now < cached.expiresAt - this.#marginMs) {
      return cached.token;
    }

    if (this.#inFlight) {
      return this.#inFlight;
    }

    // Backing off after a failure: a token that still works beats an error.
    if (now < this.#retryAt) {
      if (usable) {
        return cached.token;
      }
      throw this.#lastFailure ?? new OAuthError('EOAUTH_UNAVAILABLE', 'The token endpoint is backing off.');
    }

    if (this.#refreshToken === null) {
      if (usable) {
        return cached.token;
      }
      throw new OAuthError(
        'EOAUTH_NOT_SIGNED_IN',
        'No OAuth2 refresh token is set: sign in to the smart host account first.',
      );
    }

    const refresh = this.#refresh(this.#refreshToken, this.#generation).finally(() => {
      if (this.#inFlight === refresh) {
        this.#inFlight = undefined;
      }
    });
    this.#inFlight = refresh;
    return refresh;
  }

  /**
   * Reports that the smart host rejected `rejectedToken`. Returns true when
   * a retry with the token from the next getAccessToken() makes sense: a
   * newer token exists, a refresh is running, or one forced refresh is now
   * due. Returns false when the token already came from a forced refresh,
   * or refreshing is stopped: the smart host rejects this account's
   * tokens for another reason, so the caller should treat it as rejected
   * credentials.
   */
  invalidate(rejectedToken: string): boolean {
    if (this.#rejection) {
      return false;
    }
    if (this.#inFlight || this.#cached === undefined || this.#cached.token !== rejectedToken) {
      return true;
    }
    if (this.#cached.forced) {
      return false;
    }

    this.#forceRefresh = true;
    return true;
  }

  /**
   * Replaces the refresh token after a new sign-in, and starts over: the
   * cached token, the backoff and a stored rejection are cleared.
   */
  reset(refreshToken: string, accessToken?: AccessToken): void {
    this.#generation += 1;
    this.#inFlight = undefined;
    this.#refreshToken = refreshToken;
    this.#cached = accessToken ? { ...accessToken, forced: false } : undefined;
    this.#forceRefresh = false;
    this.#rejection = undefined;
    this.#failures = 0;
    this.#retryAt = 0;
    this.#lastFailure = undefined;
  }

  get status(): TokenSourceStatus {
    const lastError = this.#rejection ?? (this.#now() < this.#retryAt ? this.#lastFailure : undefined);
    return {
      state: this.#state(),
      expiresAt: this.#cached?.expiresAt ?? null,
      retryAt: this.#now() < this.#retryAt ? this.#retryAt : null,
      lastError: lastError ? { code: lastError.code, message: lastError.message } : null,
    };
  }

  #state(): TokenSourceStatus['state'] {
    if (this.#rejection) return 'rejected';
    if (this.#now() < this.#retryAt) return 'retrying';
    if (this.#refreshToken === null && this.#cached === undefined) return 'signed-out';
    return 'ready';
  }

  async #refresh(refreshToken: string, generation: number): Promise<string> {
    const forced = this.#forceRefresh;
    const form: Record<string, string> = {
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
      scope: this.#client.scope,
    };

    const result = await requestToken(this.#client, form, {
      fetch: this.#fetch,
      timeoutMs: this.#options.requestTimeoutMs,
    });

    // A reset() during the request brought a new refresh token: the old
    // token's result goes to the callers that waited for it, and nowhere else.
    if (generation !== this.#generation) {
      if (result.kind === 'token') return result.token.accessToken;
      throw new OAuthError('EOAUTH_UNAVAILABLE', 'The refresh was superseded by a new sign-in; try again.');
    }

    if (result.kind === 'token') {
      return this.#accept(result.token, forced);
    }
    if (result.kind === 'error') {
      throw this.#reject(result);
    }
    return this.#backOff(result);
  }

  async #accept(token: TokenResponse, forced: boolean): Promise<string> {
    const lifetimeMs =
      token.expiresInSeconds === null ? ASSUMED_TOKEN_LIFETIME_MS : token.expiresInSeconds * SECOND;
    const expiresAt = this.#now() + lifetimeMs;
    const rotated = token.refreshToken !== null && token.refreshToken !== this.#refreshToken;

    this.#cached = { token: token.accessToken, expiresAt, forced };
    this.#forceRefresh = false;
    this.#failures = 0;
    this.#retryAt = 0;
    this.#lastFailure = undefined;

    if (rotated && token.refreshToken !== null) {
      this.#refreshToken = token.refreshToken;
      await this.#store(token.refreshToken);
    }

    this.#emit({ event: 'OAUTH_REFRESHED', expiresAt, rotated, forced });
    return token.accessToken;
  }

  async #store(refreshToken: string): Promise<void> {
    const store = this.#options.storeRefreshToken;
    if (!store) {
      return;
    }

    // The new refresh token stays in use in memory, because mail must keep
    // flowing. The old one usually stays valid for a while (Microsoft does
    // not revoke it on rotation), but after a restart it may no longer work.
    try {
      await store(refreshToken);
    } catch (error) {
      this.#emit({
        event: 'OAUTH_TOKEN_STORE_FAILED',
        error: error instanceof Error ? error : new Error(String(error)),
      });
    }
  }

  #reject(result: Extract<TokenEndpointResult, { kind: 'error' }>): OAuthError {
    const grantRejected = result.error === 'invalid_grant';
    const code = grantRejected ? 'EOAUTH_REFRESH_REJECTED' : 'EOAUTH_CLIENT_REJECTED';
    const detail = result.description ? `${result.error}: ${result.description}` : result.error;
    const advice = grantRejected
      ? 'The refresh token was revoked or has expired; sign in to the smart host account again.'
      : 'Check the OAuth client id, client secret, tenant, scope and token URL, then sign in again.';

    const error = new OAuthError(
      code,
      `The token endpoint ${this.#client.tokenUrl} rejected the refresh request (HTTP ${result.httpStatus} ${detail}). ${advice}`,
      { oauthError: result.error, description: result.description, httpStatus: result.httpStatus },
    );

    this.#rejection = error;
    this.#cached = undefined;
    this.#forceRefresh = false;
    this.#emit({ event: 'OAUTH_REFRESH_FAILED', code, reason: detail, retryAt: undefined });
    return error;
  }

  #backOff(result: Extract<TokenEndpointResult, { kind: 'unavailable' }>): string {
    this.#failures += 1;
    const backoffMs = retryDelayMs(
      this.#failures,
      {
        retryInitialSeconds: (this.#options.retryInitialMs ?? REFRESH_RETRY_INITIAL_MS) / SECOND,
        retryMaxSeconds: (this.#options.retryMaxMs ?? REFRESH_RETRY_MAX_MS) / SECOND,
      },
      this.#options.random,
    );
    const now = this.#now();
    this.#retryAt = now + Math.max(backoffMs, result.retryAfterMs ?? 0);

    this.#lastFailure = new OAuthError(
      'EOAUTH_UNAVAILABLE',
      `Could not refresh the OAuth2 access token: ${result.reason}. The next attempt is in ${Math.ceil((this.#retryAt - now) / SECOND)} s.`,
      { httpStatus: result.httpStatus, retryAt: this.#retryAt },
    );
    this.#emit({
      event: 'OAUTH_REFRESH_FAILED',
      code: 'EOAUTH_UNAVAILABLE',
      reason: result.reason,
      retryAt: this.#retryAt,
    });

    const cached = this.#cached;
    if (cached !== undefined && !this.#forceRefresh && now < cached.expiresAt) {
      return cached.token;
    }
    throw this.#lastFailure;
  }

  #emit(event: TokenSourceEvent): void {
    this.#options.onEvent?.(event);
  }
}
