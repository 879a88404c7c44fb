/**
 * OAuth2 sign-in in the desktop app, driven through fake Electron modules
 * with the real relay core, startDesktopRelay, conf (electron-store's
 * engine), a fake authorization server and a fake smart host that accepts
 * only XOAUTH2, all on 127.0.0.1. The sign-in must open the provider's
 * page with shell.openExternal, keep the grant only encrypted with
 * safeStorage, and be used again after a restart.
 */
import fs from 'node:fs';
import path from 'node:path';
import Conf from 'conf';
import { afterEach, describe, expect, it } from 'vitest';
import { ipcChannel } from '../core/api/definition.ts';
import type { ApiMethodName, ApiResult } from '../core/api/definition.ts';
import type { PendingSignIn, SignInStatus } from '../core/api/sign-in-status.ts';
import type { RelayEvent } from '../core/events.ts';
import { GRANT_SECRET_NAME } from '../core/oauth/token-store.ts';
import { QUIT_TIMEOUT_MS, runDesktopApp } from '../electron/desktop-app.ts';
import type { DesktopApp } from '../electron/desktop-app.ts';
import { startDesktopRelay } from '../electron/desktop-relay.ts';
import { ROUTES, appPageUrl } from '../electron/main-window.ts';
import type { KeyValueStore, StoreOptions, StoredDesktopSettings } from '../electron/settings-store.ts';
import { connectWithNodemailer } from './support/clients.ts';
import { waitFor } from './support/console-harness.ts';
import { createFakeElectron } from './support/electron-fakes.ts';
import type { FakeElectron } from './support/electron-fakes.ts';
import { startFakeOAuthServer } from './support/fake-oauth-server.ts';
import type { FakeOAuthServer } from './support/fake-oauth-server.ts';
import type { FakeSmartHost } from './support/fake-smarthost.ts';
import { MAILBOX, REFRESH_GRANT, followAuthorizationUrl, oauthSettings, startXOAuth2SmartHost } from './support/sign-in-helpers.ts';
import { useTempDirs } from './support/tmp.ts';

const createTempDir = useTempDirs();
const APP_PAGE = appPageUrl(ROUTES.setup);
const WAIT_MS = 15_000;

interface Desktop {
  readonly fake: FakeElectron;
  readonly desktop: DesktopApp;
  readonly events: RelayEvent[];
  /** Pages the relay's loopback callback returned to the simulated browser. */
  readonly callbackPages: { status: number; text: string }[];
}

const running: FakeElectron[] = [];
const servers: { stop(): Promise<void> }[] = [];

afterEach(async () => {
  for (const fake of running.splice(0)) await quit(fake);
  for (const server of servers.splice(0)) await server.stop();
});

async function quit(fake: FakeElectron): Promise<void> {
  if (fake.state.quitted) return;
  fake.modules.app.quit();
  await waitFor(() => fake.state.quitted, 'the app to quit', QUIT_TIMEOUT_MS + 1_000);
}

async function startServers(): Promise<{ oauth: FakeOAuthServer; smartHost: FakeSmartHost }> {
  const oauth = await startFakeOAuthServer();
  servers.push(oauth);
  const smartHost = await startXOAuth2SmartHost(oauth);
  servers.push(smartHost);
  return { oauth, smartHost };
}

/** Writes settings.json for a relay that forwards to `smartHost` with XOAUTH2 and signs in at `oauth`. */
function writeSettings(userData: string, oauth: FakeOAuthServer, smartHost: FakeSmartHost): void {
  const relay = {
    listen: { host: '127.0.0.1', port: 0 },
    smarthost: { host: smartHost.host, port: smartHost.port },
    security: 'none',
    user: MAILBOX,
    ...oauthSettings(oauth),
  };
  fs.writeFileSync(path.join(userData, 'settings.json'), JSON.stringify({ relay, smartHostPassword: null, layout: 1 }));
}

async function startDesktop(userData: string, configure: (fake: FakeElectron) => void = () => undefined): Promise<Desktop> {
  const fake = createFakeElectron({ userData });
  running.push(fake);
  configure(fake);

  // The simulated browser: openExternal records the URL, as the fake
  // does, and then follows it to the relay's loopback callback.
  const callbackPages: { status: number; text: string }[] = [];
  const recordOnly = fake.modules.shell.openExternal;
  fake.modules.shell.openExternal = async (url) => {
    await recordOnly(url);
    void followAuthorizationUrl(url).then((page) => callbackPages.push(page));
  };

  const events: RelayEvent[] = [];
  const pending = runDesktopApp({
    modules: fake.modules,
    createStore: (options: StoreOptions): KeyValueStore =>
      new Conf<StoredDesktopSettings>({ ...options, configName: options.name, cwd: userData, projectVersion: '0.1.0' }),
    startRelay: async (options) => {
      const started = await startDesktopRelay(options);
      started.relay.bus.subscribe((event) => events.push(event));
      return started;
    },
    paths: { preload: '/app/preload.cjs', rendererRoot: path.join(userData, 'renderer'), trayIconDir: '/app/tray' },
    platform: 'linux',
    argv: ['/opt/Smarthost Relay/smarthost-relay'],
    env: {},
    executablePath: '/opt/Smarthost Relay/smarthost-relay',
    writeStderr: () => undefined,
  });
  fake.emitReady();
  const desktop = await pending;
  if (!desktop) throw new Error(`The desktop app did not start: ${JSON.stringify(fake.state.errorBoxes)}`);
  return { fake, desktop, events, callbackPages };
}

