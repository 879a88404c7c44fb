// A stand-in for the `electron` module, for running the compiled main
// process (dist/electron/main.js, or the copy inside app.asar) in plain
// Node. fake-electron-hooks.mjs maps `import ... from 'electron'` here.
//
// It reports what the app does as JSON lines on stdout, each with a
// "fake" key: the tray image, the window's preload and URL, and the
// app:// protocol's response for index.html. app.quit() ends the process
// like Electron does, unless a 'before-quit' listener prevents it.
/* global Request */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';

function report({ kind, ...fields }) {
  process.stdout.write(`${JSON.stringify({ fake: kind, ...fields })}\n`);
}

const paths = new Map([['userData', process.env.FAKE_ELECTRON_USER_DATA ?? '']]);

class FakeApp extends EventEmitter {
  isPackaged = true;

  requestSingleInstanceLock() {
    return true;
  }

  whenReady() {
    return Promise.resolve();
  }

  quit() {
    let prevented = false;
    this.emit('before-quit', { preventDefault: () => (prevented = true) });
    if (!prevented) {
      report({ kind: 'quit' });
      process.exit(0);
    }
  }

  exit(code = 0) {
    process.exit(code);
  }

  getName() {
    return 'Smarthost Relay';
  }

  getVersion() {
    return '0.1.0';
  }

  getAppPath() {
    return process.cwd();
  }

  getPath(name) {
    return paths.get(name) ?? '';
  }

  setPath(name, value) {
    paths.set(name, value);
  }

  setAppUserModelId() {}

  setLoginItemSettings() {}

  getLoginItemSettings() {
    return { openAtLogin: false, wasOpenedAtLogin: false };
  }
}

export const app = new FakeApp();

class FakeWebContents extends EventEmitter {
  setWindowOpenHandler() {}

  send() {}

  isDestroyed() {
    return false;
  }
}

export class BrowserWindow extends EventEmitter {
  webContents = new FakeWebContents();

  constructor(options) {
    super();
    const preload = options.webPreferences.preload;
    report({ kind: 'window', preload, preloadExists: fs.existsSync(preload), webPreferences: options.webPreferences });
    app.emit('web-contents-created', {}, this.webContents);
  }

  async loadURL(url) {
    report({ kind: 'load', url });
  }

  show() {}

  hide() {}

  focus() {}

  restore() {}

  isMinimized() {
    return false;
  }

  isVisible() {
    return true;
  }

  isDestroyed() {
    return false;
  }
}

export class Tray extends EventEmitter {
  constructor(image) {
    super();
    this.setImage(image);
  }

  setImage(image) {
    report({ kind: 'tray', image, imageExists: fs.existsSync(image) });
  }

  setToolTip() {}

  setContextMenu() {}

  destroy() {}

  isDestroyed() {
    return false;
  }
}

export const Menu = {
  buildFromTemplate: (template) => ({ template }),
};

export class Notification extends EventEmitter {
  static isSupported() {
    return true;
  }

  constructor(options) {
    super();
    this.options = options;
  }

  show() {
    report({ kind: 'notification', title: this.options.title });
  }

  close() {}
}

export const safeStorage = {
  isEncryptionAvailable: () => true,
  encryptString: (text) => Buffer.from(`fake:${text}`, 'utf8'),
  decryptString: (buffer) => buffer.toString('utf8').replace(/^fake:/, ''),
  getSelectedStorageBackend: () => 'gnome_libsecret',
};

export const shell = {
  openPath: async () => '',
  openExternal: async () => undefined,
};

export const dialog = {
  showErrorBox: (title, content) => report({ kind: 'error-box', title, content }),
};

// electron-store registers an `on` listener for its renderer-side API.
export const ipcMain = {
  handle: () => undefined,
  removeHandler: () => undefined,
  on: () => undefined,
};

export const protocol = {
  registerSchemesAsPrivileged: () => undefined,
  handle: (scheme, handler) => {
    // Ask for the page right away, as the window would.
    handler(new Request(`${scheme}://relay/index.html`)).then(
      (response) => report({ kind: 'protocol', status: response.status, csp: response.headers.get('Content-Security-Policy') }),
      (error) => report({ kind: 'protocol', error: String(error) }),
    );
  },
};

export const session = {
  defaultSession: {
    webRequest: { onHeadersReceived: () => undefined },
    setPermissionRequestHandler: () => undefined,
    setPermissionCheckHandler: () => undefined,
  },
};

export const contextBridge = { exposeInMainWorld: () => undefined };
export const ipcRenderer = { invoke: async () => undefined, on: () => undefined, removeListener: () => undefined };

export default {
  app,
  BrowserWindow,
  Tray,
  Menu,
  Notification,
  safeStorage,
  shell,
  dialog,
  ipcMain,
  protocol,
  session,
  contextBridge,
  ipcRenderer,
};
