/**
 * In-memory fakes of the Electron modules in electron/modules.ts, for
 * tests of the main process in plain Node. Each fake records what the app
 * did: windows opened, URLs loaded, tray images, notifications, IPC
 * handlers. The fakes also play the user's part. A test can close a
 * window, click a menu item or a notification, launch a second instance,
 * or invoke an IPC channel from a given page.
 */
import { EventEmitter } from 'node:events';
import type {
  CustomSchemePort,
  ElectronModules,
  HeadersReceivedDetails,
  IpcInvokeEventPort,
  MenuItemTemplate,
  NotificationOptions,
  PreventableEvent,
  WindowOpenDetails,
  WindowOptions,
} from '../../electron/modules.ts';

class FakeEvent implements PreventableEvent {
  defaultPrevented = false;

  preventDefault(): void {
    this.defaultPrevented = true;
  }
}

export class FakeWebContents extends EventEmitter {
  readonly sent: { channel: string; args: unknown[] }[] = [];
  windowOpenHandler: ((details: WindowOpenDetails) => { action: 'deny' }) | null = null;
  destroyed = false;

  setWindowOpenHandler(handler: (details: WindowOpenDetails) => { action: 'deny' }): void {
    this.windowOpenHandler = handler;
  }

  send(channel: string, ...args: unknown[]): void {
    this.sent.push({ channel, args });
  }

  isDestroyed(): boolean {
    return this.destroyed;
  }

  /** Simulates the page starting a navigation; returns whether it was blocked. */
  navigate(url: string, event: 'will-navigate' | 'will-redirect' = 'will-navigate'): boolean {
    const preventable = new FakeEvent();
    this.emit(event, preventable, url);
    return preventable.defaultPrevented;
  }
}

export class FakeWindow extends EventEmitter {
  readonly webContents = new FakeWebContents();
  readonly loadedUrls: string[] = [];
  visible = false;
  minimized = false;
  focusCount = 0;
  destroyed = false;

  constructor(readonly options: WindowOptions) {
    super();
  }

  async loadURL(url: string): Promise<void> {
    this.loadedUrls.push(url);
  }

  show(): void {
    this.visible = true;
  }

  hide(): void {
    this.visible = false;
  }

  focus(): void {
    this.focusCount++;
  }

  restore(): void {
    this.minimized = false;
  }

  isMinimized(): boolean {
    return this.minimized;
  }

  isVisible(): boolean {
    return this.visible;
  }

  isDestroyed(): boolean {
    return this.destroyed;
  }

  /** The user clicks the close button; returns whether the window closed. */
  close(): boolean {
    const event = new FakeEvent();
    this.emit('close', event);
    if (event.defaultPrevented) return false;
    this.destroyed = true;
    this.webContents.destroyed = true;
    this.visible = false;
    this.emit('closed');
    return true;
  }
}

export class FakeTray extends EventEmitter {
  readonly images: string[] = [];
  toolTip = '';
  menu: MenuItemTemplate[] | null = null;
  destroyed = false;

  constructor(image: string) {
    super();
    this.images.push(image);
  }

  get image(): string {
    return this.images.at(-1) ?? '';
  }

  setImage(image: string): void {
    this.images.push(image);
  }

  setToolTip(toolTip: string): void {
    this.toolTip = toolTip;
  }

  setContextMenu(menu: object | null): void {
    this.menu = menu === null ? null : (menu as { template: MenuItemTemplate[] }).template;
  }

  destroy(): void {
    this.destroyed = true;
  }

  isDestroyed(): boolean {
    return this.destroyed;
  }

  /** Finds a menu item by id; throws when the menu lacks it. */
  item(id: string): MenuItemTemplate {
    const item = this.menu?.find((candidate) => candidate.id === id);
    if (!item) throw new Error(`The tray menu has no item ${id}; it has ${this.menu?.map((entry) => entry.id).join(', ')}.`);
    return item;
  }

