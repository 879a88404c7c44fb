/**
 * OAuth2 providers: turns the office's OAuth settings into the endpoints,
 * scope and client credentials that sign-in and token refresh use.
 *
 * - microsoft: Microsoft identity platform v2.0 endpoints under
 *   https://login.microsoftonline.com/{tenant}/oauth2/v2.0/, scope
 *   MICROSOFT_SMTP_SCOPE. The tenant is 'common', 'organizations',
 *   'consumers', a directory id (GUID) or a verified domain.
 * - google: Google's OAuth 2.0 endpoints, scope GOOGLE_MAIL_SCOPE.
 * - custom: any RFC 6749 server; the token URL and the scope are required.
 *
 * There is no built-in client id: every office registers its own app
 * (docs/oauth.md describes how), so the client id is always a setting.
 *
 * Throws SettingsError naming the setting, the value and what is allowed.
 */
import { SettingsError } from '../errors.ts';

export type OAuthProviderName = 'microsoft' | 'google' | 'custom';

export const OAUTH_PROVIDER_NAMES: readonly OAuthProviderName[] = ['microsoft', 'google', 'custom'];

/** Delegated permission for SMTP AUTH in Exchange Online, plus a refresh token. */
export const MICROSOFT_SMTP_SCOPE = 'https://outlook.office.com/SMTP.Send offline_access';

/** Google's scope for IMAP, POP and SMTP access. Google issues refresh tokens without an extra scope. */
export const GOOGLE_MAIL_SCOPE = 'https://mail.google.com/';

/** Used when the Microsoft tenant setting is empty: any work or school account. */
export const DEFAULT_MICROSOFT_TENANT = 'organizations';

const MICROSOFT_AUTHORITY = 'https://login.microsoftonline.com';
const GOOGLE_AUTHORIZATION_URL = 'https://accounts.google.com/o/oauth2/v2/auth';
const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
const GOOGLE_DEVICE_AUTHORIZATION_URL = 'https://oauth2.googleapis.com/device/code';

/**
 * Google's device authorization endpoint grants only a short list of
 * scopes, and the Gmail scopes are not on it: users and library
 * maintainers report `invalid_scope` ("Invalid device flow scope") for
 * https://mail.google.com/ with every client type. So the relay does not
 * offer the device flow for Google.
 */
export const GOOGLE_DEVICE_FLOW_UNAVAILABLE =
  "Google's device sign-in does not allow the Gmail scope (https://mail.google.com/). " +
  'Sign in with the browser instead: in the desktop app, or on this machine through ' +
  'an SSH tunnel to the sign-in port (see docs/oauth.md).';

/** OAuth settings as the user gives them. Empty strings count as not set. */
export interface OAuthSettings {
  readonly provider: OAuthProviderName;
  readonly clientId: string | null;
  /** Only for clients that have one; Google's "Desktop app" clients do. Never logged. */
  readonly clientSecret?: string | null;
  /** Microsoft only. Default DEFAULT_MICROSOFT_TENANT. */
  readonly tenant?: string | null;
  /** Required for 'custom'; replaces the provider's URL otherwise. */
  readonly tokenUrl?: string | null;
  readonly authorizationUrl?: string | null;
  readonly deviceAuthorizationUrl?: string | null;
  /** Space-separated scopes. Required for 'custom'; replaces the provider's scope otherwise. */
  readonly scope?: string | null;
}

/** Everything a flow needs to talk to one provider for one registered client. */
export interface OAuthClient {
  readonly provider: OAuthProviderName;
  readonly clientId: string;
  readonly clientSecret: string | null;
  readonly tokenUrl: string;
  /** Null when the provider has no browser sign-in (a 'custom' server without one). */
  readonly authorizationUrl: string | null;
  /** Null when the provider has no device flow for this scope. */
  readonly deviceAuthorizationUrl: string | null;
  /** Reason the device flow is unavailable, shown to the user, or null when it is available. */
  readonly deviceFlowUnavailableReason: string | null;
  readonly scope: string;
  /** Extra query parameters for the authorization request. */
  readonly authorizationParams: Readonly<Record<string, string>>;
}

/** Checks the settings and returns the endpoints of the chosen provider. */
export function resolveOAuthClient(settings: OAuthSettings): OAuthClient {
  const clientId = requireText('oauthClientId', settings.clientId, 'the application (client) id of your app registration');
  const clientSecret = optionalText(settings.clientSecret);

  switch (settings.provider) {
    case 'microsoft':
      return microsoftClient(settings, clientId, clientSecret);
    case 'google':
      return googleClient(settings, clientId, clientSecret);
    case 'custom':
      return customClient(settings, clientId, clientSecret);
    default:
      throw new SettingsError('oauthProvider', settings.provider, OAUTH_PROVIDER_NAMES.join(', '));
  }
}

