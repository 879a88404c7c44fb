// The web console in a real browser, against a real `serve --admin`
// process and a scripted fake smart host: first-run setup with a test
// message, a message queued and delivered, a blocklist reply raising an
// alert, and Resume. With SCREENSHOT_DIR set (npm run docs:screenshots)
// it also saves the screenshots that docs/web-console.md shows.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { connectWithNodemailer } from './support/clients.ts';
import { startFakeSmartHost } from './support/fake-smarthost.ts';
import type { FakeSmartHost } from './support/fake-smarthost.ts';
import { killAllServeProcesses, startServe } from './support/serve-process.ts';
import type { ServeProcess } from './support/serve-process.ts';
import { CHROMIUM_PATH, ensureRendererBuilt, launchBrowser } from './support/browser.ts';
import type { BrowserSession } from './support/browser.ts';
import { createTempDir, useTempDirs } from './support/tmp.ts';

useTempDirs();
afterAll(killAllServeProcesses);

const USER = 'office@example.test';
const PASSWORD = 'printer-relay-2026';
// 1024 px is the narrowest width the console supports.
const VIEWPORT = { width: 1024, height: 900 };
const UI_TIMEOUT_MS = 15_000;
const BLOCKLIST_REPLY = {
  code: 554,
  message: '5.7.1 Service unavailable; Client host [203.0.113.7] blocked using zen.spamhaus.org',
};

// Realistic office traffic for the queue screenshot.
const OFFICE_MAIL = [
  { from: 'scanner@office.example', to: 'anna@office.example', subject: 'Scan from the front-office printer' },
  { from: 'accounting@office.example', to: 'client@example.com', subject: 'Invoice 2026-1182' },
  { from: 'nas@office.example', to: 'it@office.example', subject: 'Nightly backup finished: 0 errors' },
  { from: 'cctv@office.example', to: 'security@office.example', subject: 'Motion detected at the rear door' },
  { from: 'webform@office.example', to: 'sales@office.example', subject: 'New enquiry from the website' },
];

const screenshotDir = process.env.SCREENSHOT_DIR ? path.resolve(process.env.SCREENSHOT_DIR) : null;
const chromiumMissing = !fs.existsSync(CHROMIUM_PATH);

async function screenshot(page: Page, name: string): Promise<void> {
  if (!screenshotDir) return;
  fs.mkdirSync(screenshotDir, { recursive: true });
  await page.screenshot({ path: path.join(screenshotDir, `${name}.png`), fullPage: true });
}

