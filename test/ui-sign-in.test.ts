// @vitest-environment happy-dom
//
// The OAuth2 sign-in in the React UI against a fake RelayApi: the
// authentication choice and OAuth fields of the setup screen, the Sign in
// buttons and a sign-in in progress, and "Sign in again" on a credentials
// alert. test/e2e-sign-in.test.ts runs the same screens against a real
// relay in Chromium.
import { createElement } from 'react';
import type { ReactElement } from 'react';
import { cleanup, render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { RelayApi } from '../core/api/definition.ts';
import type { Alert } from '../core/api/model.ts';
import type { PendingSignIn } from '../core/api/sign-in-status.ts';
import { App } from '../renderer/src/App.tsx';
import { RelayApiContext } from '../renderer/src/hooks.ts';
import { Alerts } from '../renderer/src/screens/Alerts.tsx';
import { Setup } from '../renderer/src/screens/Setup.tsx';
import { NOW, createFakeApi, settingsView, signInStatus } from './support/ui-fake-api.ts';

afterEach(() => {
  cleanup();
  window.location.hash = '';
  vi.restoreAllMocks();
});

function renderWith(api: RelayApi, element: ReactElement) {
  return render(createElement(RelayApiContext.Provider, { value: api }, element));
}

const OAUTH_SETTINGS = settingsView({
  smarthost: { host: 'smtp.office365.com', port: 587 },
  user: 'office@example.com',
  authMethod: 'xoauth2',
  oauthClientId: '11111111-2222-3333-4444-555555555555',
});

const BROWSER_PENDING: PendingSignIn = {
  flow: 'browser',
  authorizationUrl: 'https://login.example.test/authorize?client_id=abc&state=xyz',
  startedAt: NOW,
  expiresAt: NOW + 300_000,
};

const DEVICE_PENDING: PendingSignIn = {
  flow: 'device',
  userCode: 'WDJB-MJHT',
  verificationUri: 'https://microsoft.com/devicelogin',
  verificationUriComplete: null,
  message: null,
  startedAt: NOW,
  expiresAt: NOW + 900_000,
};

describe('Setup authentication', () => {
  it('OAuth2 replaces the password field', async () => {
    const api = createFakeApi();
    const user = userEvent.setup();
    renderWith(api, createElement(Setup, { onSaved: () => {} }));

    await user.click(await screen.findByRole('radio', { name: /Sign in with Microsoft or Google/ }));

    expect(screen.queryByLabelText('Password', { exact: true })).toBeNull();
    expect(screen.getByRole('combobox', { name: 'Provider' })).toHaveProperty('value', 'microsoft');
    expect(screen.getByRole('textbox', { name: 'Client ID' })).toBeTruthy();
    expect(screen.getByRole('textbox', { name: 'Tenant' })).toBeTruthy();
    expect(await screen.findByRole('button', { name: 'Sign in' })).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Sign in with a code' })).toBeTruthy();

    await user.selectOptions(screen.getByRole('combobox', { name: 'Provider' }), 'google');
    expect(screen.queryByRole('textbox', { name: 'Tenant' })).toBeNull();
    await user.selectOptions(screen.getByRole('combobox', { name: 'Provider' }), 'custom');
    expect(screen.getByRole('textbox', { name: 'Token URL' })).toBeTruthy();
    expect(screen.getByRole('textbox', { name: 'Authorization URL' })).toBeTruthy();
    expect(screen.getByRole('textbox', { name: 'Device authorization URL' })).toBeTruthy();
    expect(screen.getByRole('textbox', { name: 'Scope' })).toBeTruthy();
  });

  it('Sign in saves, then starts', async () => {
    const api = createFakeApi();
    api.getSettings.mockResolvedValue(settingsView({ user: 'office@example.com' }));
    let pending: PendingSignIn | null = null;
    api.getSignInStatus.mockImplementation(async () => signInStatus({ pending }));
    api.startSignIn.mockImplementation(async () => {
      pending = BROWSER_PENDING;
      return BROWSER_PENDING;
    });
    // happy-dom would load the URL in a new window.
    const open = vi.spyOn(window, 'open').mockReturnValue(null);
    const user = userEvent.setup();
    renderWith(api, createElement(Setup, { onSaved: () => {} }));

    await user.click(await screen.findByRole('radio', { name: /Sign in with Microsoft or Google/ }));
    await user.type(screen.getByRole('textbox', { name: 'Client ID' }), 'client-1');
    await user.type(screen.getByRole('textbox', { name: 'Tenant' }), 'contoso.onmicrosoft.com');
    await user.click(await screen.findByRole('button', { name: 'Sign in' }));

    const link = await screen.findByRole('link', { name: 'Open the sign-in page' });
    expect(link.getAttribute('href')).toBe(BROWSER_PENDING.authorizationUrl);
    expect(link.getAttribute('target')).toBe('_blank');
    expect(link.getAttribute('rel')).toContain('noopener');
    expect(api.updateSettings).toHaveBeenCalledTimes(1);
    expect(api.updateSettings.mock.calls[0]?.[0].settings).toMatchObject({
      authMethod: 'xoauth2',
      oauthProvider: 'microsoft',
      oauthClientId: 'client-1',
      oauthTenant: 'contoso.onmicrosoft.com',
    });
    expect(api.startSignIn).toHaveBeenCalledWith({ flow: 'browser' });
    expect(api.updateSettings.mock.invocationCallOrder[0]).toBeLessThan(api.startSignIn.mock.invocationCallOrder[0] ?? 0);
    expect(screen.getByText(/must run on the relay's own machine/)).toBeTruthy();
    expect(open).toHaveBeenCalledWith(BROWSER_PENDING.authorizationUrl, '_blank', 'noopener,noreferrer');
  });

  it('desktop opens no tab itself', async () => {
    const api = createFakeApi();
    api.getSettings.mockResolvedValue(OAUTH_SETTINGS);
    api.getSignInStatus.mockResolvedValue(signInStatus({ opensBrowser: true }));
    api.startSignIn.mockResolvedValue(BROWSER_PENDING);
    const open = vi.spyOn(window, 'open').mockReturnValue(null);
    const user = userEvent.setup();
    renderWith(api, createElement(Setup, { onSaved: () => {} }));

    await user.click(await screen.findByRole('button', { name: 'Sign in' }));

    await waitFor(() => expect(api.startSignIn).toHaveBeenCalledWith({ flow: 'browser' }));
    expect(open).not.toHaveBeenCalled();
    expect(screen.getByText("Sign in opens the provider's page in your browser.", { exact: false })).toBeTruthy();
  });

  it('no sign-in when saving fails', async () => {
    const api = createFakeApi();
    api.getSettings.mockResolvedValue(OAUTH_SETTINGS);
    api.getSignInStatus.mockResolvedValue(signInStatus());
    api.updateSettings.mockRejectedValue(new Error('disk full'));
    const user = userEvent.setup();
    renderWith(api, createElement(Setup, { onSaved: () => {} }));

    await user.click(await screen.findByRole('button', { name: 'Sign in' }));

    expect(await screen.findByText('disk full')).toBeTruthy();
    expect(api.startSignIn).not.toHaveBeenCalled();
  });

  it('code sign-in shows code and link', async () => {
    const api = createFakeApi();
    api.getSettings.mockResolvedValue(OAUTH_SETTINGS);
    api.getSignInStatus.mockResolvedValue(signInStatus({ pending: DEVICE_PENDING }));
    const user = userEvent.setup();
    renderWith(api, createElement(Setup, { onSaved: () => {} }));

    expect(await screen.findByText('WDJB-MJHT')).toBeTruthy();
    const link = screen.getByRole('link', { name: 'https://microsoft.com/devicelogin' });
    expect(link.getAttribute('href')).toBe('https://microsoft.com/devicelogin');
    expect(screen.queryByRole('button', { name: 'Sign in' })).toBeNull();

    await user.click(screen.getByRole('button', { name: 'Cancel sign-in' }));
    expect(api.cancelSignIn).toHaveBeenCalledWith({});
  });

  it('updates when the sign-in ends', async () => {
    const api = createFakeApi();
    api.getSettings.mockResolvedValue(OAUTH_SETTINGS);
    api.getSignInStatus.mockResolvedValue(signInStatus({ pending: DEVICE_PENDING }));
    renderWith(api, createElement(Setup, { onSaved: () => {} }));
    await screen.findByText('WDJB-MJHT');

    api.getSignInStatus.mockResolvedValue(
      signInStatus({ signedIn: true, token: { state: 'ready', expiresAt: NOW + 3_600_000, retryAt: null, lastError: null } }),
    );
    api.emit({ event: 'SIGNED_IN', time: NOW, fields: { method: 'xoauth2' } });

    expect(await screen.findByText(/Signed in as office@example.com/)).toBeTruthy();
    expect(screen.queryByText('WDJB-MJHT')).toBeNull();
  });

  it('shows why a flow is unavailable', async () => {
    const api = createFakeApi();
    api.getSettings.mockResolvedValue(settingsView({ ...OAUTH_SETTINGS, oauthProvider: 'google' }));
    const reason = "Google's device sign-in does not allow the Gmail scope.";
    api.getSignInStatus.mockResolvedValue(
      signInStatus({ provider: 'google', flows: { browser: { available: true, reason: null }, device: { available: false, reason } } }),
    );
    renderWith(api, createElement(Setup, { onSaved: () => {} }));

    const button = await screen.findByRole('button', { name: 'Sign in with a code' });
    expect(button).toHaveProperty('disabled', true);
    expect(screen.getByText(reason)).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Sign in' })).toHaveProperty('disabled', false);
  });

  it('shows failed and rejected sign-ins', async () => {
    const api = createFakeApi();
    api.getSettings.mockResolvedValue(OAUTH_SETTINGS);
    api.getSignInStatus.mockResolvedValue(
      signInStatus({
        signedIn: true,
        token: { state: 'rejected', expiresAt: null, retryAt: null, lastError: { code: 'EOAUTH_REFRESH_REJECTED', message: 'The refresh token was revoked.' } },
        lastOutcome: { ok: false, at: NOW, code: 'EOAUTH_ACCESS_DENIED', message: 'The sign-in was declined.' },
      }),
    );
    renderWith(api, createElement(Setup, { onSaved: () => {} }));

    expect(await screen.findByText(/rejected the sign-in of office@example.com\. The refresh token was revoked\./)).toBeTruthy();
    expect(screen.getByRole('alert').textContent).toContain('The sign-in was declined.');
  });
});

describe('Sign in again', () => {
  const credentials: Alert = {
    id: 'c1',
    kind: 'credentials',
    smartHost: 'smtp.office365.com:587',
    reply: null,
    explanation: 'The smart-host account could not sign in with OAuth2.',
    advice: 'Sign in again to the smart-host account in the settings.',
    raisedAt: NOW,
    active: true,
  };

  it('goes to the sign-in for OAuth2', async () => {
    const api = createFakeApi();
    api.getSignInStatus.mockResolvedValue(signInStatus());
    const user = userEvent.setup();
    renderWith(api, createElement(Alerts, { alerts: [credentials], onChanged: () => {} }));

    await user.click(await screen.findByRole('button', { name: 'Sign in again' }));
    expect(window.location.hash).toBe('#/setup/sign-in');
    expect(screen.getByRole('button', { name: 'Resume sending' })).toBeTruthy();
  });

  it('not offered for a password', async () => {
    const api = createFakeApi();
    renderWith(api, createElement(Alerts, { alerts: [credentials], onChanged: () => {} }));

    await waitFor(() => expect(api.getSignInStatus).toHaveBeenCalled());
    expect(screen.queryByRole('button', { name: 'Sign in again' })).toBeNull();
    expect(screen.getByRole('button', { name: 'Resume sending' })).toBeTruthy();
  });

  it('setup route focuses the sign-in', async () => {
    const api = createFakeApi();
    api.getSettings.mockResolvedValue(OAUTH_SETTINGS);
    api.getSignInStatus.mockResolvedValue(signInStatus());
    window.location.hash = '#/setup/sign-in';
    render(createElement(App, { api }));

    await screen.findByRole('button', { name: 'Sign in' });
    expect(screen.getByRole('link', { name: 'Setup' }).getAttribute('aria-current')).toBe('page');
    await waitFor(() => expect(document.activeElement?.id).toBe('sign-in'));
  });
});
