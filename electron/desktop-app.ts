/**
 * The desktop app's main process: one instance per user, the relay core
 * running inside it, a tray icon, notifications for alerts, and one
 * window that closing only hides. Electron's modules come in through
 * `ElectronModules`, so the tests drive this file with fakes.
 *
 * Start-up, in the order Electron requires:
 *   before `ready`  optional user-data folder (SMARTHOST_RELAY_USER_DATA),
 *                   the app:// scheme, the single-instance lock
 *   after `ready`   session and web-contents hardening, settings, relay,
 *                   IPC, tray, notifications, window
 *
 * Quit stops the relay gracefully (messages in flight get the relay's
 * grace period) before the process ends, bounded by QUIT_TIMEOUT_MS.
 *
 * Errors after the relay started go to its activity log as
 * `ERROR what="desktop: ..." error=...`; before that, to stderr.
 */
import path from 'node:path';
import type { RelayApi } from '../core/api/definition.ts';
import type { RelayStatus, SmartHostTestResult } from '../core/api/model.ts';
import type { SettingsStore } from '../core/console/settings-file.ts';
import type { SecretStore } from '../core/oauth/token-store.ts';
import type { EventFieldValue, EventWord, RelayEvent } from '../core/events.ts';
import type { Settings } from '../core/settings.ts';
import { AlertNotifier, notificationBody } from './alert-notifier.ts';
import { registerAppScheme, serveAppFiles } from './app-protocol.ts';
import { callApiMethod, forwardRelayEvents, registerApiIpc } from './ipc-bridge.ts';
import { LoginItem } from './login-item.ts';
import { MainWindow, ROUTES } from './main-window.ts';
import type { Route } from './main-window.ts';
import type { ElectronModules, PreventableEvent } from './modules.ts';
import { hardenSession, hardenWebContents } from './security.ts';
import { DesktopSettings } from './settings-store.ts';
import type { LoadedSettings, StoreFactory } from './settings-store.ts';
import { TrayController } from './tray-controller.ts';

export const APP_NAME = 'Smarthost Relay';
/** Windows needs it for notifications; it must equal appId in electron-builder.yml. */
export const APP_USER_MODEL_ID = 'com.smarthostrelay.desktop';
/** Overrides the user-data folder (settings, queue, logs), e.g. for the smoke test. */
export const USER_DATA_ENV = 'SMARTHOST_RELAY_USER_DATA';
// The relay gives messages in flight 10 s (STOP_GRACE_MS in core/relay.ts).
// Past this limit the app quits anyway, and those messages go out after
// the next start.
export const QUIT_TIMEOUT_MS = 15 * 1000;

/** The part of core/relay.ts's Relay that the desktop app uses. */
export interface RelayPort {
  readonly dataDir: string;
  readonly settings: Settings;
  readonly bus: {
    subscribe(listener: (event: RelayEvent) => void): () => void;
    emit(event: EventWord, fields: Record<string, EventFieldValue>): void;
  };
  status(): RelayStatus;
  pause(): void;
  resume(): boolean;
  stop(): Promise<void>;
}

export interface RelayStartOptions {
  readonly dataDir: string;
  readonly settings: Settings;
  readonly password: string | null;
  /** Store that the API's updateSettings writes the settings and the password to. */
  readonly store: SettingsStore;
  /** Encrypted storage (safeStorage) for the OAuth2 grant of the smart-host account. */
  readonly secrets: SecretStore;
  /** Opens the OAuth2 sign-in page in the system browser (shell.openExternal). */
  readonly openUrl: (url: string) => Promise<void>;
  /** The value of SMARTHOST_OAUTH_CLIENT_SECRET, which Google's "Desktop app" clients need. */
  readonly oauthClientSecret: string | null;
}

/** The running relay and the API handlers on top of it (core/console/handlers.ts). */
export interface StartedRelay {
  readonly relay: RelayPort;
  readonly api: RelayApi & { close(): void };
}