describe.skipIf(chromiumMissing)('web console in Chromium', () => {
  let fake: FakeSmartHost;
  let serve: ServeProcess;
  let browser: BrowserSession;
  let page: Page;
  let consoleUrl: string;

  async function sendToRelay(messages: readonly { from: string; to: string; subject: string }[]): Promise<void> {
    const client = await connectWithNodemailer({ host: serve.host, port: serve.port, ignoreTLS: true });
    for (const message of messages) {
      await client.send(
        { from: message.from, to: [message.to] },
        `From: ${message.from}\r\nTo: ${message.to}\r\nSubject: ${message.subject}\r\n\r\nSent by an office device.\r\n`,
      );
    }
    await client.quit();
  }

  async function open(screen: string): Promise<void> {
    await page.goto(`${new URL(consoleUrl).origin}/#/${screen}`);
  }

  beforeAll(async () => {
    ensureRendererBuilt();
    fake = await startFakeSmartHost({ auth: { user: USER, pass: PASSWORD }, allowInsecureAuth: true });
    const dataDir = await createTempDir('e2e-console');
    serve = await startServe({
      dataDir,
      args: ['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--hostname', 'relay.office.example', '--retry-initial', '1'],
    });
    const line = await serve.waitForLine(/^Web console: http:\/\/127\.0\.0\.1:\d+\/#token=/);
    consoleUrl = line.slice('Web console: '.length);
    browser = await launchBrowser(VIEWPORT);
    page = await browser.context.newPage();
    page.setDefaultTimeout(UI_TIMEOUT_MS);
  });

  afterAll(async () => {
    await browser?.close();
    await serve?.stop();
    await fake?.stop();
  });

  it('opens on setup and hides the token', async () => {
    await page.goto(consoleUrl);
    await page.getByRole('heading', { name: 'Smart-host setup' }).waitFor();
    expect(page.url()).not.toContain('token=');
  });

  it('shows the reply to a wrong password', async () => {
    await page.getByRole('textbox', { name: 'Smart host name' }).fill(fake.host);
    await page.getByRole('combobox', { name: 'Security' }).selectOption('none');
    await page.getByRole('spinbutton', { name: 'Port' }).fill(String(fake.port));
    await page.getByRole('textbox', { name: 'User name' }).fill(USER);
    await page.getByLabel('Password', { exact: true }).fill('not-the-password');
    await page.getByRole('textbox', { name: 'To' }).fill('anna@office.example');
    await page.getByRole('button', { name: 'Send test message' }).click();

    await page.getByRole('heading', { name: 'It did not work' }).waitFor();
    await expect(page.getByText('rejected the user name or password').isVisible()).resolves.toBe(true);
    await expect(page.locator('.transcript').textContent()).resolves.toContain('S: 535');
  });

  it('sends a test message and shows the dialogue', async () => {
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Send test message' }).click();

    await page.getByRole('heading', { name: 'It worked' }).waitFor();
    const transcript = (await page.locator('.transcript').textContent()) ?? '';
    expect(transcript).toContain('C: MAIL FROM:<office@example.test>');
    expect(transcript).toMatch(/S: 250 OK: queued as/);
    expect(transcript).not.toContain(PASSWORD);
    await expect(page.getByText('accepted the test message to anna@office.example').isVisible()).resolves.toBe(true);
    expect(fake.messages.at(-1)?.to).toEqual(['anna@office.example']);
    await screenshot(page, 'setup');
  });

  it('saves the smart host', async () => {
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByText('Saved. The relay uses these settings now.').waitFor();
    await page.getByPlaceholder('Saved; type to replace it').waitFor();
  });

  it('queues mail while paused', async () => {
    await open('dashboard');
    await page.getByText('Sending normally').first().waitFor();
    await page.getByRole('button', { name: 'Pause sending' }).click();
    await page.getByText('Paused by a user').first().waitFor();

    await sendToRelay(OFFICE_MAIL);
    await open('queue');
    await page.getByText(`Messages 1 to ${OFFICE_MAIL.length} of ${OFFICE_MAIL.length}, oldest first.`).waitFor();
    await page.locator('.message-cell', { hasText: 'Invoice 2026-1182' }).waitFor();
    await screenshot(page, 'queue');

    await page.getByRole('searchbox', { name: 'Search' }).fill('backup');
    await page.getByText('Messages 1 to 1 of 1, oldest first.').waitFor();
  });

  it('delivers the queue after Resume', async () => {
    const before = fake.messages.length;
    await open('dashboard');
    await page.getByRole('button', { name: 'Resume sending' }).click();
    await fake.waitForMessages(before + OFFICE_MAIL.length, UI_TIMEOUT_MS);
    await page.getByText('Nothing is waiting.').waitFor();
    await page.getByText('Sending normally').first().waitFor();
    await page.getByText(/In the last hour: 5 sent/).waitFor();
    await screenshot(page, 'dashboard');

    await open('queue');
    await page.getByText('No messages match.').waitFor();
  });

  it('finds deliveries in the activity log', async () => {
    await open('log');
    await page.getByRole('searchbox', { name: 'Search' }).fill('client@example.com');
    await page.locator('.log li', { hasText: 'SENT' }).first().waitFor();
    const lines = await page.locator('.log li').allTextContents();
    expect(lines.some((line) => line.includes('SENT') && line.includes('client@example.com'))).toBe(true);
    await page.getByRole('searchbox', { name: 'Search' }).fill('');
    await page.locator('.log li', { hasText: 'QUEUED' }).first().waitFor();
    await screenshot(page, 'log');
  });

  it('raises an alert for a blocklist reply', async () => {
    fake.setHooks({ onData: () => BLOCKLIST_REPLY });
    await sendToRelay([{ from: 'scanner@office.example', to: 'anna@office.example', subject: 'Scan after the listing' }]);

    await page.getByRole('region', { name: 'Problems' }).waitFor();
    await open('alerts');
    await page.getByRole('heading', { name: /Blocklisted/ }).waitFor();
    await expect(page.getByText('zen.spamhaus.org').first().isVisible()).resolves.toBe(true);
    await expect(page.getByText('What to do:').first().isVisible()).resolves.toBe(true);
    await screenshot(page, 'alerts');

    await open('dashboard');
    await page.getByText('Paused: on a blocklist').first().waitFor();
    await page.emulateMedia({ colorScheme: 'dark' });
    await screenshot(page, 'dashboard-dark');
    await page.emulateMedia({ colorScheme: 'light' });
  });

  it('sends the held mail after Resume', async () => {
    fake.setHooks({ onData: undefined });
    const before = fake.messages.length;
    await open('alerts');
    await page.getByRole('button', { name: 'Resume sending' }).first().click();

    await fake.waitForMessages(before + 1, UI_TIMEOUT_MS);
    await page.getByText('Nothing needs your attention.').waitFor();
    await expect(page.getByRole('heading', { name: 'Earlier alerts' }).isVisible()).resolves.toBe(true);
  });

  it('shows where devices send mail', async () => {
    await open('devices');
    await page.getByRole('heading', { name: 'SMTP settings for devices' }).waitFor();
    await expect(page.getByText(String(serve.port), { exact: true }).isVisible()).resolves.toBe(true);
    await screenshot(page, 'devices');

    await open('limits');
    await page.getByLabel('Connection limit').waitFor();
    await screenshot(page, 'limits');
  });
});
