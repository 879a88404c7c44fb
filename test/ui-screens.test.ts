// @vitest-environment happy-dom
//
// The React screens against a fake RelayApi: what they show, what they
// send, and how they show errors. The end-to-end test covers the same
// screens against a real relay in Chromium.
import { createElement } from 'react';
import type { ReactElement } from 'react';
import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError } from '../core/api/definition.ts';
import type { RelayApi } from '../core/api/definition.ts';
import { App } from '../renderer/src/App.tsx';
import { RelayApiContext } from '../renderer/src/hooks.ts';
import { Alerts } from '../renderer/src/screens/Alerts.tsx';
import { Limits, connectionLimitSentence } from '../renderer/src/screens/Limits.tsx';
import { Queue } from '../renderer/src/screens/Queue.tsx';
import { Setup } from '../renderer/src/screens/Setup.tsx';
import { pickRelayApi, takeTokenFromLocation } from '../renderer/src/relay-api.ts';
import { DESCRIPTION, NOW, createFakeApi, relayStatus, settingsView, smartHostStatus } from './support/ui-fake-api.ts';

afterEach(() => {
  cleanup();
  window.location.hash = '';
  vi.restoreAllMocks();
});

/** happy-dom has no window.confirm; this answers every question with `answer`. */
function answerConfirm(answer: boolean): void {
  Object.defineProperty(window, 'confirm', { value: vi.fn(() => answer), configurable: true, writable: true });
}

function renderWith(api: RelayApi, element: ReactElement) {
  return render(createElement(RelayApiContext.Provider, { value: api }, element));
}

describe('Setup screen', () => {
  it('fills host, port and security from a preset', async () => {
    const api = createFakeApi();
    const user = userEvent.setup();
    renderWith(api, createElement(Setup, { onSaved: () => {} }));

    await user.click(await screen.findByRole('radio', { name: /Microsoft 365/ }));

    expect(screen.getByRole('textbox', { name: 'Smart host name' })).toHaveProperty('value', 'smtp.office365.com');
    expect(screen.getByRole('spinbutton', { name: 'Port' })).toHaveProperty('value', '587');
    expect(screen.getByRole('combobox', { name: 'Security' })).toHaveProperty('value', 'starttls');
  });

  it('shows the reply and dialogue of a test message', async () => {
    const api = createFakeApi();
    api.sendTestMessage.mockResolvedValue({
      ok: false,
      smartHost: 'smtp.example.com:587',
      stage: 'auth',
      reply: '535 5.7.3 Authentication unsuccessful',
      kind: 'credentials',
      explanation: 'smtp.example.com:587 rejected the user name or password for office@example.com.',
      advice: 'Type the password again.',
      transcript: [
        { direction: 'server', text: '220 smtp.example.com ESMTP', elapsedMs: 10 },
        { direction: 'client', text: 'EHLO relay.office.example', elapsedMs: 11 },
        { direction: 'server', text: '250-smtp.example.com\n250 AUTH LOGIN PLAIN', elapsedMs: 12 },
        { direction: 'server', text: '535 5.7.3 Authentication unsuccessful', elapsedMs: 40 },
      ],
      durationMs: 45,
    });
    const user = userEvent.setup();
    renderWith(api, createElement(Setup, { onSaved: () => {} }));

    await user.type(await screen.findByRole('textbox', { name: 'Smart host name' }), 'smtp.example.com');
    await user.type(screen.getByRole('textbox', { name: 'User name' }), 'office@example.com');
    await user.type(screen.getByLabelText('Password', { exact: true }), 'secret');
    await user.type(screen.getByRole('textbox', { name: 'To' }), 'anna@example.com');
    await user.click(screen.getByRole('button', { name: 'Send test message' }));

    expect(await screen.findByRole('heading', { name: 'It did not work' })).toBeTruthy();
    expect(api.sendTestMessage).toHaveBeenCalledWith({
      to: 'anna@example.com',
      smartHost: { host: 'smtp.example.com', port: 587, security: 'starttls', user: 'office@example.com', password: 'secret' },
    });
    expect(screen.getByText(/rejected the user name or password/)).toBeTruthy();
    const transcript = document.querySelector('.transcript')?.textContent ?? '';
    expect(transcript).toContain('C: EHLO relay.office.example');
    expect(transcript).toContain('S: 250 AUTH LOGIN PLAIN');
    expect(transcript).toContain('S: 535 5.7.3 Authentication unsuccessful');
  });

  it('saves a preset with its limits and the password', async () => {
    const api = createFakeApi();
    const onSaved = vi.fn();
    const user = userEvent.setup();
    renderWith(api, createElement(Setup, { onSaved }));

    await user.click(await screen.findByRole('radio', { name: /Microsoft 365/ }));
    await user.type(screen.getByRole('textbox', { name: 'User name' }), 'office@example.com');
    await user.type(screen.getByLabelText('Password', { exact: true }), 'app-password');
    await user.click(screen.getByRole('button', { name: 'Save settings' }));

    await screen.findByText('Saved. The relay uses these settings now.');
    const call = api.updateSettings.mock.calls[0]?.[0];
    expect(call?.password).toBe('app-password');
    expect(call?.settings).toMatchObject({
      preset: 'microsoft365',
      smarthost: { host: 'smtp.office365.com', port: 587 },
      user: 'office@example.com',
      maxConnections: 3,
      maxMessagesPerMinute: 30,
    });
    expect(onSaved).toHaveBeenCalledTimes(1);
  });

  it('marks the field an error names', async () => {
    const api = createFakeApi();
    api.updateSettings.mockRejectedValue(
      new ApiError({ code: 'ESETTINGS', field: 'smarthost', value: 'bad host', message: 'Invalid value for smarthost: "bad host:0".' }),
    );
    const user = userEvent.setup();
    renderWith(api, createElement(Setup, { onSaved: () => {} }));

    await user.type(await screen.findByRole('textbox', { name: 'Smart host name' }), 'bad host');
    await user.click(screen.getByRole('button', { name: 'Save settings' }));

    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('Invalid value for smarthost');
    const host = screen.getByRole('textbox', { name: 'Smart host name' });
    expect(host.getAttribute('aria-invalid')).toBe('true');
    expect(host.getAttribute('aria-describedby')).toBe(alert.id);
  });

  it('never shows a saved password', async () => {
    const api = createFakeApi();
    api.getSettings.mockResolvedValue(settingsView({ passwordSet: true, user: 'office@example.com' }));
    renderWith(api, createElement(Setup, { onSaved: () => {} }));

    const password = await screen.findByLabelText('Password', { exact: true });
    expect(password).toHaveProperty('value', '');
    expect(password.getAttribute('placeholder')).toBe('Saved; type to replace it');
  });
});