/** Calls an API method over the fake IPC from the app's own page and unwraps the result. */
async function call<T>(fake: FakeElectron, name: ApiMethodName, input: unknown): Promise<T> {
  const result = (await fake.invoke(ipcChannel(name), APP_PAGE, input)) as ApiResult<T>;
  if (!result.ok) throw new Error(`${name} failed: ${result.error.code} ${result.error.message}`);
  return result.value;
}

async function signInWithBrowser(started: Desktop): Promise<PendingSignIn> {
  const pending = await call<PendingSignIn>(started.fake, 'startSignIn', { flow: 'browser' });
  await waitFor(() => started.events.some((event) => event.event === 'SIGNED_IN'), 'SIGNED_IN', WAIT_MS);
  return pending;
}

async function sendMail(started: Desktop, subject: string): Promise<void> {
  const [host, port] = (started.desktop.relay?.status().listen ?? '').split(':');
  const client = await connectWithNodemailer({ host, port: Number(port), ignoreTLS: true });
  await client.send(
    { from: 'scanner@office.example', to: ['anna@example.com'] },
    `From: scanner@office.example\r\nTo: anna@example.com\r\nSubject: ${subject}\r\n\r\nScanned page.\r\n`,
  );
  await client.quit();
}

describe('desktop OAuth2 sign-in', () => {
  it('opens browser, keeps grant encrypted', async () => {
    const { oauth, smartHost } = await startServers();
    const userData = await createTempDir('desktop-sign-in');
    writeSettings(userData, oauth, smartHost);
    const first = await startDesktop(userData);

    const before = await call<SignInStatus>(first.fake, 'getSignInStatus', {});
    expect(before.opensBrowser).toBe(true);
    expect(before.signedIn).toBe(false);

    const pending = await signInWithBrowser(first);
    if (pending.flow !== 'browser') throw new Error(`expected a browser sign-in, got ${pending.flow}`);
    expect(first.fake.state.openedExternal).toEqual([pending.authorizationUrl]);
    expect(pending.authorizationUrl.startsWith(oauth.url('/authorize?'))).toBe(true);
    await waitFor(() => first.callbackPages.length === 1, 'the callback page');
    expect(first.callbackPages[0]?.status).toBe(200);

    const refreshToken = [...oauth.liveRefreshTokens][0] ?? '';
    expect(refreshToken).not.toBe('');
    const text = fs.readFileSync(path.join(userData, 'settings.json'), 'utf8');
    expect(text.includes(refreshToken), 'the refresh token is in settings.json in plain text').toBe(false);
    expect(text).not.toContain('refreshToken');
    const stored = JSON.parse(text) as StoredDesktopSettings;
    const encrypted = stored.secrets[GRANT_SECRET_NAME]?.encrypted ?? '';
    const grant = JSON.parse(first.fake.modules.safeStorage.decryptString(Buffer.from(encrypted, 'base64'))) as {
      refreshToken: string;
    };
    expect(grant.refreshToken).toBe(refreshToken);

    await sendMail(first, 'Before the restart');
    await smartHost.waitForMessages(1, WAIT_MS);
    await quit(first.fake);

    // After a restart the relay refreshes with the stored grant.
    const second = await startDesktop(userData);
    expect((await call<SignInStatus>(second.fake, 'getSignInStatus', {})).signedIn).toBe(true);
    await sendMail(second, 'After the restart');
    await smartHost.waitForMessages(2, WAIT_MS);

    const refreshes = oauth.tokenRequests(REFRESH_GRANT);
    expect(refreshes).toHaveLength(1);
    expect(refreshes[0]?.params.refresh_token).toBe(refreshToken);
    expect(smartHost.authAttempts.every((attempt) => attempt.method === 'XOAUTH2' && attempt.succeeded)).toBe(true);
    expect(second.fake.state.openedExternal).toEqual([]);
  });

  it('no keychain, sign-in not saved', async () => {
    const { oauth, smartHost } = await startServers();
    const userData = await createTempDir('desktop-no-keychain');
    writeSettings(userData, oauth, smartHost);
    const started = await startDesktop(userData, (fake) => {
      fake.state.encryptionAvailable = false;
    });

    await signInWithBrowser(started);
    const status = await call<SignInStatus>(started.fake, 'getSignInStatus', {});
    expect(status.signedIn).toBe(true);
    expect(status.storageProblem).toMatch(/no secure storage/);
    expect(started.events.filter((event) => event.event === 'OAUTH_TOKEN_STORE_FAILED')).toHaveLength(1);

    const stored = JSON.parse(fs.readFileSync(path.join(userData, 'settings.json'), 'utf8')) as StoredDesktopSettings;
    expect(stored.secrets ?? {}).toEqual({});

    // The sign-in still works until the app quits.
    await sendMail(started, 'Unsaved sign-in');
    await smartHost.waitForMessages(1, WAIT_MS);
  });
});