  /** Clicks a menu item by id. */
  clickItem(id: string): void {
    const item = this.item(id);
    if (item.enabled === false) throw new Error(`The tray menu item ${id} is disabled.`);
    item.click?.();
  }
}

export class FakeNotification extends EventEmitter {
  shown = false;
  closed = false;

  constructor(readonly options: NotificationOptions) {
    super();
  }

  show(): void {
    this.shown = true;
  }

  close(): void {
    this.closed = true;
    this.emit('close');
  }

  click(): void {
    this.emit('click');
  }
}

type IpcListener = (event: IpcInvokeEventPort, ...args: unknown[]) => Promise<unknown>;
type HeadersListener = (
  details: HeadersReceivedDetails,
  callback: (response: { responseHeaders?: Record<string, string[]> }) => void,
) => void;

export interface FakeElectronState {
  readonly windows: FakeWindow[];
  readonly trays: FakeTray[];
  readonly notifications: FakeNotification[];
  readonly ipcHandlers: Map<string, IpcListener>;
  readonly protocolHandlers: Map<string, (request: Request) => Promise<Response>>;
  readonly privilegedSchemes: CustomSchemePort[];
  readonly openedPaths: string[];
  readonly openedExternal: string[];
  readonly errorBoxes: { title: string; content: string }[];
  readonly loginItemCalls: { openAtLogin: boolean; args?: string[] }[];
  readonly paths: Map<string, string>;
  /** Set by the app: the CSP listener and the permission handlers. */
  headersListener: HeadersListener | null;
  permissionRequestHandler: ((contents: unknown, permission: string, callback: (granted: boolean) => void) => void) | null;
  permissionCheckHandler: (() => boolean) | null;
  appUserModelId: string | null;
  quitCount: number;
  /** True once a quit went through (no before-quit listener prevented it). */
  quitted: boolean;
  exitCode: number | null;
  isPackaged: boolean;
  lockAvailable: boolean;
  notificationsSupported: boolean;
  encryptionAvailable: boolean;
  storageBackend: string;
  openAtLogin: boolean;
  wasOpenedAtLogin: boolean;
}

export interface FakeElectron {
  readonly modules: ElectronModules;
  readonly state: FakeElectronState;
  readonly app: EventEmitter;
  /** Resolves app.whenReady(); it stays pending until this is called. */
  emitReady(): void;
  /** Invokes an IPC channel as the page at `senderUrl` would. */
  invoke(channel: string, senderUrl: string | null, ...args: unknown[]): Promise<unknown>;
}

