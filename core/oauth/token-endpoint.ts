/**
 * One request to an OAuth2 token endpoint (RFC 6749 section 3.2) or
 * device authorization endpoint (RFC 8628 section 3.1): a form POST whose
 * JSON response is sorted into a token, an RFC 6749 section 5.2 error, or
 * "unavailable" (network error, timeout, 408, 429, 5xx or a body that is
 * not the expected JSON), which the caller may retry later.
 *
 * The client authenticates with client_id and, when it has one,
 * client_secret in the form body (RFC 6749 section 2.3.1), which both
 * Microsoft and Google accept.
 *
 * Throws nothing for HTTP or network failures; they become results. A
 * request aborted through `signal` throws OAuthError EOAUTH_SIGN_IN_CANCELLED,
 * because only the sign-in flows pass a signal.
 */
import { OAuthError } from './errors.ts';
import type { OAuthClient } from './providers.ts';

/** The subset of the fetch API this module uses, so tests can inject their own. */
export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

/** Time allowed for one request, connect to last byte. */
export const TOKEN_REQUEST_TIMEOUT_MS = 30 * 1000;

/** Longest Retry-After that is honoured; a larger value is treated as this. */
const MAX_RETRY_AFTER_MS = 60 * 60 * 1000;

/** A successful token response (RFC 6749 section 5.1). */
export interface TokenResponse {
  readonly accessToken: string;
  /** Lifetime in seconds, or null when the server did not send expires_in. */
  readonly expiresInSeconds: number | null;
  /** Null when the response has no refresh_token (a refresh that does not rotate). */
  readonly refreshToken: string | null;
  readonly scope: string | null;
}

export type TokenEndpointResult =
  | { readonly kind: 'token'; readonly token: TokenResponse }
  | {
      readonly kind: 'error';
      readonly httpStatus: number;
      /** RFC 6749 `error`, or `http_<status>` when a 4xx carried no JSON error. */
      readonly error: string;
      readonly description: string | undefined;
    }
  | {
      readonly kind: 'unavailable';
      readonly httpStatus: number | undefined;
      /** One sentence for the log, without any token. */
      readonly reason: string;
      /** From a Retry-After header, in ms; undefined when there was none. */
      readonly retryAfterMs: number | undefined;
    };

export interface PostFormOptions {
  readonly fetch: FetchLike;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal | undefined;
}

/** Posts `form` plus the client's credentials to a token endpoint. */
export async function requestToken(
  client: OAuthClient,
  form: Readonly<Record<string, string>>,
  options: PostFormOptions,
): Promise<TokenEndpointResult> {
  const result = await postForm(client.tokenUrl, withClientCredentials(client, form), options);
  if (result.kind !== 'json') {
    return result;
  }

  const token = parseTokenResponse(result.body);
  if (token === null) {
    return unavailable(result.httpStatus, `${client.tokenUrl} returned a token response without a usable access_token`);
  }
  return { kind: 'token', token };
}

/** The JSON body of a 2xx response, or the error and unavailable results as they are. */
export type JsonResult =
  | { readonly kind: 'json'; readonly httpStatus: number; readonly body: Record<string, unknown> }
  | Exclude<TokenEndpointResult, { kind: 'token' }>;

/** Posts an urlencoded form and sorts the response. The device authorization request uses it too. */
export async function postForm(
  url: string,
  form: Readonly<Record<string, string>>,
  options: PostFormOptions,
): Promise<JsonResult> {
  const timeout = AbortSignal.timeout(options.timeoutMs ?? TOKEN_REQUEST_TIMEOUT_MS);
  const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;

  let response: Response;
  let text: string;
  try {
    response = await options.fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      },
      body: new URLSearchParams(form).toString(),
      redirect: 'error',
      signal,
    });
    text = await response.text();
  } catch (error) {
    // The caller's abort (a cancelled sign-in) is not a network failure.
    if (options.signal?.aborted) {
      throw new OAuthError('EOAUTH_SIGN_IN_CANCELLED', 'The sign-in was cancelled.', { cause: error });
    }
    return unavailable(undefined, `request to ${url} failed: ${describeFetchError(error)}`);
  }

  return sortResponse(url, response, text);
}

