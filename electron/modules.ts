/**
 * The slice of Electron's main-process API that the desktop app uses, as
 * plain interfaces. Only electron/main.ts imports the real `electron`
 * module and passes it in. Everything else receives these interfaces, so
 * the tests run the same code in plain Node with the fakes in
 * test/support/electron-fakes.ts.
 *
 * `npm run typecheck` checks electron/main.ts against Electron's own type
 * definitions, which proves that the real modules fit these interfaces.
 * Methods are declared in method syntax on purpose: TypeScript compares
 * their parameters bivariantly, so Electron's wider signatures
 * (`click(menuItem, window, event)`) still fit the narrow ones used here.
 */

/** An event whose default action a listener can cancel. */
export interface PreventableEvent {
  preventDefault(): void;
}

export interface LoginItemSettingsPort {
  readonly openAtLogin: boolean;
  /** macOS only: true when the system started the app at login. */
  readonly wasOpenedAtLogin?: boolean;
}

export interface AppPort {
  readonly isPackaged: boolean;
  requestSingleInstanceLock(): boolean;
  whenReady(): Promise<void>;
  quit(): void;
  exit(exitCode?: number): void;
  getName(): string;
  getVersion(): string;
  getAppPath(): string;
  getPath(name: 'userData'): string;
  setPath(name: 'userData', path: string): void;
  setAppUserModelId(id: string): void;
  setLoginItemSettings(settings: { openAtLogin: boolean; args?: string[] }): void;
  getLoginItemSettings(options?: { args?: string[] }): LoginItemSettingsPort;
  on(event: 'second-instance', listener: () => void): unknown;
  on(event: 'before-quit', listener: (event: PreventableEvent) => void): unknown;
  on(event: 'window-all-closed', listener: () => void): unknown;
  on(event: 'activate', listener: () => void): unknown;
  on(event: 'web-contents-created', listener: (event: unknown, contents: WebContentsPort) => void): unknown;
}

export interface MenuItemTemplate {
  readonly id?: string;
  readonly label?: string;
  readonly type?: 'normal' | 'separator' | 'checkbox';
  readonly checked?: boolean;
  readonly enabled?: boolean;
  readonly toolTip?: string;
  readonly click?: () => void;
}

/** A built menu; the app only hands it to the tray. */
export type MenuPort = object;

export interface MenuModule {
  buildFromTemplate(template: MenuItemTemplate[]): MenuPort;
}

export interface TrayPort {
  /** Takes a PNG path; Electron loads `name@2x.png` beside it on HiDPI screens. */
  setImage(imagePath: string): void;
  setToolTip(toolTip: string): void;
  setContextMenu(menu: MenuPort | null): void;
  on(event: 'click', listener: () => void): unknown;
  destroy(): void;
  isDestroyed(): boolean;
}

export type TrayClass = new (imagePath: string) => TrayPort;

export interface WindowOpenDetails {
  readonly url: string;
}

export interface WebContentsPort {
  on(event: 'will-navigate', listener: (event: PreventableEvent, url: string) => void): unknown;
  on(event: 'will-redirect', listener: (event: PreventableEvent, url: string) => void): unknown;
  on(event: 'will-attach-webview', listener: (event: PreventableEvent) => void): unknown;
  setWindowOpenHandler(handler: (details: WindowOpenDetails) => { action: 'deny' }): void;
  send(channel: string, ...args: unknown[]): void;
  isDestroyed(): boolean;
}

export interface SecureWebPreferences {
  readonly preload: string;
  readonly contextIsolation: true;
  readonly nodeIntegration: false;
  readonly nodeIntegrationInWorker: false;
  readonly sandbox: true;
  readonly webSecurity: true;
  readonly allowRunningInsecureContent: false;
  readonly webviewTag: false;
  readonly navigateOnDragDrop: false;
  readonly spellcheck: boolean;
  readonly devTools: boolean;
}

export interface WindowOptions {
  readonly width: number;
  readonly height: number;
  readonly minWidth: number;
  readonly minHeight: number;
  readonly show: boolean;
  readonly title: string;
  readonly icon?: string;
  readonly autoHideMenuBar: boolean;
  readonly webPreferences: SecureWebPreferences;
}

export interface WindowPort {
  readonly webContents: WebContentsPort;
  loadURL(url: string): Promise<void>;
  show(): void;
  hide(): void;
  focus(): void;
  restore(): void;
  isMinimized(): boolean;
  isVisible(): boolean;
  isDestroyed(): boolean;
  on(event: 'close', listener: (event: PreventableEvent) => void): unknown;
  on(event: 'closed', listener: () => void): unknown;
  once(event: 'ready-to-show', listener: () => void): unknown;
}

export type BrowserWindowClass = new (options: WindowOptions) => WindowPort;

export interface NotificationOptions {
  readonly title: string;
  readonly body: string;
  readonly icon?: string;
}

export interface NotificationPort {
  show(): void;
  close(): void;
  on(event: 'click', listener: () => void): unknown;
  on(event: 'close', listener: () => void): unknown;
}

export interface NotificationClass {
  isSupported(): boolean;
  new (options: NotificationOptions): NotificationPort;
}

export interface SafeStoragePort {
  isEncryptionAvailable(): boolean;
  encryptString(plainText: string): Buffer;
  decryptString(encrypted: Buffer): string;
  /** Linux only; `basic_text` means a built-in key, no OS keychain. */
  getSelectedStorageBackend(): string;
}

export interface ShellPort {
  /** Resolves to an error message, or '' on success. */
  openPath(path: string): Promise<string>;
  openExternal(url: string): Promise<void>;
}

export interface DialogPort {
  showErrorBox(title: string, content: string): void;
}

export interface IpcInvokeEventPort {
  /** The frame that sent the message; null once it navigated away or closed. */
  readonly senderFrame: { readonly url: string } | null;
}

export interface IpcMainPort {
  handle(channel: string, listener: (event: IpcInvokeEventPort, ...args: unknown[]) => Promise<unknown>): void;
  removeHandler(channel: string): void;
}

export interface CustomSchemePort {
  readonly scheme: string;
  readonly privileges: {
    readonly standard: boolean;
    readonly secure: boolean;
    readonly supportFetchAPI: boolean;
    readonly corsEnabled: boolean;
  };
}

export interface ProtocolPort {
  registerSchemesAsPrivileged(schemes: CustomSchemePort[]): void;
  handle(scheme: string, handler: (request: Request) => Promise<Response>): void;
}

export interface HeadersReceivedDetails {
  readonly url: string;
  readonly responseHeaders?: Record<string, string[]>;
}

export interface SessionPort {
  readonly webRequest: {
    onHeadersReceived(
      listener: (
        details: HeadersReceivedDetails,
        callback: (response: { responseHeaders?: Record<string, string[]> }) => void,
      ) => void,
    ): void;
  };
  setPermissionRequestHandler(
    handler: (contents: unknown, permission: string, callback: (granted: boolean) => void) => void,
  ): void;
  setPermissionCheckHandler(handler: () => boolean): void;
}

/** Every Electron module the main process uses, injected by electron/main.ts. */
export interface ElectronModules {
  readonly app: AppPort;
  readonly BrowserWindow: BrowserWindowClass;
  readonly Tray: TrayClass;
  readonly Menu: MenuModule;
  readonly Notification: NotificationClass;
  readonly safeStorage: SafeStoragePort;
  readonly shell: ShellPort;
  readonly dialog: DialogPort;
  readonly ipcMain: IpcMainPort;
  readonly protocol: ProtocolPort;
  readonly session: { readonly defaultSession: SessionPort };
}