export function createFakeElectron(options: { userData: string }): FakeElectron {
  const state: FakeElectronState = {
    windows: [],
    trays: [],
    notifications: [],
    ipcHandlers: new Map(),
    protocolHandlers: new Map(),
    privilegedSchemes: [],
    openedPaths: [],
    openedExternal: [],
    errorBoxes: [],
    loginItemCalls: [],
    paths: new Map([['userData', options.userData]]),
    headersListener: null,
    permissionRequestHandler: null,
    permissionCheckHandler: null,
    appUserModelId: null,
    quitCount: 0,
    quitted: false,
    exitCode: null,
    isPackaged: true,
    lockAvailable: true,
    notificationsSupported: true,
    encryptionAvailable: true,
    storageBackend: 'gnome_libsecret',
    openAtLogin: false,
    wasOpenedAtLogin: false,
  };

  const emitter = new EventEmitter();
  let resolveReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => {
    resolveReady = resolve;
  });

  const app = Object.assign(emitter, {
    // Replaced below by a getter, so a test can change state.isPackaged.
    isPackaged: true,
    requestSingleInstanceLock: () => state.lockAvailable,
    whenReady: () => ready,
    quit: () => {
      state.quitCount++;
      const event = new FakeEvent();
      emitter.emit('before-quit', event);
      if (!event.defaultPrevented) state.quitted = true;
    },
    exit: (code = 0) => {
      state.exitCode = code;
    },
    getName: () => 'Smarthost Relay',
    getVersion: () => '0.1.0',
    getAppPath: () => '/app',
    getPath: (name: 'userData') => state.paths.get(name) ?? '',
    setPath: (name: 'userData', value: string) => {
      state.paths.set(name, value);
    },
    setAppUserModelId: (id: string) => {
      state.appUserModelId = id;
    },
    setLoginItemSettings: (settings: { openAtLogin: boolean; args?: string[] }) => {
      state.loginItemCalls.push(settings);
      state.openAtLogin = settings.openAtLogin;
    },
    getLoginItemSettings: () => ({ openAtLogin: state.openAtLogin, wasOpenedAtLogin: state.wasOpenedAtLogin }),
  });
  Object.defineProperty(app, 'isPackaged', { get: () => state.isPackaged });

  class BrowserWindow extends FakeWindow {
    constructor(windowOptions: WindowOptions) {
      super(windowOptions);
      state.windows.push(this);
      // Mirrors app.on('web-contents-created') for the window's contents.
      emitter.emit('web-contents-created', {}, this.webContents);
    }
  }

  class Tray extends FakeTray {
    constructor(image: string) {
      super(image);
      state.trays.push(this);
    }
  }

  class Notification extends FakeNotification {
    static isSupported(): boolean {
      return state.notificationsSupported;
    }

    constructor(notificationOptions: NotificationOptions) {
      super(notificationOptions);
      state.notifications.push(this);
    }
  }

  // A reversible scrambling that never leaves the text readable, so a
  // test can check that the stored file does not contain the password.
  const scramble = (bytes: Buffer) => Buffer.from(bytes.map((byte) => byte ^ 0x5a));

  const modules: ElectronModules = {
    app,
    BrowserWindow,
    Tray,
    Menu: { buildFromTemplate: (template) => ({ template }) },
    Notification,
    safeStorage: {
      isEncryptionAvailable: () => state.encryptionAvailable,
      encryptString: (text) => Buffer.concat([Buffer.from('v10'), scramble(Buffer.from(text, 'utf8'))]),
      decryptString: (encrypted) => {
        if (encrypted.subarray(0, 3).toString() !== 'v10') throw new Error('Error while decrypting the ciphertext provided to safeStorage.decryptString.');
        return scramble(encrypted.subarray(3)).toString('utf8');
      },
      getSelectedStorageBackend: () => state.storageBackend,
    },
    shell: {
      openPath: async (target) => {
        state.openedPaths.push(target);
        return '';
      },
      openExternal: async (url) => {
        state.openedExternal.push(url);
      },
    },
    dialog: {
      showErrorBox: (title, content) => {
        state.errorBoxes.push({ title, content });
      },
    },
    ipcMain: {
      handle: (channel, listener) => {
        if (state.ipcHandlers.has(channel)) throw new Error(`Attempted to register a second handler for '${channel}'`);
        state.ipcHandlers.set(channel, listener);
      },
      removeHandler: (channel) => {
        state.ipcHandlers.delete(channel);
      },
    },
    protocol: {
      registerSchemesAsPrivileged: (schemes) => {
        state.privilegedSchemes.push(...schemes);
      },
      handle: (scheme, handler) => {
        state.protocolHandlers.set(scheme, handler);
      },
    },
    session: {
      defaultSession: {
        webRequest: {
          onHeadersReceived: (listener) => {
            state.headersListener = listener;
          },
        },
        setPermissionRequestHandler: (handler) => {
          state.permissionRequestHandler = handler;
        },
        setPermissionCheckHandler: (handler) => {
          state.permissionCheckHandler = handler;
        },
      },
    },
  };

  return {
    modules,
    state,
    app: emitter,
    emitReady: () => resolveReady(),
    invoke: async (channel, senderUrl, ...args) => {
      const handler = state.ipcHandlers.get(channel);
      if (!handler) throw new Error(`No handler registered for '${channel}'`);
      return handler({ senderFrame: senderUrl === null ? null : { url: senderUrl } }, ...args);
    },
  };
}