function sortResponse(url: string, response: Response, text: string): JsonResult {
  const status = response.status;
  const body = parseJsonObject(text);
  const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'));

  if (status >= 200 && status < 300) {
    if (body === null) {
      return unavailable(status, `${url} returned HTTP ${status} without a JSON object`);
    }
    return { kind: 'json', httpStatus: status, body };
  }

  if (status === 408 || status === 429 || status >= 500) {
    return { kind: 'unavailable', httpStatus: status, reason: `${url} returned HTTP ${status}`, retryAfterMs };
  }

  // RFC 6749 section 5.2 errors come with 400 (or 401 for invalid_client);
  // a 4xx without one, such as 404 for a wrong URL, is kept as http_<status>.
  const error = body !== null && typeof body.error === 'string' && body.error !== '' ? body.error : `http_${status}`;
  const description = body !== null && typeof body.error_description === 'string' ? body.error_description : undefined;
  return { kind: 'error', httpStatus: status, error, description };
}

/** Adds client_id, and client_secret when the client has one, to a form. */
export function withClientCredentials(
  client: OAuthClient,
  form: Readonly<Record<string, string>>,
): Record<string, string> {
  const fields: Record<string, string> = { ...form, client_id: client.clientId };
  if (client.clientSecret !== null) {
    fields.client_secret = client.clientSecret;
  }
  return fields;
}

function parseTokenResponse(body: Record<string, unknown>): TokenResponse | null {
  const accessToken = body.access_token;
  if (typeof accessToken !== 'string' || accessToken === '') {
    return null;
  }

  // RFC 6749 section 7.1: the client must understand the token type. Only
  // bearer tokens fit in XOAUTH2. A missing token_type is tolerated because
  // some servers leave it out.
  const tokenType = body.token_type;
  if (tokenType !== undefined && (typeof tokenType !== 'string' || tokenType.toLowerCase() !== 'bearer')) {
    return null;
  }

  const refreshToken = body.refresh_token;
  const scope = body.scope;
  return {
    accessToken,
    expiresInSeconds: parsePositiveNumber(body.expires_in),
    refreshToken: typeof refreshToken === 'string' && refreshToken !== '' ? refreshToken : null,
    scope: typeof scope === 'string' ? scope : null,
  };
}

/** Accepts a number or a numeric string (some servers quote expires_in). */
export function parsePositiveNumber(value: unknown): number | null {
  const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isFinite(number) || number <= 0) {
    return null;
  }
  return number;
}

function parseJsonObject(text: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(text);
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      return value as Record<string, unknown>;
    }
  } catch {
    // Not JSON: an HTML error page from a proxy, for example. The caller
    // reports the HTTP status instead.
  }
  return null;
}

/** Retry-After in seconds or as an HTTP date (RFC 9110 section 10.2.3). */
function parseRetryAfter(header: string | null): number | undefined {
  if (header === null || header.trim() === '') {
    return undefined;
  }

  const seconds = Number(header);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(header) - Date.now();
  if (!Number.isFinite(ms) || ms < 0) {
    return undefined;
  }
  return Math.min(ms, MAX_RETRY_AFTER_MS);
}

function unavailable(httpStatus: number | undefined, reason: string): Extract<TokenEndpointResult, { kind: 'unavailable' }> {
  return { kind: 'unavailable', httpStatus, reason, retryAfterMs: undefined };
}

function describeFetchError(error: unknown): string {
  if (!(error instanceof Error)) {
    return String(error);
  }
  if (error.name === 'TimeoutError') {
    return 'timed out';
  }
  // undici reports "fetch failed" and keeps the socket error as the cause.
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return `${error.message}${cause}`;
}
