/**
 * The desktop app's main process, driven through fake Electron modules
 * with the real relay core, the real API handlers, conf (electron-store's
 * engine) and a fake smart host on loopback.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import Conf from 'conf';
import nodemailer from 'nodemailer';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiError, IPC_EVENT_CHANNEL, createApiClient, ipcChannel } from '../core/api/definition.ts';
import type { ApiResult } from '../core/api/definition.ts';
import type { RelayEventView, RelayStatus } from '../core/api/model.ts';
import { createApiHandlers } from '../core/console/handlers.ts';
import { Relay } from '../core/relay.ts';
import { DEFAULT_LISTEN_PORT } from '../core/settings.ts';
import { APP_USER_MODEL_ID, QUIT_TIMEOUT_MS, runDesktopApp } from '../electron/desktop-app.ts';
import type { DesktopApp, DesktopAppOptions } from '../electron/desktop-app.ts';
import { appPageUrl, ROUTES } from '../electron/main-window.ts';
import { createRelayApiBridge } from '../electron/preload-bridge.ts';
import type { IpcRendererPort } from '../electron/preload-bridge.ts';
import { APP_SCHEME, CONTENT_SECURITY_POLICY } from '../electron/security.ts';
import type { KeyValueStore, StoreOptions, StoredDesktopSettings } from '../electron/settings-store.ts';
import { trayIconPath } from '../electron/tray-controller.ts';
import { TRAY_MENU_IDS } from '../electron/tray-menu.ts';
import { createFakeElectron } from './support/electron-fakes.ts';
import type { FakeElectron, FakeTray, FakeWindow } from './support/electron-fakes.ts';
import { FakeSmartHost } from './support/fake-smarthost.ts';
import type { FakeSmartHostOptions } from './support/fake-smarthost.ts';
import { useTempDirs } from './support/tmp.ts';

const createTempDir = useTempDirs();
const APP_PAGE = appPageUrl(ROUTES.home);
const ICON_DIR = '/app/dist/electron/tray';
const WAIT_STEP_MS = 20;

/** Polls `check` until it returns true, for at most `timeoutMs`. */
async function waitFor(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  for (let waited = 0; waited < timeoutMs; waited += WAIT_STEP_MS) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, WAIT_STEP_MS));
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}.`);
}

interface Started {
  readonly fake: FakeElectron;
  readonly desktop: DesktopApp | null;
  readonly userData: string;
  readonly stderr: string[];
  readonly tray: FakeTray;
  readonly relayStarts: number;
}

const running: FakeElectron[] = [];
// The relay's first start generates a TLS key, which takes most of a start's
// time. Later starts in this file reuse that key from its data dir.
let generatedTlsDir: string | null = null;
const smartHosts: FakeSmartHost[] = [];

afterEach(async () => {
  for (const fake of running.splice(0)) {
    if (!fake.state.quitted) {
      fake.modules.app.quit();
      await waitFor('the app to quit', () => fake.state.quitted, QUIT_TIMEOUT_MS + 1_000);
    }
  }
  for (const host of smartHosts.splice(0)) await host.stop();
});

async function startSmartHost(options: FakeSmartHostOptions = {}): Promise<FakeSmartHost> {
  const host = new FakeSmartHost(options);
  await host.start();
  smartHosts.push(host);
  return host;
}

async function startDesktop(
  options: {
    relaySettings?: Record<string, unknown>;
    argv?: string[];
    platform?: NodeJS.Platform;
    configure?: (fake: FakeElectron) => void;
    settingsFileText?: string;
  } = {},
): Promise<Started> {
  const userData = await createTempDir('desktop');
  const relaySettings = { listen: { host: '127.0.0.1', port: 0 }, security: 'none', ...options.relaySettings };
  const settingsFile = path.join(userData, 'settings.json');
  fs.writeFileSync(settingsFile, options.settingsFileText ?? JSON.stringify({ relay: relaySettings, smartHostPassword: null, layout: 1 }));

  if (generatedTlsDir) fs.cpSync(generatedTlsDir, path.join(userData, 'relay', 'tls'), { recursive: true });

  const fake = createFakeElectron({ userData });
  options.configure?.(fake);
  running.push(fake);
  const stderr: string[] = [];
  let relayStarts = 0;

  const desktopOptions: DesktopAppOptions = {
    modules: fake.modules,
    createStore: (storeOptions: StoreOptions): KeyValueStore =>
      new Conf<StoredDesktopSettings>({ ...storeOptions, configName: storeOptions.name, cwd: userData, projectVersion: '0.1.0' }),
    startRelay: async ({ dataDir, settings, password, store }) => {
      relayStarts++;
      // Settings reset to their defaults would listen on 0.0.0.0:2525, which
      // another relay on this machine may hold; tests always take a free
      // loopback port.
      const isolated =
        settings.listen.port === DEFAULT_LISTEN_PORT ? { ...settings, listen: { host: '127.0.0.1', port: 0 } } : settings;
      const relay = await Relay.start({ dataDir, settings: isolated, password });
      return { relay, api: createApiHandlers(relay, { store, password }) };
    },
    paths: {
      preload: '/app/dist/electron/preload.cjs',
      rendererRoot: path.join(userData, 'renderer'),
      trayIconDir: ICON_DIR,
      appIcon: '/app/dist/electron/icon.png',
    },
    platform: options.platform ?? 'linux',
    argv: options.argv ?? ['/opt/Smarthost Relay/smarthost-relay'],
    env: { XDG_CONFIG_HOME: path.join(userData, 'xdg-config') },
    executablePath: '/opt/Smarthost Relay/smarthost-relay',
    writeStderr: (text) => stderr.push(text),
  };

  const pending = runDesktopApp(desktopOptions);
  fake.emitReady();
  const desktop = await pending;
  if (desktop?.relay && !generatedTlsDir) generatedTlsDir = path.join(desktop.relay.dataDir, 'tls');
  const tray = fake.state.trays[0] as FakeTray;
  return { fake, desktop, userData, stderr, tray, relayStarts };
}

function mainWindow(fake: FakeElectron): FakeWindow {
  const window = fake.state.windows[0];
  if (!window) throw new Error('No window was opened.');
  return window;
}

async function sendMail(listen: string, to = 'someone@example.com'): Promise<void> {
  const [host, port] = listen.split(':');
  const transport = nodemailer.createTransport({ host, port: Number(port), secure: false, ignoreTLS: true });
  try {
    await transport.sendMail({ from: 'scanner@office.example', to, subject: 'Scan', text: 'Scanned page.' });
  } finally {
    transport.close();
  }
}

describe('desktop app start-up', () => {
  it('second launch quits before starting', async () => {
    const { fake, desktop, relayStarts } = await startDesktop({
      configure: (setup) => {
        setup.state.lockAvailable = false;
      },
    });
    expect(desktop).toBeNull();
    expect(fake.state.quitted).toBe(true);
    expect(relayStarts).toBe(0);
    expect(fake.state.windows).toHaveLength(0);
    expect(fake.state.trays).toHaveLength(0);
  });

  it('registers the app scheme before ready', async () => {
    const userData = await createTempDir('desktop');
    const fake = createFakeElectron({ userData });
    fake.state.lockAvailable = false;
    await runDesktopApp({
      modules: fake.modules,
      createStore: () => {
        throw new Error('not reached');
      },
      startRelay: async () => {
        throw new Error('not reached');
      },
      paths: { preload: '', rendererRoot: '', trayIconDir: '' },
      platform: 'linux',
      argv: [],
      env: { SMARTHOST_RELAY_USER_DATA: '/data/override' },
      executablePath: '',
      writeStderr: () => undefined,
    });
    expect(fake.state.privilegedSchemes.map((scheme) => scheme.scheme)).toEqual([APP_SCHEME]);
    expect(fake.state.privilegedSchemes[0]?.privileges).toMatchObject({ standard: true, secure: true });
    expect(fake.state.paths.get('userData')).toBe('/data/override');
  });

  it('starts relay, tray and window', async () => {
    const host = await startSmartHost();
    const { fake, desktop, tray } = await startDesktop({ relaySettings: { smarthost: { host: host.host, port: host.port } } });

    expect(desktop?.relay?.status().listen).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(tray.image).toBe(trayIconPath(ICON_DIR, 'idle'));
    expect(tray.toolTip).toBe('Smarthost Relay: Ready\nQueue empty');

    const window = mainWindow(fake);
    expect(window.loadedUrls).toEqual([APP_PAGE]);
    expect(window.visible).toBe(true);
    expect(window.options.webPreferences).toMatchObject({
      contextIsolation: true,
      nodeIntegration: false,
      sandbox: true,
      webSecurity: true,
      preload: '/app/dist/electron/preload.cjs',
      devTools: false,
    });
  });

  it('first run opens the settings', async () => {
    const { fake, tray } = await startDesktop();
    expect(mainWindow(fake).loadedUrls).toEqual([appPageUrl(ROUTES.setup)]);
    expect(tray.image).toBe(trayIconPath(ICON_DIR, 'attention'));
  });

  it('sets the Windows app id', async () => {
    const { fake } = await startDesktop({ platform: 'win32' });
    expect(fake.state.appUserModelId).toBe(APP_USER_MODEL_ID);
  });

  it('start at login stays in the tray', async () => {
    const { fake } = await startDesktop({ argv: ['/opt/app', '--hidden'] });
    expect(fake.state.windows).toHaveLength(0);

    fake.app.emit('second-instance');
    expect(mainWindow(fake).visible).toBe(true);
  });

  it('hardens the session', async () => {
    const { fake } = await startDesktop();
    let headers: Record<string, string[]> | undefined;
    fake.state.headersListener?.({ url: APP_PAGE, responseHeaders: { 'Content-Type': ['text/html'] } }, (response) => {
      headers = response.responseHeaders;
    });
    expect(headers?.['Content-Security-Policy']).toEqual([CONTENT_SECURITY_POLICY]);
    expect(headers?.['Content-Type']).toEqual(['text/html']);

    let devToolsHeaders: Record<string, string[]> | undefined = { unchanged: ['yes'] };
    fake.state.headersListener?.({ url: 'devtools://devtools/bundled/inspector.html' }, (response) => {
      devToolsHeaders = response.responseHeaders;
    });
    expect(devToolsHeaders).toBeUndefined();

    let granted: boolean | undefined;
    fake.state.permissionRequestHandler?.({}, 'media', (answer) => {
      granted = answer;
    });
    expect(granted).toBe(false);
    expect(fake.state.permissionCheckHandler?.()).toBe(false);
  });

  it('blocks navigation in the window', async () => {
    const { fake } = await startDesktop();
    const contents = mainWindow(fake).webContents;
    expect(contents.navigate('https://example.com/')).toBe(true);
    expect(contents.navigate('file:///etc/passwd', 'will-redirect')).toBe(true);
    expect(contents.windowOpenHandler?.({ url: 'https://example.com/help' })).toEqual({ action: 'deny' });
    expect(contents.windowOpenHandler?.({ url: 'file:///etc/passwd' })).toEqual({ action: 'deny' });
    expect(fake.state.openedExternal).toEqual(['https://example.com/help']);
  });

  it('reports a relay that cannot start', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const { fake, desktop } = await startDesktop({ relaySettings: { listen: { host: '127.0.0.1', port } } });
      expect(desktop).toBeNull();
      expect(fake.state.errorBoxes).toHaveLength(1);
      expect(fake.state.errorBoxes[0]?.content).toMatch(/EADDRINUSE/);
      expect(fake.state.errorBoxes[0]?.content).toMatch(/Another program uses the same port/);
      expect(fake.state.quitted).toBe(true);
    } finally {
      blocker.close();
    }
  });

  it('notifies when the settings were reset', async () => {
    const { fake, desktop } = await startDesktop({ settingsFileText: '{ "relay": { "maxConnections": 999 } }' });
    expect(desktop).not.toBeNull();
    const titles = fake.state.notifications.map((notification) => notification.options.title);
    expect(titles).toEqual(['Settings were reset']);
  });
});

describe('desktop app window', () => {
  it('closing hides the window', async () => {
    const { fake, desktop, tray } = await startDesktop();
    const window = mainWindow(fake);
    expect(window.close()).toBe(false);
    expect(window.visible).toBe(false);
    expect(window.destroyed).toBe(false);
    expect(desktop?.relay?.status().listen).not.toBeNull();

    tray.emit('click');
    expect(fake.state.windows).toHaveLength(1);
    expect(window.visible).toBe(true);
  });

  it('second launch focuses the window', async () => {
    const { fake } = await startDesktop();
    const window = mainWindow(fake);
    window.close();
    window.minimized = true;
    const focusBefore = window.focusCount;

    fake.app.emit('second-instance');
    expect(window.visible).toBe(true);
    expect(window.minimized).toBe(false);
    expect(window.focusCount).toBe(focusBefore + 1);
  });

  it('quit stops the relay, then exits', async () => {
    const { fake, desktop, tray } = await startDesktop();
    const listen = desktop?.relay?.status().listen ?? '';
    const window = mainWindow(fake);

    fake.modules.app.quit();
    expect(fake.state.quitted).toBe(false);
    await waitFor('the app to quit', () => fake.state.quitted);

    expect(fake.state.quitCount).toBe(2);
    expect(tray.destroyed).toBe(true);
    expect(fake.state.ipcHandlers.size).toBe(0);
    expect(window.close()).toBe(true);

    const [host, port] = listen.split(':');
    const refused = await new Promise<boolean>((resolve) => {
      const socket = net.connect(Number(port), host);
      socket.on('connect', () => {
        socket.destroy();
        resolve(false);
      });
      socket.on('error', () => resolve(true));
    });
    expect(refused).toBe(true);
  });
});

describe('desktop app tray', () => {
  it('opens the queue and the log folder', async () => {
    const { fake, desktop, tray } = await startDesktop();
    tray.clickItem(TRAY_MENU_IDS.openQueue);
    expect(mainWindow(fake).loadedUrls.at(-1)).toBe(appPageUrl(ROUTES.queue));

    tray.clickItem(TRAY_MENU_IDS.openLogFolder);
    await waitFor('openPath', () => fake.state.openedPaths.length === 1);
    expect(fake.state.openedPaths).toEqual([path.join(desktop?.relay?.dataDir ?? '', 'logs')]);
  });

  it('pauses and resumes sending', async () => {
    const host = await startSmartHost();
    const { desktop, tray } = await startDesktop({ relaySettings: { smarthost: { host: host.host, port: host.port } } });

    tray.clickItem(TRAY_MENU_IDS.pauseResume);
    expect(desktop?.relay?.status().smartHosts[0]?.state).toBe('paused-user');
    expect(tray.item(TRAY_MENU_IDS.pauseResume).label).toBe('Resume sending');
    expect(tray.image).toBe(trayIconPath(ICON_DIR, 'attention'));

    tray.clickItem(TRAY_MENU_IDS.pauseResume);
    expect(desktop?.relay?.status().smartHosts[0]?.state).toBe('active');
    expect(tray.item(TRAY_MENU_IDS.pauseResume).label).toBe('Pause sending');
  });

  it('start at login writes the Linux autostart entry', async () => {
    const { tray, userData } = await startDesktop();
    const entry = path.join(userData, 'xdg-config', 'autostart', 'smarthost-relay.desktop');

    tray.clickItem(TRAY_MENU_IDS.startAtLogin);
    expect(fs.readFileSync(entry, 'utf8')).toContain('Exec="/opt/Smarthost Relay/smarthost-relay" --hidden\n');
    expect(tray.item(TRAY_MENU_IDS.startAtLogin).checked).toBe(true);

    tray.clickItem(TRAY_MENU_IDS.startAtLogin);
    expect(fs.existsSync(entry)).toBe(false);
    expect(tray.item(TRAY_MENU_IDS.startAtLogin).checked).toBe(false);
  });

  it('start at login uses the login item on Windows', async () => {
    const { fake, tray } = await startDesktop({ platform: 'win32' });
    tray.clickItem(TRAY_MENU_IDS.startAtLogin);
    expect(fake.state.loginItemCalls).toEqual([{ openAtLogin: true, args: ['--hidden'] }]);
    expect(tray.item(TRAY_MENU_IDS.startAtLogin).checked).toBe(true);
  });

  it('start at login needs the installed app', async () => {
    const { fake, tray } = await startDesktop({
      configure: (setup) => {
        setup.state.isPackaged = false;
      },
    });
    expect(tray.item(TRAY_MENU_IDS.startAtLogin).enabled).toBe(false);
    expect(mainWindow(fake).options.webPreferences.devTools).toBe(true);
  });

  it('send test message without an address opens settings', async () => {
    const host = await startSmartHost();
    const { fake, tray } = await startDesktop({ relaySettings: { smarthost: { host: host.host, port: host.port } } });
    tray.clickItem(TRAY_MENU_IDS.sendTest);
    await waitFor('the settings screen', () => mainWindow(fake).loadedUrls.at(-1) === appPageUrl(ROUTES.setup));
  });

  it('send test message reports the reply', async () => {
    const host = await startSmartHost({ auth: { user: 'office@example.com', pass: 'app-password' } });
    const { fake, tray } = await startDesktop({
      relaySettings: { smarthost: { host: host.host, port: host.port }, user: 'office@example.com' },
    });
    const saved = await fake.invoke(ipcChannel('updateSettings'), APP_PAGE, { settings: {}, password: 'app-password' });
    expect(saved).toMatchObject({ ok: true });

    tray.clickItem(TRAY_MENU_IDS.sendTest);
    await waitFor('a notification', () => fake.state.notifications.length === 1);

    const notification = fake.state.notifications[0];
    expect(notification?.options.title).toBe('Test message accepted');
    expect(notification?.options.body).toContain(`${host.host}:${host.port}`);
    expect(host.messages.map((message) => message.to)).toEqual([['office@example.com']]);
  });
});

describe('desktop app relay events', () => {
  it('mail through the relay reaches the window and the tray', async () => {
    const host = await startSmartHost();
    const { fake, desktop, tray } = await startDesktop({ relaySettings: { smarthost: { host: host.host, port: host.port } } });
    const contents = mainWindow(fake).webContents;

    await sendMail(desktop?.relay?.status().listen ?? '');
    await host.waitForMessages(1);
    await waitFor('SENT on the window', () =>
      contents.sent.some((message) => (message.args[0] as RelayEventView).event === 'SENT'),
    );

    const events = contents.sent.filter((message) => message.channel === IPC_EVENT_CHANNEL).map((message) => (message.args[0] as RelayEventView).event);
    expect(events).toContain('QUEUED');
    expect(events).toContain('SENT');
    await waitFor('the tray tooltip', () => tray.toolTip.endsWith('Queue empty'));
    expect(tray.image).toBe(trayIconPath(ICON_DIR, 'idle'));
  });

  it('alert notification opens the alerts screen', async () => {
    const { fake, desktop } = await startDesktop();
    const relay = desktop?.relay as Relay;
    relay.alerts.raise({
      kind: 'blacklisted',
      smartHost: 'smtp.example.com:587',
      reply: '554 5.7.1 blocked',
      explanation: 'The smart host refuses mail from this office.',
      advice: 'Ask your provider to remove the listing.',
    });
    expect(fake.state.notifications).toHaveLength(1);

    fake.state.notifications[0]?.click();
    expect(mainWindow(fake).loadedUrls.at(-1)).toBe(appPageUrl(ROUTES.alerts));
  });
});

describe('desktop app IPC', () => {
  async function invoke(fake: FakeElectron, name: string, sender: string | null, ...args: unknown[]) {
    return (await fake.invoke(`relay:${name}`, sender, ...args)) as ApiResult<unknown>;
  }

  it('answers the app page', async () => {
    const { fake } = await startDesktop();
    const result = await invoke(fake, 'getStatus', APP_PAGE, {});
    expect(result.ok).toBe(true);
    expect((result as { value: RelayStatus }).value.version).toBe('0.1.0');
  });

  it('rejects other senders', async () => {
    const { fake, stderr } = await startDesktop();
    for (const sender of ['https://evil.example/', 'file:///tmp/page.html', 'app://other/index.html', null]) {
      const result = await invoke(fake, 'pauseSending', sender, {});
      expect(result).toMatchObject({ ok: false, error: { code: 'EFORBIDDEN' } });
    }
    expect(stderr).toEqual([]);
  });

  it('validates input with the schema', async () => {
    const { fake } = await startDesktop();
    const badLimit = await invoke(fake, 'listQueue', APP_PAGE, { limit: -1 });
    expect(badLimit).toMatchObject({ ok: false, error: { code: 'EINVALID', field: 'limit' } });

    const unknownKey = await invoke(fake, 'getStatus', APP_PAGE, { admin: true });
    expect(unknownKey).toMatchObject({ ok: false, error: { code: 'EINVALID' } });

    const badId = await invoke(fake, 'deleteMessage', APP_PAGE, { id: '../../etc/passwd' });
    expect(badId).toMatchObject({ ok: false, error: { code: 'EINVALID', field: 'id' } });

    const twoArguments = await invoke(fake, 'getStatus', APP_PAGE, {}, {});
    expect(twoArguments).toMatchObject({ ok: false, error: { code: 'EINVALID' } });
  });

  it('registers one channel per method', async () => {
    const { fake } = await startDesktop();
    expect(fake.state.ipcHandlers.has(ipcChannel('getStatus'))).toBe(true);
    expect(fake.state.ipcHandlers.has(ipcChannel('updateSettings'))).toBe(true);
  });

  it('updateSettings saves settings and encrypts the password', async () => {
    const { fake, userData, desktop } = await startDesktop();
    const result = await invoke(fake, 'updateSettings', APP_PAGE, {
      settings: { maxConnections: 5 },
      password: 'hunter2-secret',
    });
    expect(result.ok).toBe(true);
    expect(desktop?.relay?.settings.maxConnections).toBe(5);

    const text = fs.readFileSync(path.join(userData, 'settings.json'), 'utf8');
    expect(text).not.toContain('hunter2-secret');
    const stored = JSON.parse(text) as StoredDesktopSettings;
    expect(stored.relay.maxConnections).toBe(5);
    expect(stored.smartHostPassword?.encrypted).toBeTruthy();
  });

  it('updateSettings without a keychain reports ESAVE', async () => {
    const { fake, userData } = await startDesktop({
      configure: (setup) => {
        setup.state.encryptionAvailable = false;
      },
    });
    const result = await invoke(fake, 'updateSettings', APP_PAGE, { settings: {}, password: 'hunter2-secret' });
    expect(result).toMatchObject({ ok: false, error: { code: 'ESAVE' } });
    expect((result as { error: { message: string } }).error.message).toMatch(/secure storage/);
    expect(fs.readFileSync(path.join(userData, 'settings.json'), 'utf8')).not.toContain('hunter2-secret');
  });

  it('preload bridge round trip', async () => {
    const { fake } = await startDesktop();
    const listeners = new Map<string, (event: unknown, ...args: unknown[]) => void>();
    const ipcRenderer: IpcRendererPort = {
      invoke: (channel, ...args) => fake.invoke(channel, APP_PAGE, ...args),
      on: (channel, listener) => listeners.set(channel, listener),
      removeListener: (channel) => listeners.delete(channel),
    };
    const bridge = createRelayApiBridge(ipcRenderer);
    const api = createApiClient(bridge);

    const status = await api.getStatus({});
    expect(status.queue.total).toBe(0);
    const direct = await bridge.getStatus({});
    expect(direct.queue.total).toBe(0);

    const error = await api.listQueue({ limit: 0 }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).code).toBe('EINVALID');
    expect((error as ApiError).field).toBe('limit');

    const received: string[] = [];
    const unsubscribe = api.subscribe((event) => received.push(event.event));
    listeners.get(IPC_EVENT_CHANNEL)?.({}, { event: 'SENT', time: 1, fields: {} });
    unsubscribe();
    expect(received).toEqual(['SENT']);
    expect(listeners.has(IPC_EVENT_CHANNEL)).toBe(false);
  });

  it('preload bridge rejects unknown methods', async () => {
    const bridge = createRelayApiBridge({
      invoke: async () => {
        throw new Error('not reached');
      },
      on: () => undefined,
      removeListener: () => undefined,
    });
    const result = await bridge.call('evalInMain' as never, {});
    expect(result).toMatchObject({ ok: false, error: { code: 'EUNKNOWN_METHOD' } });
  });
});
