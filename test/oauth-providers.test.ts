import { describe, expect, it } from 'vitest';
import { SettingsError } from '../core/errors.ts';
import {
  GOOGLE_MAIL_SCOPE,
  MICROSOFT_SMTP_SCOPE,
  resolveOAuthClient,
} from '../core/oauth/providers.ts';
import type { OAuthSettings } from '../core/oauth/providers.ts';

const MICROSOFT_CLIENT_ID = '00001111-aaaa-2222-bbbb-3333cccc4444';

function settingsError(settings: OAuthSettings): SettingsError {
  try {
    resolveOAuthClient(settings);
  } catch (error) {
    expect(error).toBeInstanceOf(SettingsError);
    return error as SettingsError;
  }
  throw new Error(`resolveOAuthClient accepted ${JSON.stringify(settings)}`);
}

describe('resolveOAuthClient', () => {
  it('builds Microsoft endpoints for a tenant', () => {
    const cases: Array<[string | null, string]> = [
      [null, 'organizations'],
      ['common', 'common'],
      ['consumers', 'consumers'],
      ['contoso.onmicrosoft.com', 'contoso.onmicrosoft.com'],
      ['aaaabbbb-0000-cccc-1111-dddd2222eeee', 'aaaabbbb-0000-cccc-1111-dddd2222eeee'],
    ];

    for (const [tenant, segment] of cases) {
      const client = resolveOAuthClient({ provider: 'microsoft', clientId: MICROSOFT_CLIENT_ID, tenant });
      const base = `https://login.microsoftonline.com/${segment}/oauth2/v2.0`;
      expect(client).toEqual({
        provider: 'microsoft',
        clientId: MICROSOFT_CLIENT_ID,
        clientSecret: null,
        tokenUrl: `${base}/token`,
        authorizationUrl: `${base}/authorize`,
        deviceAuthorizationUrl: `${base}/devicecode`,
        deviceFlowUnavailableReason: null,
        scope: 'https://outlook.office.com/SMTP.Send offline_access',
        authorizationParams: {},
      });
    }
  });

  it('rejects a tenant that would change the URL', () => {
    for (const tenant of ['contoso/../evil', 'a?b', 'tenant id', '-bad.example']) {
      const error = settingsError({ provider: 'microsoft', clientId: MICROSOFT_CLIENT_ID, tenant });
      expect(error.field).toBe('oauthTenant');
      expect(error.message).toContain(JSON.stringify(tenant));
    }
  });

  it('builds Google endpoints without the device flow', () => {
    const client = resolveOAuthClient({
      provider: 'google',
      clientId: 'id.apps.googleusercontent.com',
      clientSecret: 'desktop-secret',
    });

    expect(client).toMatchObject({
      clientSecret: 'desktop-secret',
      tokenUrl: 'https://oauth2.googleapis.com/token',
      authorizationUrl: 'https://accounts.google.com/o/oauth2/v2/auth',
      deviceAuthorizationUrl: null,
      scope: GOOGLE_MAIL_SCOPE,
      authorizationParams: { access_type: 'offline', prompt: 'consent' },
    });
    expect(client.deviceFlowUnavailableReason).toContain('Gmail scope');
  });

  it('keeps a Google device URL given on purpose', () => {
    const client = resolveOAuthClient({
      provider: 'google',
      clientId: 'id.apps.googleusercontent.com',
      deviceAuthorizationUrl: 'https://oauth2.googleapis.com/device/code',
    });

    expect(client.deviceAuthorizationUrl).toBe('https://oauth2.googleapis.com/device/code');
    expect(client.deviceFlowUnavailableReason).toBeNull();
  });

  it('requires token URL and scope for custom', () => {
    expect(settingsError({ provider: 'custom', clientId: 'c', scope: 'smtp' }).field).toBe('oauthTokenUrl');
    expect(settingsError({ provider: 'custom', clientId: 'c', tokenUrl: 'https://idp.example/token' }).field).toBe(
      'oauthScope',
    );

    const client = resolveOAuthClient({
      provider: 'custom',
      clientId: 'c',
      tokenUrl: 'https://idp.example/token',
      scope: 'smtp',
    });
    expect(client).toMatchObject({ authorizationUrl: null, deviceAuthorizationUrl: null });
  });

  it('requires a client id', () => {
    for (const clientId of [null, '', '   ']) {
      const error = settingsError({ provider: 'microsoft', clientId });
      expect(error.field).toBe('oauthClientId');
    }
  });

  it('allows plain http only to loopback', () => {
    const base = { provider: 'custom', clientId: 'c', scope: 'smtp' } as const;

    for (const tokenUrl of ['http://127.0.0.1:8080/token', 'http://[::1]/token', 'http://localhost/token']) {
      expect(resolveOAuthClient({ ...base, tokenUrl }).tokenUrl).toBe(tokenUrl);
    }
    for (const tokenUrl of ['http://idp.example/token', 'ftp://idp.example/token', 'not a url']) {
      expect(settingsError({ ...base, tokenUrl }).field).toBe('oauthTokenUrl');
    }
    expect(settingsError({ ...base, tokenUrl: 'https://user:pw@idp.example/token' }).message).toContain(
      'without user name',
    );
  });

  it('lets settings replace the scope', () => {
    const client = resolveOAuthClient({
      provider: 'microsoft',
      clientId: MICROSOFT_CLIENT_ID,
      scope: 'https://outlook.office365.com/SMTP.Send offline_access',
    });

    expect(client.scope).not.toBe(MICROSOFT_SMTP_SCOPE);
    expect(client.scope).toBe('https://outlook.office365.com/SMTP.Send offline_access');
  });
});