describe('Limits screen', () => {
  it('explains the connection limit', () => {
    expect(connectionLimitSentence(3, DESCRIPTION.presets, null)).toBe(
      'The relay opens at most 3 connections to the smart host at once. ' +
        'Your provider refuses or blocks senders that open too many connections at once. ' +
        'The limit of Microsoft 365 (SMTP AUTH) is 3.',
    );
    expect(connectionLimitSentence(1, DESCRIPTION.presets, 'gmail')).toContain('at most 1 connection to');
    expect(connectionLimitSentence(1, DESCRIPTION.presets, 'gmail')).toContain('The limit of Gmail (personal account) is 2.');
  });

  it('saves only the changed limits', async () => {
    const api = createFakeApi();
    api.updateSettings.mockImplementation(async (input) => settingsView(input.settings as object));
    const user = userEvent.setup();
    renderWith(api, createElement(Limits, { onSaved: () => {} }));

    const slider = await screen.findByRole('slider', { name: 'Connection limit' });
    fireEvent.change(slider, { target: { value: '5' } });
    expect(screen.getByText(/at most 5 connections/)).toBeTruthy();
    await user.clear(screen.getByRole('spinbutton', { name: 'Messages per 24 hours' }));
    await user.click(screen.getByRole('button', { name: 'Save limits' }));

    await screen.findByText('Saved. The new limits apply now.');
    expect(api.updateSettings).toHaveBeenCalledWith({ settings: { maxConnections: 5, maxMessagesPerDay: null } });
  });

  it('shows units and ranges beside each limit', async () => {
    const api = createFakeApi();
    renderWith(api, createElement(Limits, { onSaved: () => {} }));

    const field = await screen.findByRole('spinbutton', { name: 'Messages per connection' });
    const help = document.getElementById(field.getAttribute('aria-describedby')?.split(' ')[0] ?? '');
    expect(help?.textContent).toContain('(1 to 10,000)');
    expect(field.parentElement?.textContent).toContain('messages');
  });

  it('shows a range error on the slider', async () => {
    const api = createFakeApi();
    api.updateSettings.mockRejectedValue(
      new ApiError({ code: 'ESETTINGS', field: 'maxConnections', value: 25, message: 'Invalid value for maxConnections: 25. Expected an integer from 1 to 20.' }),
    );
    const user = userEvent.setup();
    renderWith(api, createElement(Limits, { onSaved: () => {} }));

    const slider = await screen.findByRole('slider', { name: 'Connection limit' });
    fireEvent.change(slider, { target: { value: '4' } });
    await user.click(screen.getByRole('button', { name: 'Save limits' }));

    expect((await screen.findByRole('alert')).textContent).toContain('Expected an integer from 1 to 20.');
    expect(slider.getAttribute('aria-invalid')).toBe('true');
  });
});

