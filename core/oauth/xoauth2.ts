/**
 * SMTP AUTH XOAUTH2 for the smart-host session, on nodemailer's
 * SMTPConnection (nodemailer 10.6.1).
 *
 * The SASL XOAUTH2 initial response, as Google and Microsoft document it,
 * is base64("user=" user "\x01auth=Bearer " token "\x01\x01"). A server
 * that rejects the token either replies 334 with base64 JSON such as
 * {"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}
 * and, after the client's empty line, 535 (Gmail), or replies 535 at once
 * ("535 5.7.3 Authentication unsuccessful", Microsoft 365).
 *
 * SMTPConnection.login() runs XOAUTH2 only with an `oauth2` object (a
 * nodemailer XOAuth2 instance); a bare accessToken field is ignored and
 * the login falls back to PLAIN or LOGIN. xoauth2Auth() builds that
 * object around an AccessTokenSource through XOAuth2's provisionCallback.
 * On the 334 path nodemailer itself asks for a renewed token once; on the
 * direct-535 path loginWithXOAuth2() retries once. Both retries go through
 * AccessTokenSource.invalidate(), which allows one forced refresh per
 * token, so a rejecting smart host costs at most two AUTH commands and one
 * extra token request per session.
 *
 * Throws what login() reports (a nodemailer error with code 'EAUTH',
 * responseCode and response), or the OAuthError of the token source when
 * no token could be had.
 */
import type SMTPConnection from 'nodemailer/lib/smtp-connection';
import XOAuth2 from 'nodemailer/lib/xoauth2';
import type { NodemailerError } from 'nodemailer/lib/errors';
import { isOAuthError } from './errors.ts';
import type { OAuthError } from './errors.ts';

/** The part of AccessTokenSource that the login needs. */
export interface AccessTokenProvider {
  getAccessToken(): Promise<string>;
  invalidate(rejectedToken: string): boolean;
}

/** Returns the base64 SASL XOAUTH2 initial client response. */
export function buildXOAuth2Response(user: string, accessToken: string): string {
  return Buffer.from(`user=${user}\x01auth=Bearer ${accessToken}\x01\x01`, 'utf8').toString('base64');
}

/** The JSON that a server sends in the 334 challenge after rejecting a token. */
export interface XOAuth2ErrorChallenge {
  readonly status: string | undefined;
  readonly schemes: string | undefined;
  readonly scope: string | undefined;
}

/**
 * Decodes a "334 <base64 JSON>" reply (or just the base64 part). Returns
 * undefined when the reply is not such a challenge.
 */
export function decodeXOAuth2Challenge(reply: string): XOAuth2ErrorChallenge | undefined {
  const payload = reply.trim().replace(/^334[ -]/, '').trim();
  if (payload === '' || !/^[A-Za-z0-9+/=]+$/.test(payload)) {
    return undefined;
  }

  try {
    const value: unknown = JSON.parse(Buffer.from(payload, 'base64').toString('utf8'));
    if (value === null || typeof value !== 'object') {
      return undefined;
    }
    const record = value as Record<string, unknown>;
    return {
      status: typeof record.status === 'string' ? record.status : undefined,
      schemes: typeof record.schemes === 'string' ? record.schemes : undefined,
      scope: typeof record.scope === 'string' ? record.scope : undefined,
    };
  } catch {
    // Not base64 JSON, so not an XOAUTH2 error challenge.
    return undefined;
  }
}

/** The fields of a nodemailer error that the classification reads. */
export interface AuthFailure {
  readonly responseCode?: number | false | undefined;
  readonly response?: string | undefined;
}

/**
 * Returns true when an AUTH XOAUTH2 failure means "this access token was
 * refused", so one forced refresh may help: a 535 or a 334 error
 * challenge. 535 5.7.139 (SMTP AUTH disabled for the tenant or mailbox)
 * is a setting that no new token changes, and 4xx replies are transient,
 * so those return false.
 */
export function isAccessTokenRejection(failure: AuthFailure): boolean {
  const response = failure.response ?? '';
  if (/\b5\.7\.139\b/.test(response)) {
    return false;
  }
  if (failure.responseCode === 535) {
    return true;
  }
  return failure.responseCode === 334 && decodeXOAuth2Challenge(response) !== undefined;
}

/** The auth object for SMTPConnection.login(), plus what happened while it ran. */
export interface XOAuth2Auth {
  readonly auth: SMTPConnection.AuthenticationOAuth2;
  /** The last token handed to nodemailer, or undefined when none was. */
  readonly lastToken: () => string | undefined;
  /** True when nodemailer already asked for a renewed token during this login. */
  readonly renewed: () => boolean;
  /** The token source's error, when it could not supply a token. */
  readonly sourceError: () => OAuthError | undefined;
}

/** Builds the login() argument that makes nodemailer authenticate with XOAUTH2. */
export function xoauth2Auth(user: string, source: AccessTokenProvider): XOAuth2Auth {
  let lastToken: string | undefined;
  let renewed = false;
  let sourceError: OAuthError | undefined;

  // A new XOAuth2 per login, because it caches the token for its own
  // lifetime; the source does the caching and refreshing.
  const oauth2 = new XOAuth2({
    user,
    provisionCallback: (_user, renew, callback) => {
      // renew: the server rejected `lastToken` with a 334 challenge. When
      // the source allows no forced refresh, the same token goes again so
      // the login ends with the smart host's own 535 reply.
      if (renew) {
        renewed = true;
        if (lastToken !== undefined && !source.invalidate(lastToken)) {
          callback(null, lastToken);
          return;
        }
      }

      source.getAccessToken().then(
        (token) => {
          lastToken = token;
          callback(null, token);
        },
        (error: unknown) => {
          sourceError = isOAuthError(error) ? error : undefined;
          // nodemailer sets code = 'EAUTH' on the error object it gets, so
          // it gets a wrapper: the source's own error keeps its code.
          const message = error instanceof Error ? error.message : String(error);
          callback(new Error(`No OAuth2 access token: ${message}`, { cause: error }));
        },
      );
    },
  });

  return {
    auth: { type: 'OAuth2', method: 'XOAUTH2', user, oauth2 },
    lastToken: () => lastToken,
    renewed: () => renewed,
    sourceError: () => sourceError,
  };
}

/**
 * Authenticates `connection` with XOAUTH2, retrying once with a forced
 * refresh when the smart host rejects the token with a direct 535.
 */
export async function loginWithXOAuth2(
  connection: SMTPConnection,
  user: string,
  source: AccessTokenProvider,
): Promise<void> {
  const first = xoauth2Auth(user, source);
  const firstError = await login(connection, first);
  if (firstError === undefined) {
    return;
  }
  throwIfSourceFailed(first);

  const token = first.lastToken();
  const retry =
    !first.renewed() && token !== undefined && isAccessTokenRejection(firstError) && source.invalidate(token);
  if (!retry) {
    throw firstError;
  }

  const second = xoauth2Auth(user, source);
  const secondError = await login(connection, second);
  if (secondError === undefined) {
    return;
  }
  throwIfSourceFailed(second);

  // A smart host that closes the connection after a failed AUTH leaves no
  // reply to the retry; its first reply is the one worth reporting.
  throw secondError.responseCode ? secondError : firstError;
}

function throwIfSourceFailed(attempt: XOAuth2Auth): void {
  const error = attempt.sourceError();
  if (error !== undefined) {
    throw error;
  }
}

function login(connection: SMTPConnection, attempt: XOAuth2Auth): Promise<NodemailerError | undefined> {
  return new Promise((resolve) => {
    connection.login(attempt.auth, (error) => resolve(error ?? undefined));
  });
}