export interface DesktopPaths {
  /** Compiled preload, dist/electron/preload.cjs. */
  readonly preload: string;
  /** The renderer's build, dist/renderer. */
  readonly rendererRoot: string;
  /** tray-<state>.png files. */
  readonly trayIconDir: string;
  /** Window and notification icon. */
  readonly appIcon?: string | undefined;
}

export interface DesktopAppOptions {
  readonly modules: ElectronModules;
  readonly createStore: StoreFactory;
  readonly startRelay: (options: RelayStartOptions) => Promise<StartedRelay>;
  readonly paths: DesktopPaths;
  readonly platform: NodeJS.Platform;
  readonly argv: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  /** The installed executable, for "Start at login". */
  readonly executablePath: string;
  readonly writeStderr: (text: string) => void;
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Runs the steps that Electron allows only before `ready`. Returns false
 * when another instance runs already. That instance gets a
 * 'second-instance' event, and this one quits.
 */
export function prepareDesktopApp(options: DesktopAppOptions): boolean {
  const { app, protocol } = options.modules;
  // Before the lock, because Electron keys the lock to the user-data folder.
  const userData = options.env[USER_DATA_ENV];
  if (userData) app.setPath('userData', userData);

  registerAppScheme(protocol);

  if (!app.requestSingleInstanceLock()) {
    app.quit();
    return false;
  }
  return true;
}

export class DesktopApp {
  readonly #options: DesktopAppOptions;
  readonly #window: MainWindow;
  readonly #loginItem: LoginItem;
  readonly #notifier: AlertNotifier;
  readonly #cleanups: (() => void)[] = [];
  #relay: RelayPort | null = null;
  #api: RelayApi | null = null;
  #tray: TrayController | null = null;
  #ready = false;
  #showWhenReady = false;
  #shutdown: Promise<void> | null = null;
  #stopped = false;