describe('Queue screen', () => {
  it('shows every column of a message', async () => {
    const api = createFakeApi();
    vi.spyOn(Date, 'now').mockReturnValue(NOW);
    renderWith(api, createElement(Queue));

    const row = (await screen.findByText('Scan 1')).closest('tr');
    if (!row) throw new Error('Scan 1 is not in a table row.');
    const cells = within(row);
    expect(cells.getByText(/scanner1@office.example → person1@example.com/)).toBeTruthy();
    expect(cells.getByText('2.0 KB')).toBeTruthy();
    expect(cells.getByText('1 min')).toBeTruthy();
    expect(cells.getByText('2')).toBeTruthy();
    expect(cells.getByText('451 4.7.500 Server busy, try again later')).toBeTruthy();
    expect(cells.getByText('in 1 min')).toBeTruthy();
    expect(screen.getByText('Messages 1 to 2 of 120, oldest first.')).toBeTruthy();
  });

  it('pages on the server', async () => {
    const api = createFakeApi();
    const user = userEvent.setup();
    renderWith(api, createElement(Queue));

    await screen.findByText('Scan 1');
    await user.click(screen.getByRole('button', { name: 'Next page' }));

    await screen.findByText('Scan 51');
    expect(api.listQueue).toHaveBeenLastCalledWith({ offset: 50, limit: 50, state: undefined, search: undefined });
  });

  it('searches after typing pauses', async () => {
    const api = createFakeApi();
    const user = userEvent.setup();
    renderWith(api, createElement(Queue));

    await user.type(await screen.findByRole('searchbox', { name: 'Search' }), 'invoice');
    await waitFor(() => expect(api.listQueue).toHaveBeenLastCalledWith({ offset: 0, limit: 50, state: undefined, search: 'invoice' }));
    const searches = api.listQueue.mock.calls.filter(([query]) => query.search !== undefined);
    expect(searches).toHaveLength(1);
  });

  it('runs the message actions', async () => {
    const api = createFakeApi();
    answerConfirm(true);
    const user = userEvent.setup();
    renderWith(api, createElement(Queue));

    await screen.findByText('Scan 1');
    await user.click(screen.getByRole('button', { name: 'Retry now: Scan 1' }));
    await user.click(screen.getByRole('button', { name: 'Hold: Scan 1' }));
    await user.click(screen.getByRole('button', { name: 'Release: Scan 2' }));
    await user.click(screen.getByRole('button', { name: 'Delete: Scan 1' }));

    const id = '0MX98N0000000000001';
    expect(api.retryMessage).toHaveBeenCalledWith({ id });
    expect(api.holdMessage).toHaveBeenCalledWith({ id });
    expect(api.releaseMessage).toHaveBeenCalledWith({ id: '0MX98N0000000000002' });
    expect(api.deleteMessage).toHaveBeenCalledWith({ id });
  });

  it('keeps a message when delete is cancelled', async () => {
    const api = createFakeApi();
    answerConfirm(false);
    const user = userEvent.setup();
    renderWith(api, createElement(Queue));

    await user.click(await screen.findByRole('button', { name: 'Delete: Scan 1' }));
    expect(api.deleteMessage).not.toHaveBeenCalled();
  });

  it('reloads when a message is queued', async () => {
    const api = createFakeApi();
    renderWith(api, createElement(Queue));

    await screen.findByText('Scan 1');
    const calls = api.listQueue.mock.calls.length;
    api.emit({ event: 'QUEUED', time: NOW, fields: { id: 'X' } });
    await waitFor(() => expect(api.listQueue.mock.calls.length).toBe(calls + 1));
  });
});

