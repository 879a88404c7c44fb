/**
 * Connects the OAuth2 module to the relay: the OAuth client that the
 * relay's settings describe, and the activity-log fields of the token
 * source's events. `serve` (core/cli/oauth-setup.ts) and the sign-in of
 * the settings screen (core/console/sign-in.ts) both use them.
 *
 * Throws SettingsError (from resolveOAuthClient) naming the OAuth setting
 * that is missing or invalid.
 */
import type { EventFieldValue } from '../events.ts';
import type { Settings } from '../settings.ts';
import { resolveOAuthClient } from './providers.ts';
import type { OAuthClient } from './providers.ts';
import type { TokenSourceEvent } from './token-source.ts';

/**
 * Resolves the OAuth client of the relay's settings. The client secret is
 * not a setting, because it must never reach settings.json or the UI.
 */
export function oauthClientFrom(settings: Settings, clientSecret: string | null): OAuthClient {
  return resolveOAuthClient({
    provider: settings.oauthProvider,
    clientId: settings.oauthClientId,
    tenant: settings.oauthTenant,
    tokenUrl: settings.oauthTokenUrl,
    scope: settings.oauthScope,
    authorizationUrl: settings.oauthAuthorizationUrl,
    deviceAuthorizationUrl: settings.oauthDeviceAuthorizationUrl,
    clientSecret,
  });
}

/** True when a refresh token issued to `a` works for `b`: same provider, client id and token endpoint. */
export function isSameClient(a: OAuthClient, b: OAuthClient): boolean {
  return a.provider === b.provider && a.clientId === b.clientId && a.tokenUrl === b.tokenUrl;
}

/** Returns the activity-log fields of a token source event; none of them is a token. */
export function tokenEventFields(event: TokenSourceEvent): Record<string, EventFieldValue> {
  switch (event.event) {
    case 'OAUTH_REFRESHED':
      return { expires: new Date(event.expiresAt).toISOString(), rotated: event.rotated, forced: event.forced };
    case 'OAUTH_REFRESH_FAILED':
      return {
        code: event.code,
        reason: event.reason,
        retry: event.retryAt === undefined ? 'after sign-in' : new Date(event.retryAt).toISOString(),
      };
    case 'OAUTH_TOKEN_STORE_FAILED':
      return { error: event.error.message };
  }
}