  constructor(options: DesktopAppOptions) {
    this.#options = options;
    const { modules, paths } = options;
    this.#window = new MainWindow({
      BrowserWindow: modules.BrowserWindow,
      title: APP_NAME,
      preloadPath: paths.preload,
      iconPath: paths.appIcon,
      devTools: !modules.app.isPackaged,
      reportError: (context, error) => this.reportError(context, error),
    });
    this.#loginItem = new LoginItem({
      app: modules.app,
      platform: options.platform,
      env: options.env,
      executablePath: options.executablePath,
      appName: APP_NAME,
    });
    this.#notifier = new AlertNotifier({
      Notification: modules.Notification,
      iconPath: paths.appIcon,
      openRoute: (route) => this.openWindow(route),
      reportError: (context, error) => this.reportError(context, error),
    });
  }

  get relay(): RelayPort | null {
    return this.#relay;
  }

  get tray(): TrayController | null {
    return this.#tray;
  }

  get mainWindow(): MainWindow {
    return this.#window;
  }

  get loginItem(): LoginItem {
    return this.#loginItem;
  }

  /** Registers the app's event handlers; call before `ready`. */
  listen(): void {
    const { app } = this.#options.modules;
    app.on('second-instance', () => this.#onSecondInstance());
    app.on('before-quit', (event) => this.#onBeforeQuit(event));
    // Without a listener Electron quits when the last window closes; the
    // relay keeps running in the tray instead.
    app.on('window-all-closed', () => undefined);
    app.on('activate', () => this.openWindow());
    app.on('web-contents-created', (_event, contents) => {
      hardenWebContents(contents, this.#options.modules.shell, (context, error) => this.reportError(context, error));
    });
  }

  /**
   * Starts everything after `ready`. Returns false when the relay could
   * not start; the user has seen an error box and the app quits.
   */
  async start(): Promise<boolean> {
    const { modules, paths, platform, argv } = this.#options;
    const { app } = modules;

    if (platform === 'win32') app.setAppUserModelId(APP_USER_MODEL_ID);
    hardenSession(modules.session.defaultSession);
    serveAppFiles(modules.protocol, paths.rendererRoot);

    const userData = app.getPath('userData');
    const settingsStore = new DesktopSettings({
      createStore: this.#options.createStore,
      safeStorage: modules.safeStorage,
      platform,
      directory: userData,
    });
    const loaded = settingsStore.load();

    const started = await this.#startRelay(loaded, settingsStore);
    if (!started) return false;
    const { relay } = started;
    this.#connect(started);
    for (const warning of loaded.warnings) {
      this.reportError('load settings', new Error(warning));
      this.#notifier.notify('Settings were reset', warning, ROUTES.setup);
    }

    this.#tray = this.#createTray(relay);
    this.#tray.start();
    this.#ready = true;

    const firstRun = relay.settings.smarthost === null;
    if (this.#showWhenReady || !this.#loginItem.startedAtLogin(argv)) {
      this.openWindow(firstRun ? ROUTES.setup : undefined);
    }
    return true;
  }

  /** Starts the relay, or shows an error box and quits; returns null then. */
  async #startRelay(loaded: LoadedSettings, settingsStore: DesktopSettings): Promise<StartedRelay | null> {
    const { app, dialog, shell } = this.#options.modules;
    try {
      return await this.#options.startRelay({
        dataDir: path.join(app.getPath('userData'), 'relay'),
        settings: loaded.settings,
        password: loaded.password,
        store: settingsStore,
        secrets: settingsStore.secrets,
        openUrl: (url) => shell.openExternal(url),
        // NOTE: the setup screen has no field for a client secret, so a
        // Google sign-in in the desktop app works only with this variable.
        oauthClientSecret: this.#options.env.SMARTHOST_OAUTH_CLIENT_SECRET || null,
      });
    } catch (error) {
      const portTaken = (error as NodeJS.ErrnoException).code === 'EADDRINUSE';
      const advice = portTaken
        ? 'Another program uses the same port. Stop it, or change "listen" in the settings file'
        : 'Check the settings file';
      dialog.showErrorBox(
        `${APP_NAME} could not start`,
        `The relay did not start: ${describeError(error)}\n\n` +
          `${advice} (${settingsStore.filePath}), then start ${APP_NAME} again.`,
      );
      this.#stopped = true;
      app.quit();
      return null;
    }
  }

  /** Connects the relay to the window (IPC, events) and to the notifications. */
  #connect(started: StartedRelay): void {
    const { relay, api } = started;
    const { ipcMain } = this.#options.modules;
    this.#relay = relay;
    this.#api = api;
    this.#cleanups.push(() => api.close());

    const reportError = (context: string, error: unknown) => this.reportError(context, error);
    this.#cleanups.push(registerApiIpc({ ipcMain, api, reportError }));
    this.#cleanups.push(
      forwardRelayEvents(
        (listener) => relay.bus.subscribe(listener),
        () => this.#window.window?.webContents ?? null,
      ),
    );
    this.#cleanups.push(relay.bus.subscribe((event) => this.#notifier.handleEvent(event)));
  }

  /** Shows the window on the given screen; before start() ends, shows it once ready. */
  openWindow(route?: Route): void {
    if (!this.#ready) {
      this.#showWhenReady = true;
      return;
    }
    this.#window.show(route);
  }

  /** Logs an error in the activity log, or on stderr before the relay runs. */
  reportError(context: string, error: unknown): void {
    const message = describeError(error);
    if (this.#relay) {
      this.#relay.bus.emit('ERROR', { what: `desktop: ${context}`, error: message });
    } else {
      this.#options.writeStderr(`ERROR what="desktop: ${context}" error=${JSON.stringify(message)}\n`);
    }
  }

  /**
   * "Send test message" in the tray: sends one to the smart-host user when
   * that is an address, and shows the smart host's reply as a
   * notification. Otherwise opens the setup screen, where the test form
   * requests an address.
   */
  async sendTestMessage(): Promise<void> {
    const relay = this.#relay;
    const api = this.#api;
    if (!relay || !api) return;
    const to = relay.settings.user;
    if (to === null || !to.includes('@') || relay.settings.smarthost === null) {
      this.openWindow(ROUTES.setup);
      return;
    }

    const result = await callApiMethod(api, 'sendTestMessage', { to }, (context, error) => this.reportError(context, error));
    if (!result.ok) {
      this.#notifier.notify('Test message not sent', result.error.message, ROUTES.setup);
      return;
    }
    const test = result.value as SmartHostTestResult;
    if (test.ok) {
      const body = notificationBody(`${test.smartHost} accepted the message for ${to}: ${test.reply}`, '');
      this.#notifier.notify('Test message accepted', body, ROUTES.setup);
    } else {
      this.#notifier.notify('Test message failed', notificationBody(test.explanation, test.advice), ROUTES.setup);
    }
  }

  #createTray(relay: RelayPort): TrayController {
    const { modules, paths, platform } = this.#options;
    return new TrayController({
      Tray: modules.Tray,
      Menu: modules.Menu,
      iconDir: paths.trayIconDir,
      appName: APP_NAME,
      platform,
      status: () => relay.status(),
      subscribe: (listener) => relay.bus.subscribe(listener),
      startAtLogin: () => ({ enabled: this.#loginItem.enabled, available: this.#loginItem.available }),
      actions: {
        open: () => this.openWindow(),
        pause: () => {
          relay.pause();
          this.#tray?.refresh();
        },
        resume: () => {
          relay.resume();
          this.#tray?.refresh();
        },
        sendTestMessage: () => {
          this.sendTestMessage().catch((error: unknown) => this.reportError('send a test message', error));
        },
        openQueue: () => this.openWindow(ROUTES.queue),
        openLogFolder: () => this.#openLogFolder(relay),
        setStartAtLogin: (enabled) => this.#setStartAtLogin(enabled),
        quit: () => modules.app.quit(),
      },
    });
  }

  #openLogFolder(relay: RelayPort): void {
    const folder = path.join(relay.dataDir, 'logs');
    this.#options.modules.shell
      .openPath(folder)
      .then((failure) => {
        if (failure !== '') this.reportError(`open ${folder}`, new Error(failure));
      })
      .catch((error: unknown) => this.reportError(`open ${folder}`, error));
  }

  #setStartAtLogin(enabled: boolean): void {
    try {
      this.#loginItem.setEnabled(enabled);
    } catch (error) {
      this.reportError(enabled ? 'turn on start at login' : 'turn off start at login', error);
      this.#notifier.notify('Start at login not changed', describeError(error), ROUTES.home);
    }
    this.#tray?.refresh();
  }

  #onSecondInstance(): void {
    // A second launch (a double-click on the shortcut) means "show me".
    this.openWindow();
  }

  #onBeforeQuit(event: PreventableEvent): void {
    if (this.#stopped) return;
    event.preventDefault();
    // Quit asked again while the relay stops (a second Quit click).
    if (this.#shutdown) return;
    this.#shutdown = this.#stop().finally(() => {
      this.#stopped = true;
      this.#options.modules.app.quit();
    });
  }

  async #stop(): Promise<void> {
    this.#window.prepareToQuit();
    this.#tray?.stop();
    for (const cleanup of this.#cleanups.splice(0)) cleanup();

    const relay = this.#relay;
    if (!relay) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), QUIT_TIMEOUT_MS);
    });
    try {
      const outcome = await Promise.race([relay.stop().then(() => 'stopped' as const), timeout]);
      if (outcome === 'timeout') {
        this.#options.writeStderr(`ERROR what="desktop: quit" error="the relay did not stop within ${QUIT_TIMEOUT_MS} ms"\n`);
      }
    } catch (error) {
      this.#options.writeStderr(`ERROR what="desktop: quit" error=${JSON.stringify(describeError(error))}\n`);
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * Runs the whole start-up. Returns the app, or null when another instance
 * runs already or the relay could not start.
 */
export async function runDesktopApp(options: DesktopAppOptions): Promise<DesktopApp | null> {
  if (!prepareDesktopApp(options)) return null;

  const desktop = new DesktopApp(options);
  desktop.listen();
  await options.modules.app.whenReady();
  return (await desktop.start()) ? desktop : null;
}