describe('Alerts screen', () => {
  const blocklisted = {
    id: 'a1',
    kind: 'blacklisted' as const,
    smartHost: 'smtp.example.com:587',
    reply: '554 5.7.1 blocked using zen.spamhaus.org',
    explanation: 'The smart host rejected mail because your public IP address or domain is on a blocklist.',
    advice: 'Look your public IP address up on the list, then press Resume.',
    raisedAt: NOW,
    active: true,
  };

  it('shows advice and resumes', async () => {
    const api = createFakeApi();
    const onChanged = vi.fn();
    const user = userEvent.setup();
    renderWith(api, createElement(Alerts, { alerts: [blocklisted], onChanged }));

    expect(screen.getByRole('heading', { name: /Blocklisted/ })).toBeTruthy();
    expect(screen.getByText(blocklisted.advice)).toBeTruthy();
    expect(screen.getByText(blocklisted.reply)).toBeTruthy();
    await user.click(screen.getByRole('button', { name: 'Resume sending' }));

    expect(api.resumeSending).toHaveBeenCalledWith({});
    expect(onChanged).toHaveBeenCalled();
  });

  it('offers no Resume for an old queue', () => {
    const api = createFakeApi();
    renderWith(api, createElement(Alerts, { alerts: [{ ...blocklisted, kind: 'queue-old', smartHost: null }], onChanged: () => {} }));

    expect(screen.queryByRole('button', { name: 'Resume sending' })).toBeNull();
    expect(screen.getByRole('link', { name: 'Open the queue' })).toBeTruthy();
  });
});

describe('App shell', () => {
  it('opens on setup when no smart host is set', async () => {
    const api = createFakeApi();
    api.getStatus.mockResolvedValue(relayStatus({ smartHosts: [smartHostStatus({ name: 'none', state: 'unconfigured' })] }));
    render(createElement(App, { api }));

    expect(await screen.findByRole('heading', { name: 'Smart-host setup' })).toBeTruthy();
    await waitFor(() => expect(window.location.hash).toBe('#/setup'));
  });

  it('shows a banner with Resume for an alert', async () => {
    const api = createFakeApi();
    api.getStatus.mockResolvedValue(
      relayStatus({
        smartHosts: [smartHostStatus({ state: 'paused-blacklist' })],
        alerts: [{ id: 'a1', kind: 'blacklisted', smartHost: 'x:587', reply: null, explanation: 'On a blocklist.', advice: 'Ask.', raisedAt: NOW, active: true }],
      }),
    );
    const user = userEvent.setup();
    render(createElement(App, { api }));

    const banner = await screen.findByRole('region', { name: 'Problems' });
    expect(banner.textContent).toContain('On a blocklist.');
    await user.click(within(banner).getByRole('button', { name: 'Resume sending' }));
    expect(api.resumeSending).toHaveBeenCalled();
    expect(screen.getByRole('link', { name: /Alerts/ }).textContent).toContain('1');
  });

  it('marks the current screen in the navigation', async () => {
    const api = createFakeApi();
    window.location.hash = '#/queue';
    render(createElement(App, { api }));

    await screen.findByRole('heading', { name: 'Queue' });
    expect(screen.getByRole('link', { name: 'Queue' }).getAttribute('aria-current')).toBe('page');
    expect(screen.getByRole('link', { name: 'Dashboard' }).getAttribute('aria-current')).toBeNull();
  });
});

describe('API choice', () => {
  it('prefers the preload API', () => {
    const api = createFakeApi();
    window.relayApi = api;
    try {
      const source = pickRelayApi(window);
      expect(source.kind).toBe('ready');
      expect(source.kind === 'ready' ? source.transport : null).toBe('ipc');
    } finally {
      delete window.relayApi;
    }
  });

  it('takes the token from the fragment', () => {
    window.sessionStorage.clear();
    window.history.replaceState(null, '', '/#token=abcDEF123_-');
    const token = takeTokenFromLocation(window.location, window.history, window.sessionStorage);

    expect(token).toBe('abcDEF123_-');
    expect(window.location.hash).toBe('#/');
    expect(takeTokenFromLocation(window.location, window.history, window.sessionStorage)).toBe('abcDEF123_-');
  });

  it('asks for the token when there is none', () => {
    window.sessionStorage.clear();
    window.history.replaceState(null, '', '/#/dashboard');
    expect(pickRelayApi(window).kind).toBe('no-token');
  });
});
