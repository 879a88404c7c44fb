/**
 * OAuth2 sign-in of the smart-host account, started from the user
 * interfaces: the setup screen, and "Sign in again" on a credentials
 * alert. The web console and the desktop app both run it through the API
 * methods getSignInStatus, startSignIn and cancelSignIn.
 *
 * start() returns as soon as the user has something to act on: the
 * provider's page (browser flow), or the code and the link (device flow).
 * The sign-in then completes in the background. On success the grant is
 * saved to the RefreshTokenStore first (the 0600 file in the data dir for
 * `serve`, safeStorage on the desktop). Then a new AccessTokenSource goes
 * to the relay through Relay.setTokenProvider(), which logs SIGNED_IN and
 * ends a credentials stop. At most one sign-in runs at a time, so a new
 * start() cancels the one in progress.
 *
 * In the browser flow the loopback redirect listener runs on the relay's
 * machine, so the browser must run there too. The desktop app passes
 * `openUrl` (shell.openExternal). The web console passes none, and its
 * page opens the URL that start() returns.
 *
 * Logs SIGN_IN_STARTED (flow, provider) and SIGN_IN_FAILED (flow, code,
 * reason), and the token source's OAUTH_* events. No event carries a
 * token, an authorization URL or a user code.
 *
 * start() throws SettingsError for incomplete OAuth settings and
 * OAuthError when the flow cannot start: EOAUTH_FLOW_UNAVAILABLE,
 * EOAUTH_LOOPBACK_FAILED, EOAUTH_SIGN_IN_CANCELLED (a newer start() or
 * cancel() came first), or the provider's rejection of the device
 * authorization request.
 *
 * Tunables: `browserTimeoutMs` (default SIGN_IN_TIMEOUT_MS) and
 * `callbackPort` (default 0, a free port).
 */
import { ApiError } from '../api/definition.ts';
import type { ApiImplementation } from '../api/definition.ts';
import type { PendingSignIn, SignInOutcome, SignInStatus, TokenStateView } from '../api/sign-in-status.ts';
import { SettingsError } from '../errors.ts';
import type { EventFieldValue, EventWord } from '../events.ts';
import type { Settings } from '../settings.ts';
import { OAuthError, isOAuthError } from '../oauth/errors.ts';
import type { OAuthClient } from '../oauth/providers.ts';
import { isSameClient, oauthClientFrom, tokenEventFields } from '../oauth/relay-tokens.ts';
import { SIGN_IN_TIMEOUT_MS, requestDeviceCode, signInWithBrowser } from '../oauth/sign-in.ts';
import type { SignInResult } from '../oauth/sign-in.ts';
import type { FetchLike } from '../oauth/token-endpoint.ts';
import { AccessTokenSource } from '../oauth/token-source.ts';
import type { AccessToken } from '../oauth/token-source.ts';
import { chooseRefreshToken, grantFor, saveRotatedTokensTo } from '../oauth/token-store.ts';
import type { RefreshTokenStore } from '../oauth/token-store.ts';
import type { AccessTokenProvider } from '../oauth/xoauth2.ts';

type SignInFlow = PendingSignIn['flow'];

/** The part of the Relay that the sign-in uses. */
export interface SignInRelay {
  readonly settings: Settings;
  readonly bus: { emit(event: EventWord, fields: Record<string, EventFieldValue>): void };
  setTokenProvider(tokens: AccessTokenProvider | null): void;
}

export interface SignInServiceOptions {
  /** Storage for grants: FileTokenStore for `serve`, SecretTokenStore on the desktop. */
  readonly store: RefreshTokenStore;
  /** Opens the provider's page in the system browser (desktop). Omitted: the caller opens the returned URL. */
  readonly openUrl?: ((url: string) => Promise<void>) | undefined;
  /** Google "Desktop app" clients need one; never stored in the settings. */
  readonly clientSecret?: string | null | undefined;
  /** Kept in saved grants, so a stored sign-in keeps winning over an unchanged SMARTHOST_OAUTH_REFRESH_TOKEN. */
  readonly seedSha256?: string | null | undefined;
  readonly fetch?: FetchLike | undefined;
  readonly browserTimeoutMs?: number | undefined;
  readonly callbackPort?: number | undefined;
}

