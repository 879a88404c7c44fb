/**
 * The tray icon's context menu, built from a small view of the app's
 * state. Pure, so the tests read the menu as data and click its items.
 */
import type { MenuItemTemplate } from './modules.ts';

export interface TrayMenuView {
  /** The user pressed Pause; the item offers Resume. */
  readonly pausedByUser: boolean;
  readonly startAtLogin: boolean;
  /** False where the app cannot register itself (an unpackaged dev run). */
  readonly startAtLoginAvailable: boolean;
}

export interface TrayActions {
  open(): void;
  pause(): void;
  resume(): void;
  sendTestMessage(): void;
  openQueue(): void;
  openLogFolder(): void;
  setStartAtLogin(enabled: boolean): void;
  quit(): void;
}

/** Stable ids of the menu items, for tests and for finding an item. */
export const TRAY_MENU_IDS = {
  open: 'open',
  pauseResume: 'pause-resume',
  sendTest: 'send-test',
  openQueue: 'open-queue',
  openLogFolder: 'open-log-folder',
  startAtLogin: 'start-at-login',
  quit: 'quit',
} as const;

export function buildTrayMenu(view: TrayMenuView, actions: TrayActions): MenuItemTemplate[] {
  const startAtLogin: MenuItemTemplate = {
    id: TRAY_MENU_IDS.startAtLogin,
    label: 'Start at login',
    type: 'checkbox',
    checked: view.startAtLogin,
    enabled: view.startAtLoginAvailable,
    // Electron flips a checkbox before it calls click, so the new state is
    // the opposite of the state this menu was built with.
    click: () => actions.setStartAtLogin(!view.startAtLogin),
    ...(view.startAtLoginAvailable ? {} : { toolTip: 'Available in the installed app' }),
  };

  return [
    { id: TRAY_MENU_IDS.open, label: 'Open Smarthost Relay', click: () => actions.open() },
    { type: 'separator' },
    view.pausedByUser
      ? { id: TRAY_MENU_IDS.pauseResume, label: 'Resume sending', click: () => actions.resume() }
      : { id: TRAY_MENU_IDS.pauseResume, label: 'Pause sending', click: () => actions.pause() },
    { id: TRAY_MENU_IDS.sendTest, label: 'Send test message', click: () => actions.sendTestMessage() },
    { id: TRAY_MENU_IDS.openQueue, label: 'Open queue', click: () => actions.openQueue() },
    { id: TRAY_MENU_IDS.openLogFolder, label: 'Open log folder', click: () => actions.openLogFolder() },
    { type: 'separator' },
    startAtLogin,
    { type: 'separator' },
    { id: TRAY_MENU_IDS.quit, label: 'Quit', click: () => actions.quit() },
  ];
}
