/**
 * Entry point of Electron's main process (compiled to dist/electron/main.js,
 * package.json's `main`). The only file that imports the real `electron`
 * and `electron-store` modules; it hands them to desktop-app.ts.
 *
 * Environment:
 *   SMARTHOST_RELAY_USER_DATA  folder for settings, queue and logs instead
 *                              of Electron's userData folder
 *   SMARTHOST_RELAY_SMOKE=1    print progress as JSON lines on stdout, for
 *                              scripts/smoke-electron.ts
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  BrowserWindow,
  Menu,
  Notification,
  Tray,
  app,
  dialog,
  ipcMain,
  protocol,
  safeStorage,
  session,
  shell,
} from 'electron';
import ElectronStore from 'electron-store';
import { runDesktopApp } from './desktop-app.ts';
import { startDesktopRelay } from './desktop-relay.ts';
import type { DesktopAppOptions } from './desktop-app.ts';
import type { ElectronModules } from './modules.ts';
import type { KeyValueStore, StoreOptions, StoredDesktopSettings } from './settings-store.ts';
import { SMOKE_ENV, reportSmokeProgress } from './smoke-report.ts';

// dist/electron contains main.js, preload.cjs, tray/ and icon.png, and
// dist/renderer is beside it (scripts/build-electron.ts).
const here = path.dirname(fileURLToPath(import.meta.url));

const modules: ElectronModules = {
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
};

/** electron-store keeps settings.json in the userData folder and runs the migrations for app.getVersion(). */
function createStore(options: StoreOptions): KeyValueStore {
  return new ElectronStore<StoredDesktopSettings>(options);
}

const options: DesktopAppOptions = {
  modules,
  createStore,
  startRelay: startDesktopRelay,
  paths: {
    preload: path.join(here, 'preload.cjs'),
    rendererRoot: path.resolve(here, '..', 'renderer'),
    trayIconDir: path.join(here, 'tray'),
    appIcon: path.join(here, 'icon.png'),
  },
  platform: process.platform,
  argv: process.argv,
  env: process.env,
  executablePath: process.execPath,
  writeStderr: (text) => process.stderr.write(text),
};

// A service manager's SIGTERM or a terminal's Ctrl+C requests a graceful stop.
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => app.quit());

runDesktopApp(options)
  .then((desktop) => {
    if (desktop && process.env[SMOKE_ENV] === '1') reportSmokeProgress(desktop, (line) => process.stdout.write(line));
  })
  .catch((error: unknown) => {
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
    process.stderr.write(`ERROR what="desktop: start" error=${JSON.stringify(message)}\n`);
    dialog.showErrorBox('Smarthost Relay could not start', message);
    app.exit(1);
  });
