// OAuth2 sign-in from the web console in a real browser, against a real
// `serve --admin` process, a fake authorization server and a fake smart
// host that accepts only XOAUTH2, all on 127.0.0.1. A preloaded module
// limits serve's fetch() to loopback, so no request can reach a real
// provider. The steps run in order and share one relay:
//
//   setup screen: choose OAuth2, enter the provider, "Sign in with a code";
//   deliver a message with XOAUTH2;
//   the provider revokes the sign-in, so a credentials alert appears;
//   Alerts: "Sign in again", a new code, and the held mail goes out;
//   "Sign in" with the browser, which opens the provider in a new tab.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { connectWithNodemailer } from './support/clients.ts';
import { startFakeOAuthServer } from './support/fake-oauth-server.ts';
import type { FakeOAuthServer } from './support/fake-oauth-server.ts';
import type { FakeSmartHost } from './support/fake-smarthost.ts';
import { killAllServeProcesses, startServe } from './support/serve-process.ts';
import type { ServeProcess } from './support/serve-process.ts';
import { CHROMIUM_PATH, ensureRendererBuilt, launchBrowser } from './support/browser.ts';
import type { BrowserSession } from './support/browser.ts';
import {
  CLIENT_ID,
  DEVICE_CODE_GRANT,
  FAKE_USER_CODE,
  MAILBOX,
  OAUTH_SCOPE,
  loopbackFetchGuard,
  startXOAuth2SmartHost,
} from './support/sign-in-helpers.ts';
import { createTempDir, useTempDirs } from './support/tmp.ts';

useTempDirs();
afterAll(killAllServeProcesses);

// 1024 px is the narrowest width the console supports.
const VIEWPORT = { width: 1024, height: 900 };
const UI_TIMEOUT_MS = 15_000;
const chromiumMissing = !fs.existsSync(CHROMIUM_PATH);
const SIGNED_IN_TEXT = new RegExp(`^Signed in as ${MAILBOX.replace(/[.]/g, '\\.')}\\.`);