function microsoftClient(settings: OAuthSettings, clientId: string, clientSecret: string | null): OAuthClient {
  const tenant = optionalText(settings.tenant) ?? DEFAULT_MICROSOFT_TENANT;
  if (!isMicrosoftTenant(tenant)) {
    throw new SettingsError(
      'oauthTenant',
      tenant,
      "'common', 'organizations', 'consumers', a directory (tenant) id or a domain such as contoso.onmicrosoft.com",
    );
  }

  const base = `${MICROSOFT_AUTHORITY}/${tenant}/oauth2/v2.0`;
  return {
    provider: 'microsoft',
    clientId,
    clientSecret,
    tokenUrl: endpointUrl('oauthTokenUrl', settings.tokenUrl) ?? `${base}/token`,
    authorizationUrl: endpointUrl('oauthAuthorizationUrl', settings.authorizationUrl) ?? `${base}/authorize`,
    deviceAuthorizationUrl:
      endpointUrl('oauthDeviceAuthorizationUrl', settings.deviceAuthorizationUrl) ?? `${base}/devicecode`,
    deviceFlowUnavailableReason: null,
    scope: optionalText(settings.scope) ?? MICROSOFT_SMTP_SCOPE,
    authorizationParams: {},
  };
}

function googleClient(settings: OAuthSettings, clientId: string, clientSecret: string | null): OAuthClient {
  const scope = optionalText(settings.scope) ?? GOOGLE_MAIL_SCOPE;
  const deviceUrl = endpointUrl('oauthDeviceAuthorizationUrl', settings.deviceAuthorizationUrl);

  // A device URL given on purpose (another scope, or a policy change at
  // Google) is used; the built-in one is not, for the reason above.
  const deviceFlowAllowed = deviceUrl !== null || !scope.split(/\s+/).includes(GOOGLE_MAIL_SCOPE);

  return {
    provider: 'google',
    clientId,
    clientSecret,
    tokenUrl: endpointUrl('oauthTokenUrl', settings.tokenUrl) ?? GOOGLE_TOKEN_URL,
    authorizationUrl: endpointUrl('oauthAuthorizationUrl', settings.authorizationUrl) ?? GOOGLE_AUTHORIZATION_URL,
    deviceAuthorizationUrl: deviceFlowAllowed ? (deviceUrl ?? GOOGLE_DEVICE_AUTHORIZATION_URL) : null,
    deviceFlowUnavailableReason: deviceFlowAllowed ? null : GOOGLE_DEVICE_FLOW_UNAVAILABLE,
    scope,
    // access_type=offline requests a refresh token, and prompt=consent makes
    // Google issue a new one when the same account signs in again.
    authorizationParams: { access_type: 'offline', prompt: 'consent' },
  };
}

function customClient(settings: OAuthSettings, clientId: string, clientSecret: string | null): OAuthClient {
  const tokenUrl = endpointUrl('oauthTokenUrl', settings.tokenUrl);
  if (tokenUrl === null) {
    throw new SettingsError('oauthTokenUrl', settings.tokenUrl ?? undefined, 'the token endpoint URL of the custom provider');
  }
  const scope = requireText('oauthScope', settings.scope, 'the space-separated scopes that allow SMTP submission');
  const deviceUrl = endpointUrl('oauthDeviceAuthorizationUrl', settings.deviceAuthorizationUrl);

  return {
    provider: 'custom',
    clientId,
    clientSecret,
    tokenUrl,
    authorizationUrl: endpointUrl('oauthAuthorizationUrl', settings.authorizationUrl),
    deviceAuthorizationUrl: deviceUrl,
    deviceFlowUnavailableReason: deviceUrl === null ? 'No device authorization URL is configured for this provider.' : null,
    scope,
    authorizationParams: {},
  };
}

// A GUID, or a DNS name of letters, digits and hyphens (which also covers
// 'common', 'organizations' and 'consumers'). A slash or a query character
// would change the endpoint URL, so none are allowed.
const GUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DOMAIN_PATTERN = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;

function isMicrosoftTenant(tenant: string): boolean {
  return GUID_PATTERN.test(tenant) || DOMAIN_PATTERN.test(tenant);
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

/**
 * Parses an endpoint URL. Tokens travel in these requests, so plain http
 * is allowed only to a loopback address (a local test server).
 */
function endpointUrl(field: string, value: string | null | undefined): string | null {
  const text = optionalText(value);
  if (text === null) {
    return null;
  }

  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new SettingsError(field, text, 'an absolute https:// URL');
  }

  const secure = url.protocol === 'https:';
  const loopback = url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname);
  if (!secure && !loopback) {
    throw new SettingsError(field, text, 'an https:// URL (http:// only to 127.0.0.1, [::1] or localhost)');
  }
  if (url.username !== '' || url.password !== '' || url.hash !== '') {
    throw new SettingsError(field, text, 'a URL without user name, password or #fragment');
  }
  return url.toString();
}

function optionalText(value: string | null | undefined): string | null {
  const text = value?.trim() ?? '';
  return text === '' ? null : text;
}

function requireText(field: string, value: string | null | undefined, expected: string): string {
  const text = optionalText(value);
  if (text === null) {
    throw new SettingsError(field, value ?? undefined, expected);
  }
  return text;
}
