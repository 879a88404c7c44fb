/**
 * The outcome of a sign-in, shared by the browser flow and the device
 * flow: the refresh token to store and the first access token.
 */
import { OAuthError } from './errors.ts';
import type { OAuthClient } from './providers.ts';
import type { TokenEndpointResult, TokenResponse } from './token-endpoint.ts';
import type { AccessToken } from './token-source.ts';
import { ASSUMED_TOKEN_LIFETIME_MS } from './token-source.ts';

export interface SignInResult {
  /** Store with a RefreshTokenStore and pass to AccessTokenSource.reset(). */
  readonly refreshToken: string;
  readonly accessToken: AccessToken;
  /** Scopes the server granted, when the response included them. */
  readonly scope: string | null;
}

/** Turns a token response into a SignInResult; a response without a refresh token is an error. */
export function signInResultFrom(client: OAuthClient, token: TokenResponse, now: number): SignInResult {
  if (token.refreshToken === null) {
    throw new OAuthError(
      'EOAUTH_NO_REFRESH_TOKEN',
      `Sign-in succeeded, but ${client.tokenUrl} issued no refresh token, so the relay could send mail ` +
        'only until the access token expires. For Microsoft the scope must include offline_access; ' +
        'for Google, remove the app from the account\'s third-party access list and sign in again.',
    );
  }

  const lifetimeMs = token.expiresInSeconds === null ? ASSUMED_TOKEN_LIFETIME_MS : token.expiresInSeconds * 1000;
  return {
    refreshToken: token.refreshToken,
    accessToken: { token: token.accessToken, expiresAt: now + lifetimeMs },
    scope: token.scope,
  };
}

/** Turns a failed grant request during sign-in into an OAuthError. */
export function grantError(
  client: OAuthClient,
  result: Exclude<TokenEndpointResult, { kind: 'token' }>,
): OAuthError {
  if (result.kind === 'unavailable') {
    return new OAuthError('EOAUTH_UNAVAILABLE', `Sign-in could not reach the token endpoint: ${result.reason}.`, {
      httpStatus: result.httpStatus,
    });
  }

  const detail = result.description ? `${result.error}: ${result.description}` : result.error;
  const clientProblem = result.error === 'invalid_client' || result.error === 'unauthorized_client';
  return new OAuthError(
    clientProblem ? 'EOAUTH_CLIENT_REJECTED' : 'EOAUTH_AUTHORIZATION_FAILED',
    `The token endpoint ${client.tokenUrl} rejected the sign-in (HTTP ${result.httpStatus} ${detail}).`,
    { oauthError: result.error, description: result.description, httpStatus: result.httpStatus },
  );
}