describe.skipIf(chromiumMissing)('sign-in from the web console', () => {
  let oauth: FakeOAuthServer;
  let fake: FakeSmartHost;
  let serve: ServeProcess;
  let browser: BrowserSession;
  let page: Page;
  let origin: string;

  async function sendToRelay(subject: string): Promise<void> {
    const client = await connectWithNodemailer({ host: serve.host, port: serve.port, ignoreTLS: true });
    await client.send(
      { from: 'scanner@office.example', to: ['anna@office.example'] },
      `From: scanner@office.example\r\nTo: anna@office.example\r\nSubject: ${subject}\r\n\r\nScanned page.\r\n`,
    );
    await client.quit();
  }

  /** Presses "Sign in with a code" and waits until the page shows the signed-in state. */
  async function signInWithCode(): Promise<void> {
    const polls = oauth.tokenRequests(DEVICE_CODE_GRANT).length;
    await page.getByRole('button', { name: 'Sign in with a code' }).click();

    await page.getByText(FAKE_USER_CODE, { exact: true }).waitFor();
    const link = page.getByRole('link', { name: oauth.url('/device') });
    await expect(link.getAttribute('href')).resolves.toBe(oauth.url('/device'));
    await page.getByRole('button', { name: 'Cancel sign-in' }).waitFor();

    // The fake approves after one authorization_pending.
    // A regular expression, because Playwright matches a string without case and would find "Not signed in".
    await page.getByText(SIGNED_IN_TEXT).waitFor();
    expect(oauth.tokenRequests(DEVICE_CODE_GRANT).length - polls).toBe(2);
    await expect(page.getByText(FAKE_USER_CODE, { exact: true }).count()).resolves.toBe(0);
  }

  beforeAll(async () => {
    ensureRendererBuilt();
    oauth = await startFakeOAuthServer({ clientId: CLIENT_ID, deviceScript: ['authorization_pending'], deviceIntervalSeconds: 1 });
    fake = await startXOAuth2SmartHost(oauth);
    const dataDir = await createTempDir('e2e-sign-in');
    serve = await startServe({
      dataDir,
      args: [
        '--listen', '127.0.0.1:0',
        '--admin', '127.0.0.1:0',
        '--smarthost', `${fake.host}:${fake.port}`,
        '--security', 'none',
        '--user', MAILBOX,
        '--retry-initial', '1',
        // Each message gets a new session, and so a new AUTH.
        '--idle-timeout', '0.2',
      ],
      env: { NODE_OPTIONS: await loopbackFetchGuard(dataDir) },
    });
    const line = await serve.waitForLine(/^Web console: http:\/\/127\.0\.0\.1:\d+\/#token=/);
    const consoleUrl = line.slice('Web console: '.length);
    origin = new URL(consoleUrl).origin;
    browser = await launchBrowser(VIEWPORT);
    page = await browser.context.newPage();
    page.setDefaultTimeout(UI_TIMEOUT_MS);
    await page.goto(consoleUrl);
  });

  afterAll(async () => {
    await browser?.close();
    await serve?.stop();
    await fake?.stop();
    await oauth?.stop();
  });

  it('signs in with a code', async () => {
    await page.goto(`${origin}/#/setup`);
    await page.getByRole('heading', { name: 'Smart-host setup' }).waitFor();
    await page.getByRole('radio', { name: /Sign in with Microsoft or Google/ }).check();
    await expect(page.getByLabel('Password', { exact: true }).count()).resolves.toBe(0);

    await page.getByRole('combobox', { name: 'Provider' }).selectOption('custom');
    await page.getByRole('textbox', { name: 'Client ID' }).fill(CLIENT_ID);
    await page.getByRole('textbox', { name: 'Token URL' }).fill(oauth.url('/token'));
    await page.getByRole('textbox', { name: 'Authorization URL', exact: true }).fill(oauth.url('/authorize'));
    await page.getByRole('textbox', { name: 'Device authorization URL' }).fill(oauth.url('/devicecode'));
    await page.getByRole('textbox', { name: 'Scope' }).fill(OAUTH_SCOPE);
    await page.getByText(`Not signed in as ${MAILBOX}.`, { exact: false }).waitFor();

    await signInWithCode();
    expect(serve.events('SIGN_IN_STARTED')[0]?.fields.flow).toBe('device');
    expect(serve.events('SIGNED_IN')).toHaveLength(1);
    // The user code belongs on the screen, not in the log.
    expect(serve.lines.join('\n')).not.toContain(FAKE_USER_CODE);
  });

  it('delivers with XOAUTH2', async () => {
    await sendToRelay('Scan after the sign-in');
    await fake.waitForMessages(1, UI_TIMEOUT_MS);
    expect(fake.authAttempts.length).toBeGreaterThan(0);
    expect(fake.authAttempts.every((attempt) => attempt.method === 'XOAUTH2' && attempt.succeeded)).toBe(true);
  });

  it('signs in again from the alert', async () => {
    // The provider revokes the sign-in: the smart host rejects the cached
    // access token, and the refresh that follows gets invalid_grant.
    await fake.waitForIdle();
    for (const token of [...oauth.accessTokens.keys()]) oauth.revokeAccessToken(token);
    for (const token of [...oauth.liveRefreshTokens]) oauth.revokeRefreshToken(token);
    await sendToRelay('Scan after the revocation');
    await serve.waitForEvent('ALERT', (fields) => fields.kind === 'credentials');

    await page.goto(`${origin}/#/alerts`);
    await page.getByRole('heading', { name: /Sign-in rejected/ }).waitFor();
    await page.getByRole('button', { name: 'Sign in again' }).click();

    await page.waitForURL(/#\/setup\/sign-in$/);
    await page.waitForFunction(() => {
      // This file is compiled without the DOM's types.
      const page = globalThis as unknown as { document: { activeElement: { id: string } | null } };
      return page.document.activeElement?.id === 'sign-in';
    });
    await signInWithCode();

    await fake.waitForMessages(2, UI_TIMEOUT_MS);
    expect(fake.messages.at(-1)?.to).toEqual(['anna@office.example']);
    expect(serve.events('ALERT')).toHaveLength(1);
    await page.goto(`${origin}/#/alerts`);
    await page.getByText('Nothing needs your attention.').waitFor();
  });

  it('signs in with the browser', async () => {
    await page.goto(`${origin}/#/setup`);
    const fromLine = serve.lines.length;
    const popup = page.waitForEvent('popup');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();

    // The new tab goes to the fake provider, which sends it back to the relay's loopback callback.
    const tab = await popup;
    await tab.getByRole('heading', { name: 'Signed in' }).waitFor();
    expect(new URL(tab.url()).hostname).toBe('127.0.0.1');
    await tab.close();
    // The page showed "Signed in" before this sign-in too, so wait for the relay's log.
    await serve.waitForEvent('SIGNED_IN', undefined, UI_TIMEOUT_MS, fromLine);
    await page.getByText(SIGNED_IN_TEXT).waitFor();
    const started = serve.events('SIGN_IN_STARTED').map((event) => event.fields.flow);
    expect(started).toEqual(['device', 'device', 'browser']);
    expect(serve.events('SIGNED_IN')).toHaveLength(3);
  });
});
