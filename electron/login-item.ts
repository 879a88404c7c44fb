/**
 * "Start at login". Windows and macOS register the app with
 * `app.setLoginItemSettings`; Electron has no such call on Linux, so
 * there the app writes an XDG autostart entry
 * (`~/.config/autostart/smarthost-relay.desktop`, see the freedesktop.org
 * Desktop Application Autostart Specification).
 *
 * A start at login passes `--hidden`, so the app starts in the tray
 * without opening its window. macOS passes no arguments to login items,
 * so there `wasOpenedAtLogin` gives the same information.
 *
 * Only the installed app registers itself: an unpackaged run's executable
 * is the bare Electron binary, which would start without the app.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AppPort } from './modules.ts';

export const HIDDEN_FLAG = '--hidden';
const LINUX_AUTOSTART_FILE = 'smarthost-relay.desktop';

export interface LoginItemOptions {
  readonly app: AppPort;
  readonly platform: NodeJS.Platform;
  readonly env: NodeJS.ProcessEnv;
  /** The program to start: the AppImage file, or the installed executable. */
  readonly executablePath: string;
  readonly appName: string;
}

/**
 * Quotes a path for the Exec key of a desktop entry. Inside double quotes,
 * `"`, backtick, `$` and `\` get a backslash. Then the string rule of the
 * specification doubles every backslash. A `%` starts a field code, so a
 * literal one is written `%%`.
 */
export function quoteDesktopExec(value: string): string {
  const needsQuotes = /[\s"'\\`$<>~|&;*?#()]/.test(value);
  const quoted = needsQuotes ? `"${value.replace(/["`$\\]/g, (character) => `\\${character}`)}"` : value;
  return quoted.replace(/\\/g, '\\\\').replace(/%/g, '%%');
}

export class LoginItem {
  readonly #options: LoginItemOptions;

  constructor(options: LoginItemOptions) {
    this.#options = options;
  }

  get available(): boolean {
    const { app, platform } = this.#options;
    const supportedPlatform = platform === 'win32' || platform === 'darwin' || platform === 'linux';
    return app.isPackaged && supportedPlatform;
  }

  /** Path of the XDG autostart entry on Linux. */
  get autostartFile(): string {
    const configHome = this.#options.env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config');
    return path.join(configHome, 'autostart', LINUX_AUTOSTART_FILE);
  }

  get enabled(): boolean {
    const { app, platform } = this.#options;
    if (platform === 'linux') return fs.existsSync(this.autostartFile);
    if (platform === 'win32') return app.getLoginItemSettings({ args: [HIDDEN_FLAG] }).openAtLogin;
    return app.getLoginItemSettings().openAtLogin;
  }

  /** Registers or removes the login item; throws if the platform call fails. */
  setEnabled(enabled: boolean): void {
    if (!this.available) return;
    const { app, platform } = this.#options;

    if (platform === 'linux') {
      this.#writeAutostartEntry(enabled);
      return;
    }
    if (platform === 'win32') {
      app.setLoginItemSettings({ openAtLogin: enabled, args: [HIDDEN_FLAG] });
      return;
    }
    app.setLoginItemSettings({ openAtLogin: enabled });
  }

  /** Returns whether this run was started at login, in which case no window opens. */
  startedAtLogin(argv: readonly string[]): boolean {
    if (argv.includes(HIDDEN_FLAG)) return true;
    if (this.#options.platform !== 'darwin') return false;
    return this.#options.app.getLoginItemSettings().wasOpenedAtLogin === true;
  }

  #writeAutostartEntry(enabled: boolean): void {
    const file = this.autostartFile;
    if (!enabled) {
      fs.rmSync(file, { force: true });
      return;
    }
    const { appName, env, executablePath } = this.#options;
    // An AppImage runs from a temporary mount, so only $APPIMAGE stays valid.
    const program = env.APPIMAGE || executablePath;
    const entry = [
      '[Desktop Entry]',
      'Type=Application',
      `Name=${appName}`,
      `Exec=${quoteDesktopExec(program)} ${HIDDEN_FLAG}`,
      'Terminal=false',
      'X-GNOME-Autostart-enabled=true',
      '',
    ].join('\n');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, entry, { mode: 0o644 });
  }
}
