/**
 * The settings and status window. There is at most one; closing it hides
 * it, so the relay goes on running in the tray, and only Quit destroys it.
 * A route (`#/alerts`) selects the renderer's screen. The window loads
 * app://relay/index.html with that hash.
 */
import type { BrowserWindowClass, WindowPort } from './modules.ts';
import { APP_ORIGIN, secureWebPreferences } from './security.ts';

/**
 * Screens of the renderer (SCREENS in renderer/src/App.tsx) that the tray
 * and the notifications open. `#/` lets the renderer choose: the
 * dashboard, or the setup screen while no smart host is configured.
 */
export const ROUTES = {
  home: '#/',
  alerts: '#/alerts',
  queue: '#/queue',
  setup: '#/setup',
  log: '#/log',
} as const;

export type Route = (typeof ROUTES)[keyof typeof ROUTES];

// Big enough for the queue table without scrolling sideways on a 1366x768
// laptop screen, the smallest common office screen.
const WINDOW_WIDTH_PX = 1100;
const WINDOW_HEIGHT_PX = 720;
const MIN_WIDTH_PX = 720;
const MIN_HEIGHT_PX = 480;

export function appPageUrl(route: Route): string {
  return `${APP_ORIGIN}/index.html${route}`;
}

export interface MainWindowOptions {
  readonly BrowserWindow: BrowserWindowClass;
  readonly title: string;
  readonly preloadPath: string;
  readonly iconPath?: string | undefined;
  /** Developer tools; off in the packaged app. */
  readonly devTools: boolean;
  readonly reportError: (context: string, error: unknown) => void;
}

export class MainWindow {
  readonly #options: MainWindowOptions;
  #window: WindowPort | null = null;
  #quitting = false;

  constructor(options: MainWindowOptions) {
    this.#options = options;
  }

  /** The open window, or null before the first show() and after quit. */
  get window(): WindowPort | null {
    return this.#window;
  }

  /**
   * Shows the window, creating it if needed, and brings it to the front.
   * With a route, switches the renderer to that screen.
   */
  show(route?: Route): void {
    if (this.#quitting) return;

    let window = this.#window;
    if (window === null) {
      window = this.#create(route ?? ROUTES.home);
    } else if (route !== undefined) {
      // Loaded even when it was the last route, because the person may
      // have moved to another screen inside the renderer since.
      this.#load(route);
    }

    if (window.isMinimized()) window.restore();
    window.show();
    window.focus();
  }

  /** Lets the next close really close the window; called once the app quits. */
  prepareToQuit(): void {
    this.#quitting = true;
  }

  #create(route: Route): WindowPort {
    const options = this.#options;
    const window = new options.BrowserWindow({
      width: WINDOW_WIDTH_PX,
      height: WINDOW_HEIGHT_PX,
      minWidth: MIN_WIDTH_PX,
      minHeight: MIN_HEIGHT_PX,
      // Shown by show() right away; waiting for 'ready-to-show' would
      // leave a second launch's focus request with nothing to focus.
      show: false,
      title: options.title,
      ...(options.iconPath ? { icon: options.iconPath } : {}),
      autoHideMenuBar: true,
      webPreferences: secureWebPreferences(options.preloadPath, options.devTools),
    });

    // Closing the window only hides it: the relay keeps running in the tray.
    window.on('close', (event) => {
      if (this.#quitting) return;
      event.preventDefault();
      window.hide();
    });
    window.on('closed', () => {
      if (this.#window === window) this.#window = null;
    });

    this.#window = window;
    this.#load(route);
    return window;
  }

  #load(route: Route): void {
    const window = this.#window;
    if (!window) return;
    // NOTE: a load that only changes the hash should stay in the same
    // document (no reload), as in Chromium; not run with a real Electron.
    window.loadURL(appPageUrl(route)).catch((error: unknown) => {
      this.#options.reportError(`load ${appPageUrl(route)}`, error);
    });
  }
}
