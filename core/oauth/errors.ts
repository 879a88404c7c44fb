/**
 * Errors of the OAuth2 module. Each carries a stable string code, so
 * callers match on the code and never on the message text. The codes and
 * what the relay should do about each are listed in docs/oauth.md.
 *
 * Messages never contain a token: they name the endpoint, the HTTP status
 * and the provider's RFC 6749 error code and description.
 */

export type OAuthErrorCode =
  /** No refresh token is configured, because no sign-in has happened yet. */
  | 'EOAUTH_NOT_SIGNED_IN'
  /** The token endpoint returned invalid_grant for the refresh token. */
  | 'EOAUTH_REFRESH_REJECTED'
  /** The token endpoint rejected the client: wrong client id or secret, scope or URL. */
  | 'EOAUTH_CLIENT_REJECTED'
  /** Network error, timeout, 5xx, 429 or an unreadable response: retry later. */
  | 'EOAUTH_UNAVAILABLE'
  /** The user declined the consent screen (RFC 6749 access_denied). */
  | 'EOAUTH_ACCESS_DENIED'
  /** The device code expired before the user approved it (RFC 8628 expired_token). */
  | 'EOAUTH_DEVICE_CODE_EXPIRED'
  /** No redirect reached the loopback listener in time. */
  | 'EOAUTH_SIGN_IN_TIMEOUT'
  /** The caller aborted the sign-in. */
  | 'EOAUTH_SIGN_IN_CANCELLED'
  /** The authorization server returned another error during sign-in. */
  | 'EOAUTH_AUTHORIZATION_FAILED'
  /** Sign-in succeeded, but the provider issued no refresh token. */
  | 'EOAUTH_NO_REFRESH_TOKEN'
  /** The provider offers no endpoint for the requested sign-in flow. */
  | 'EOAUTH_FLOW_UNAVAILABLE'
  /** openUrl() failed, so no browser shows the sign-in page. */
  | 'EOAUTH_BROWSER_FAILED'
  /** The loopback redirect listener could not start. */
  | 'EOAUTH_LOOPBACK_FAILED'
  /** The token file can be read by other users, or is not a regular file. */
  | 'EOAUTH_TOKEN_FILE_INSECURE'
  /** The token file is not valid JSON of the expected shape. */
  | 'EOAUTH_TOKEN_FILE_INVALID';

export interface OAuthErrorDetails {
  /** RFC 6749 section 5.2 `error` value from the server, such as 'invalid_grant'. */
  readonly oauthError?: string | undefined;
  /** The server's `error_description`, shortened to MAX_DESCRIPTION_LENGTH. */
  readonly description?: string | undefined;
  readonly httpStatus?: number | undefined;
  /** Epoch ms before which the token endpoint is not called again (EOAUTH_UNAVAILABLE only). */
  readonly retryAt?: number | undefined;
  readonly cause?: unknown;
}

/** Maximum length of a provider's error description kept on an error, in characters. */
const MAX_DESCRIPTION_LENGTH = 300;

export class OAuthError extends Error {
  readonly code: OAuthErrorCode;
  readonly oauthError: string | undefined;
  readonly description: string | undefined;
  readonly httpStatus: number | undefined;
  readonly retryAt: number | undefined;

  constructor(code: OAuthErrorCode, message: string, details: OAuthErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'OAuthError';
    this.code = code;
    this.oauthError = details.oauthError;
    this.description = shorten(details.description);
    this.httpStatus = details.httpStatus;
    this.retryAt = details.retryAt;
  }

  /** True when the same request may succeed later without a person changing anything. */
  get transient(): boolean {
    return this.code === 'EOAUTH_UNAVAILABLE';
  }
}

/** Returns true when `error` is an OAuthError with one of `codes` (any code when none are given). */
export function isOAuthError(error: unknown, ...codes: readonly OAuthErrorCode[]): error is OAuthError {
  if (!(error instanceof OAuthError)) {
    return false;
  }
  return codes.length === 0 || codes.includes(error.code);
}

function shorten(text: string | undefined): string | undefined {
  if (text === undefined || text.length <= MAX_DESCRIPTION_LENGTH) {
    return text;
  }
  return `${text.slice(0, MAX_DESCRIPTION_LENGTH)}…`;
}