interface Attempt {
  readonly flow: SignInFlow;
  readonly client: OAuthClient;
  readonly controller: AbortController;
  /** Set when start() returns it. Until then no SIGN_IN_STARTED was logged, so cancel() logs nothing. */
  view: PendingSignIn | null;
}

function tokenStateOf(tokens: AccessTokenSource): TokenStateView {
  const status = tokens.status;
  return { state: status.state, expiresAt: status.expiresAt, retryAt: status.retryAt, lastError: status.lastError };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export class SignInService {
  readonly #options: SignInServiceOptions;
  #relay: SignInRelay | null = null;
  #client: OAuthClient | null = null;
  #tokens: AccessTokenSource | null = null;
  #attempt: Attempt | null = null;
  #lastOutcome: SignInOutcome | null = null;
  #storageProblem: string | null = null;
  #closed = false;

  constructor(options: SignInServiceOptions) {
    this.#options = options;
  }

  /** The token source of the latest sign-in, or null before any. */
  get tokens(): AccessTokenSource | null {
    return this.#tokens;
  }

  /**
   * Builds the token source from the stored grant when it belongs to the
   * client that `settings` describe, and returns it for Relay.start().
   * Returns null when the settings name no client yet, no grant fits, or
   * the store cannot be read. status() then reports the reason.
   */
  async load(settings: Settings): Promise<AccessTokenSource | null> {
    let client: OAuthClient;
    try {
      client = oauthClientFrom(settings, this.#options.clientSecret ?? null);
    } catch (error) {
      if (error instanceof SettingsError) return null;
      throw error;
    }

    let stored;
    try {
      stored = await this.#options.store.load();
    } catch (error) {
      // The relay starts anyway, so the user can sign in again.
      this.#storageProblem = `The stored sign-in could not be read: ${messageOf(error)}`;
      return null;
    }

    const choice = chooseRefreshToken(client, stored, null);
    if (choice.refreshToken === null) return null;
    this.adopt(client, this.#newTokenSource(client, choice.refreshToken, undefined));
    return this.#tokens;
  }

  /** Uses a token source built elsewhere, such as serve's from SMARTHOST_OAUTH_REFRESH_TOKEN. */
  adopt(client: OAuthClient, tokens: AccessTokenSource): void {
    this.#client = client;
    this.#tokens = tokens;
  }

  /** Connects the running relay: its settings, its event bus and its token provider. */
  attach(relay: SignInRelay): void {
    this.#relay = relay;
    if (this.#storageProblem !== null) {
      relay.bus.emit('ERROR', { what: 'load the OAuth2 sign-in', error: this.#storageProblem });
    }
  }

  status(): SignInStatus {
    const settings = this.#requireRelay().settings;
    const resolved = this.#resolveClient(settings);
    const client = resolved.client;
    const current = client && this.#client && isSameClient(client, this.#client) ? this.#tokens : null;
    const token = current ? tokenStateOf(current) : null;

    return {
      available: true,
      authMethod: settings.authMethod,
      provider: settings.oauthProvider,
      account: settings.user,
      signedIn: token !== null && token.state !== 'signed-out',
      token,
      pending: this.#attempt?.view ?? null,
      lastOutcome: this.#lastOutcome,
      flows: {
        browser: client?.authorizationUrl
          ? { available: true, reason: null }
          : { available: false, reason: resolved.problem ?? 'No authorization URL is configured for this provider.' },
        device: client?.deviceAuthorizationUrl
          ? { available: true, reason: null }
          : { available: false, reason: resolved.problem ?? client?.deviceFlowUnavailableReason ?? null },
      },
      settingsProblem: resolved.problem,
      storageProblem: this.#storageProblem,
      opensBrowser: this.#options.openUrl !== undefined,
    };
  }

  /** Starts a sign-in with the saved OAuth settings and returns what the user must open or enter. */
  async start(flow: SignInFlow): Promise<PendingSignIn> {
    const relay = this.#requireRelay();
    if (this.#closed) throw new OAuthError('EOAUTH_SIGN_IN_CANCELLED', 'The relay is stopping, so no sign-in can start.');
    const client = oauthClientFrom(relay.settings, this.#options.clientSecret ?? null);

    this.cancel();
    const attempt: Attempt = { flow, client, controller: new AbortController(), view: null };
    this.#attempt = attempt;

    let started: { view: PendingSignIn; done: Promise<SignInResult> };
    try {
      started = flow === 'browser' ? await this.#startBrowser(attempt) : await this.#startDevice(attempt);
    } catch (error) {
      if (this.#attempt === attempt) this.#attempt = null;
      throw error;
    }
    const { view, done } = started;
    void this.#settle(attempt, done);
    if (this.#attempt !== attempt) {
      // A cancel() or a newer start() came while this one was starting.
      attempt.controller.abort();
      throw new OAuthError('EOAUTH_SIGN_IN_CANCELLED', 'The sign-in was cancelled before it started.');
    }

    attempt.view = view;
    relay.bus.emit('SIGN_IN_STARTED', { flow, provider: client.provider, account: relay.settings.user ?? undefined });
    return view;
  }

  /** Ends the sign-in in progress. Returns false when none runs. */
  cancel(): boolean {
    const attempt = this.#attempt;
    if (attempt === null) return false;

    this.#attempt = null;
    attempt.controller.abort();
    if (attempt.view !== null) {
      this.#report(attempt.flow, new OAuthError('EOAUTH_SIGN_IN_CANCELLED', 'The sign-in was cancelled.'));
    }
    return true;
  }

  /** Stops any sign-in without logging, because the relay and its log are stopping. */
  close(): void {
    this.#closed = true;
    const attempt = this.#attempt;
    this.#attempt = null;
    attempt?.controller.abort();
  }

  async #startBrowser(attempt: Attempt): Promise<{ view: PendingSignIn; done: Promise<SignInResult> }> {
    const timeoutMs = this.#options.browserTimeoutMs ?? SIGN_IN_TIMEOUT_MS;
    const openUrl = this.#options.openUrl;
    const user = this.#requireRelay().settings.user;
    let announce: (url: string) => void = () => undefined;
    const announced = new Promise<string>((resolve) => {
      announce = resolve;
    });

    const done = signInWithBrowser({
      client: attempt.client,
      openUrl: (url) => openUrl?.(url),
      fetch: this.#options.fetch,
      timeoutMs,
      port: this.#options.callbackPort,
      loginHint: user?.includes('@') ? user : undefined,
      signal: attempt.controller.signal,
      onAuthorizationUrl: (url) => announce(url),
    });

    // The URL comes before the browser opens. An error that comes first
    // (no authorization URL, a busy callback port) ends start() instead.
    const authorizationUrl = await Promise.race([announced, done.then(() => announced)]);
    const startedAt = Date.now();
    return { view: { flow: 'browser', authorizationUrl, startedAt, expiresAt: startedAt + timeoutMs }, done };
  }

  async #startDevice(attempt: Attempt): Promise<{ view: PendingSignIn; done: Promise<SignInResult> }> {
    const signIn = await requestDeviceCode({
      client: attempt.client,
      fetch: this.#options.fetch,
      signal: attempt.controller.signal,
    });
    const { prompt } = signIn;
    const view: PendingSignIn = {
      flow: 'device',
      userCode: prompt.userCode,
      verificationUri: prompt.verificationUri,
      verificationUriComplete: prompt.verificationUriComplete,
      message: prompt.message,
      startedAt: Date.now(),
      expiresAt: prompt.expiresAt,
    };
    return { view, done: signIn.complete() };
  }

  /** Waits for the sign-in to end, then uses its grant or reports its failure. */
  async #settle(attempt: Attempt, done: Promise<SignInResult>): Promise<void> {
    let result: SignInResult;
    try {
      result = await done;
    } catch (error) {
      this.#fail(attempt, error);
      return;
    }

    try {
      await this.#succeed(attempt, result);
    } catch (error) {
      this.#relay?.bus.emit('ERROR', { what: 'use the new OAuth2 sign-in', error: messageOf(error) });
    }
  }

  async #succeed(attempt: Attempt, result: SignInResult): Promise<void> {
    // A sign-in that was cancelled or replaced in the meantime is dropped.
    if (this.#attempt !== attempt || this.#closed) return;
    this.#attempt = null;
    const relay = this.#requireRelay();
    const { client } = attempt;

    // Saved before use, so a restart finds the grant that the relay uses.
    // Without a keychain it is used anyway, until the relay stops.
    try {
      await this.#options.store.save(grantFor(client, result.refreshToken, this.#options.seedSha256 ?? null));
      this.#storageProblem = null;
    } catch (error) {
      this.#storageProblem = `The sign-in works until the relay stops, but it could not be saved: ${messageOf(error)}`;
      relay.bus.emit('OAUTH_TOKEN_STORE_FAILED', { error: messageOf(error) });
    }
    if (this.#closed) return;

    this.adopt(client, this.#newTokenSource(client, result.refreshToken, result.accessToken));
    this.#lastOutcome = { ok: true, at: Date.now() };
    relay.setTokenProvider(this.#tokens);
  }

  #fail(attempt: Attempt, error: unknown): void {
    if (this.#attempt !== attempt || this.#closed) return;
    this.#attempt = null;
    this.#report(attempt.flow, error);
  }

  #report(flow: SignInFlow, error: unknown): void {
    const code = isOAuthError(error) ? error.code : 'EINTERNAL';
    const message = messageOf(error);
    this.#lastOutcome = { ok: false, at: Date.now(), code, message };
    this.#requireRelay().bus.emit('SIGN_IN_FAILED', { flow, code, reason: message });
  }

  #newTokenSource(client: OAuthClient, refreshToken: string, accessToken: AccessToken | undefined): AccessTokenSource {
    return new AccessTokenSource({
      client,
      refreshToken,
      accessToken,
      storeRefreshToken: saveRotatedTokensTo(this.#options.store, client, this.#options.seedSha256 ?? null),
      fetch: this.#options.fetch,
      onEvent: (event) => this.#relay?.bus.emit(event.event, tokenEventFields(event)),
    });
  }

  #resolveClient(settings: Settings): { client: OAuthClient | null; problem: string | null } {
    try {
      return { client: oauthClientFrom(settings, this.#options.clientSecret ?? null), problem: null };
    } catch (error) {
      if (error instanceof SettingsError) return { client: null, problem: error.message };
      throw error;
    }
  }

  #requireRelay(): SignInRelay {
    if (this.#relay === null) throw new Error('Internal error: SignInService.attach() must run before the sign-in is used.');
    return this.#relay;
  }
}

const NO_SIGN_IN_REASON = 'This relay offers no OAuth2 sign-in from its user interface.';

/** Status of a relay that offers no sign-in from its user interfaces. */
function unavailableStatus(settings: Settings): SignInStatus {
  const reason = NO_SIGN_IN_REASON;
  return {
    available: false,
    authMethod: settings.authMethod,
    provider: settings.oauthProvider,
    account: settings.user,
    signedIn: false,
    token: null,
    pending: null,
    lastOutcome: null,
    flows: { browser: { available: false, reason }, device: { available: false, reason } },
    settingsProblem: null,
    storageProblem: null,
    opensBrowser: false,
  };
}

/**
 * The sign-in's API methods, for createApiHandlers. An OAuthError becomes
 * an ApiError EOAUTH with the OAuth2 code as its value.
 */
export function signInApiMethods(
  service: SignInService | undefined,
  settings: () => Settings,
): Pick<ApiImplementation, 'getSignInStatus' | 'startSignIn' | 'cancelSignIn'> {
  return {
    getSignInStatus: async () => service?.status() ?? unavailableStatus(settings()),
    startSignIn: async (input) => {
      if (!service) {
        throw new ApiError({ code: 'EOAUTH', message: NO_SIGN_IN_REASON, value: 'EOAUTH_FLOW_UNAVAILABLE' });
      }
      try {
        return await service.start(input.flow);
      } catch (error) {
        if (!isOAuthError(error)) throw error;
        throw new ApiError({ code: 'EOAUTH', message: error.message, value: error.code });
      }
    },
    cancelSignIn: async () => ({ cancelled: service?.cancel() ?? false }),
  };
}
