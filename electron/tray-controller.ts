/**
 * The tray icon: its image follows the relay's state (tray-state.ts), its
 * tooltip shows the queue counts, and its menu offers the actions of
 * tray-menu.ts. Relay events trigger a refresh, coalesced so that a burst
 * of SENT events redraws the icon once. A slow poll catches changes that
 * no event announces, such as a quota window that ends on its own.
 */
import path from 'node:path';
import type { RelayStatus } from '../core/api/model.ts';
import type { RelayEvent } from '../core/events.ts';
import type { MenuModule, TrayClass, TrayPort } from './modules.ts';
import { buildTrayMenu } from './tray-menu.ts';
import type { TrayActions, TrayMenuView } from './tray-menu.ts';
import { isPausedByUser, trayStateOf, trayTooltipOf } from './tray-state.ts';
import type { TrayState } from './tray-state.ts';

// Delay between a relay event and the redraw it causes; events within it
// share one redraw.
export const TRAY_REFRESH_DELAY_MS = 250;
// Poll for state changes without an event (a pause that ends by itself).
export const TRAY_POLL_INTERVAL_MS = 5_000;

export interface TrayControllerOptions {
  readonly Tray: TrayClass;
  readonly Menu: MenuModule;
  /** Folder with tray-<state>.png (and @2x) from scripts/make-icons.ts. */
  readonly iconDir: string;
  readonly appName: string;
  readonly platform: NodeJS.Platform;
  readonly status: () => RelayStatus;
  readonly subscribe: (listener: (event: RelayEvent) => void) => () => void;
  readonly startAtLogin: () => { readonly enabled: boolean; readonly available: boolean };
  readonly actions: TrayActions;
}

export function trayIconPath(iconDir: string, state: TrayState): string {
  return path.join(iconDir, `tray-${state}.png`);
}

export class TrayController {
  readonly #options: TrayControllerOptions;
  #tray: TrayPort | null = null;
  #state: TrayState | null = null;
  #tooltip = '';
  #menuKey = '';
  #refreshTimer: NodeJS.Timeout | null = null;
  #pollTimer: NodeJS.Timeout | null = null;
  #unsubscribe: (() => void) | null = null;

  constructor(options: TrayControllerOptions) {
    this.#options = options;
  }

  get state(): TrayState | null {
    return this.#state;
  }

  start(): void {
    const options = this.#options;
    const state = trayStateOf(options.status());
    const tray = new options.Tray(trayIconPath(options.iconDir, state));
    this.#tray = tray;
    this.#state = state;

    // On macOS a click opens the menu; elsewhere it opens the window, and
    // the menu is on the right button.
    if (options.platform !== 'darwin') tray.on('click', () => options.actions.open());

    this.#unsubscribe = options.subscribe(() => this.#scheduleRefresh());
    this.#pollTimer = setInterval(() => this.refresh(), TRAY_POLL_INTERVAL_MS);
    this.#pollTimer.unref();
    this.refresh();
  }

  /** Redraws what changed: image, tooltip and menu. */
  refresh(): void {
    const tray = this.#tray;
    if (!tray || tray.isDestroyed()) return;
    const options = this.#options;
    const status = options.status();

    const state = trayStateOf(status);
    if (state !== this.#state) {
      tray.setImage(trayIconPath(options.iconDir, state));
      this.#state = state;
    }

    const tooltip = trayTooltipOf(status, options.appName);
    if (tooltip !== this.#tooltip) {
      tray.setToolTip(tooltip);
      this.#tooltip = tooltip;
    }

    const loginItem = options.startAtLogin();
    const view: TrayMenuView = {
      pausedByUser: isPausedByUser(status),
      startAtLogin: loginItem.enabled,
      startAtLoginAvailable: loginItem.available,
    };
    // Rebuilding a menu that is open closes it on some platforms, so it is
    // rebuilt only when its content changes.
    const menuKey = JSON.stringify(view);
    if (menuKey !== this.#menuKey) {
      tray.setContextMenu(options.Menu.buildFromTemplate(buildTrayMenu(view, options.actions)));
      this.#menuKey = menuKey;
    }
  }

  stop(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = null;
    if (this.#refreshTimer) clearTimeout(this.#refreshTimer);
    if (this.#pollTimer) clearInterval(this.#pollTimer);
    this.#refreshTimer = null;
    this.#pollTimer = null;
    if (this.#tray && !this.#tray.isDestroyed()) this.#tray.destroy();
    this.#tray = null;
  }

  #scheduleRefresh(): void {
    if (this.#refreshTimer) return;
    this.#refreshTimer = setTimeout(() => {
      this.#refreshTimer = null;
      this.refresh();
    }, TRAY_REFRESH_DELAY_MS);
  }
}
