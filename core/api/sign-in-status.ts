/**
 * Data shapes of the OAuth2 sign-in that the setup screen starts: the
 * state of the smart-host account's sign-in and of a sign-in in progress.
 * They never contain a token. Pure types, so the renderer can import them.
 */

/**
 * Sign-in flow. The browser flow is the authorization code grant with PKCE
 * and a loopback redirect. The device flow (RFC 8628) shows a code to enter
 * on another device.
 */
export type SignInFlow = 'browser' | 'device';

/** Whether a flow can run with the current OAuth settings. */
export interface FlowAvailability {
  readonly available: boolean;
  /** The reason it cannot run, in a plain sentence, or null when it can. */
  readonly reason: string | null;
}

/** State of the access-token source, as AccessTokenSource.status reports it. */
export interface TokenStateView {
  readonly state: 'signed-out' | 'ready' | 'retrying' | 'rejected';
  /** Epoch ms when the cached access token expires, or null. */
  readonly expiresAt: number | null;
  /** Epoch ms of the next refresh attempt while 'retrying', or null. */
  readonly retryAt: number | null;
  readonly lastError: { readonly code: string; readonly message: string } | null;
}

/** A browser sign-in waiting for the browser to come back to the relay. */
export interface PendingBrowserSignIn {
  readonly flow: 'browser';
  /**
   * The provider's sign-in page. The desktop app opens it in the system
   * browser; the web console's page opens it in a new tab.
   */
  readonly authorizationUrl: string;
  readonly startedAt: number;
  /** Epoch ms when the relay stops waiting for the browser. */
  readonly expiresAt: number;
}

/** A device sign-in waiting for someone to enter the code. */
export interface PendingDeviceSignIn {
  readonly flow: 'device';
  readonly userCode: string;
  readonly verificationUri: string;
  /** A link with the code already in it, when the provider sends one. */
  readonly verificationUriComplete: string | null;
  /** The provider's own instruction, or null. */
  readonly message: string | null;
  readonly startedAt: number;
  /** Epoch ms when the code stops working. */
  readonly expiresAt: number;
}

export type PendingSignIn = PendingBrowserSignIn | PendingDeviceSignIn;

/** Outcome of the last sign-in that ended. */
export type SignInOutcome =
  | { readonly ok: true; readonly at: number }
  | { readonly ok: false; readonly at: number; readonly code: string; readonly message: string };

export interface SignInStatus {
  /** False when this relay offers no sign-in from the UI. */
  readonly available: boolean;
  readonly authMethod: 'password' | 'xoauth2';
  readonly provider: 'microsoft' | 'google' | 'custom';
  /** The mailbox that the relay signs in as (the smart-host user), or null. */
  readonly account: string | null;
  /** True when a refresh token for the current OAuth settings is in use. */
  readonly signedIn: boolean;
  /** Null while no sign-in for the current OAuth settings exists. */
  readonly token: TokenStateView | null;
  readonly pending: PendingSignIn | null;
  readonly lastOutcome: SignInOutcome | null;
  readonly flows: { readonly browser: FlowAvailability; readonly device: FlowAvailability };
  /** The problem with the OAuth settings (such as a missing client id), or null. */
  readonly settingsProblem: string | null;
  /**
   * The reason the stored sign-in could not be read or the last one could
   * not be saved, or null. Without a keychain, a sign-in is used only until
   * the relay stops.
   */
  readonly storageProblem: string | null;
  /** True when the relay opens the browser itself (desktop app), false when the caller must open authorizationUrl. */
  readonly opensBrowser: boolean;
}
