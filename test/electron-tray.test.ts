import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Alert, RelayStatus, SmartHostState, SmartHostStatus } from '../core/api/model.ts';
import type { RelayEvent } from '../core/events.ts';
import { TRAY_POLL_INTERVAL_MS, TRAY_REFRESH_DELAY_MS, TrayController, trayIconPath } from '../electron/tray-controller.ts';
import { TRAY_MENU_IDS, buildTrayMenu } from '../electron/tray-menu.ts';
import type { TrayActions } from '../electron/tray-menu.ts';
import { MAX_TOOLTIP_LENGTH, isPausedByUser, trayStateOf, trayTooltipOf } from '../electron/tray-state.ts';
import type { TrayState } from '../electron/tray-state.ts';
import { createFakeElectron } from './support/electron-fakes.ts';
import type { FakeTray } from './support/electron-fakes.ts';

function smartHost(state: SmartHostState, openConnections = 0): SmartHostStatus {
  return {
    name: 'smtp.example.com:587',
    state,
    since: 0,
    resumesAt: null,
    lastReply: null,
    maxConnections: 3,
    connectionLimit: 3,
    openConnections,
    sentLastMinute: 0,
    sentLastHour: 0,
    sentLastDay: 0,
    recipientsLastDay: 0,
    maxMessagesPerDay: null,
    maxRecipientsPerDay: null,
  };
}

function alert(kind: Alert['kind'], active: boolean): Alert {
  return {
    id: `${kind}-1`,
    kind,
    smartHost: 'smtp.example.com:587',
    reply: null,
    explanation: 'Something happened.',
    advice: 'Do something.',
    raisedAt: 0,
    active,
  };
}

function status(overrides: {
  state?: SmartHostState;
  sending?: number;
  openConnections?: number;
  total?: number;
  deferred?: number;
  held?: number;
  alerts?: Alert[];
} = {}): RelayStatus {
  const sending = overrides.sending ?? 0;
  const openConnections = overrides.openConnections ?? 0;
  return {
    version: '0.1.0',
    startedAt: 0,
    listen: '127.0.0.1:2525',
    queue: {
      total: overrides.total ?? sending,
      active: 0,
      deferred: overrides.deferred ?? 0,
      held: overrides.held ?? 0,
      sending,
    },
    oldestQueuedAt: null,
    openConnections,
    smartHosts: [smartHost(overrides.state ?? 'active', openConnections)],
    alerts: overrides.alerts ?? [],
  };
}

describe('trayStateOf', () => {
  const cases: [string, RelayStatus, TrayState][] = [
    ['active and empty is idle', status(), 'idle'],
    ['a message in flight is sending', status({ sending: 1 }), 'sending'],
    ['an open connection is sending', status({ openConnections: 1 }), 'sending'],
    ['throttled', status({ state: 'throttled', sending: 2 }), 'throttled'],
    ['retrying', status({ state: 'retrying' }), 'throttled'],
    ['quota pause', status({ state: 'paused-quota' }), 'attention'],
    ['blocklist pause', status({ state: 'paused-blacklist' }), 'attention'],
    ['rejected credentials', status({ state: 'stopped-credentials' }), 'attention'],
    ['provider needs a person', status({ state: 'paused-needs-person' }), 'attention'],
    ['paused by the user', status({ state: 'paused-user' }), 'attention'],
    ['no smart host yet', status({ state: 'unconfigured' }), 'attention'],
    ['an active alert wins over sending', status({ sending: 1, alerts: [alert('queue-old', true)] }), 'attention'],
    ['a cleared alert is history', status({ alerts: [alert('quota', false)] }), 'idle'],
  ];

  for (const [name, input, expected] of cases) {
    it(name, () => {
      expect(trayStateOf(input)).toBe(expected);
    });
  }
});

describe('trayTooltipOf', () => {
  it('shows the state and the queue counts', () => {
    const tooltip = trayTooltipOf(status({ total: 7, sending: 2, deferred: 4, held: 1 }), 'Smarthost Relay');
    expect(tooltip).toBe('Smarthost Relay: Sending\n7 queued: 2 sending, 4 waiting to retry, 1 held');
  });

  it('says so when the queue is empty', () => {
    expect(trayTooltipOf(status(), 'Smarthost Relay')).toBe('Smarthost Relay: Ready\nQueue empty');
  });

  it('names the pause reason', () => {
    expect(trayTooltipOf(status({ state: 'paused-blacklist', total: 3, deferred: 3 }), 'Smarthost Relay')).toContain(
      'Paused: smart host is refusing mail',
    );
  });

  it('stays within the Windows limit', () => {
    const tooltip = trayTooltipOf(status({ total: 123_456_789, sending: 123_456, deferred: 123_456_789, held: 123_456_789 }), 'A'.repeat(60));
    expect(tooltip.length).toBeLessThanOrEqual(MAX_TOOLTIP_LENGTH);
  });
});

function recordingActions(): TrayActions & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    open: () => calls.push('open'),
    pause: () => calls.push('pause'),
    resume: () => calls.push('resume'),
    sendTestMessage: () => calls.push('sendTestMessage'),
    openQueue: () => calls.push('openQueue'),
    openLogFolder: () => calls.push('openLogFolder'),
    setStartAtLogin: (enabled) => calls.push(`setStartAtLogin:${enabled}`),
    quit: () => calls.push('quit'),
  };
}

describe('buildTrayMenu', () => {
  it('lists the actions in order', () => {
    const menu = buildTrayMenu({ pausedByUser: false, startAtLogin: false, startAtLoginAvailable: true }, recordingActions());
    const labels = menu.filter((item) => item.type !== 'separator').map((item) => item.label);
    expect(labels).toEqual([
      'Open Smarthost Relay',
      'Pause sending',
      'Send test message',
      'Open queue',
      'Open log folder',
      'Start at login',
      'Quit',
    ]);
  });

  it('offers Resume while paused by the user', () => {
    const actions = recordingActions();
    const menu = buildTrayMenu({ pausedByUser: true, startAtLogin: false, startAtLoginAvailable: true }, actions);
    const item = menu.find((entry) => entry.id === TRAY_MENU_IDS.pauseResume);
    expect(item?.label).toBe('Resume sending');
    item?.click?.();
    expect(actions.calls).toEqual(['resume']);
  });

  it('toggles start at login', () => {
    const actions = recordingActions();
    const menu = buildTrayMenu({ pausedByUser: false, startAtLogin: true, startAtLoginAvailable: true }, actions);
    const item = menu.find((entry) => entry.id === TRAY_MENU_IDS.startAtLogin);
    expect(item?.type).toBe('checkbox');
    expect(item?.checked).toBe(true);
    item?.click?.();
    expect(actions.calls).toEqual(['setStartAtLogin:false']);
  });

  it('disables start at login when unavailable', () => {
    const menu = buildTrayMenu({ pausedByUser: false, startAtLogin: false, startAtLoginAvailable: false }, recordingActions());
    const item = menu.find((entry) => entry.id === TRAY_MENU_IDS.startAtLogin);
    expect(item?.enabled).toBe(false);
  });

  it('reports paused-user only', () => {
    expect(isPausedByUser(status({ state: 'paused-user' }))).toBe(true);
    expect(isPausedByUser(status({ state: 'paused-quota' }))).toBe(false);
  });
});

describe('TrayController', () => {
  const iconDir = path.join('/icons');
  let current: RelayStatus;
  let listeners: ((event: RelayEvent) => void)[];
  let statusCalls: number;

  beforeEach(() => {
    vi.useFakeTimers();
    current = status();
    listeners = [];
    statusCalls = 0;
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  function startTray(platform: NodeJS.Platform = 'linux') {
    const fake = createFakeElectron({ userData: '/tmp/unused' });
    const actions = recordingActions();
    const controller = new TrayController({
      Tray: fake.modules.Tray,
      Menu: fake.modules.Menu,
      iconDir,
      appName: 'Smarthost Relay',
      platform,
      status: () => {
        statusCalls++;
        return current;
      },
      subscribe: (listener) => {
        listeners.push(listener);
        return () => {
          listeners = listeners.filter((candidate) => candidate !== listener);
        };
      },
      startAtLogin: () => ({ enabled: false, available: true }),
      actions,
    });
    controller.start();
    const tray = fake.state.trays[0] as FakeTray;
    return { controller, tray, actions };
  }

  function emit(event: RelayEvent['event']): void {
    for (const listener of listeners) listener({ event, time: 0, fields: {} });
  }

  it('starts with the icon of the current state', () => {
    current = status({ state: 'paused-blacklist' });
    const { tray } = startTray();
    expect(tray.image).toBe(trayIconPath(iconDir, 'attention'));
    expect(tray.toolTip).toContain('refusing mail');
    expect(tray.menu).not.toBeNull();
  });

  it('follows the state after events', () => {
    const { tray } = startTray();
    current = status({ sending: 1 });
    emit('QUEUED');
    vi.advanceTimersByTime(TRAY_REFRESH_DELAY_MS);
    expect(tray.image).toBe(trayIconPath(iconDir, 'sending'));

    current = status({ state: 'throttled' });
    emit('THROTTLED');
    vi.advanceTimersByTime(TRAY_REFRESH_DELAY_MS);
    expect(tray.image).toBe(trayIconPath(iconDir, 'throttled'));

    current = status();
    emit('SENT');
    vi.advanceTimersByTime(TRAY_REFRESH_DELAY_MS);
    expect(tray.image).toBe(trayIconPath(iconDir, 'idle'));
  });

  it('coalesces a burst of events', () => {
    startTray();
    const before = statusCalls;
    for (let i = 0; i < 500; i++) emit('SENT');
    vi.advanceTimersByTime(TRAY_REFRESH_DELAY_MS);
    expect(statusCalls - before).toBe(1);
  });

  it('sets the image only on a change', () => {
    const { tray } = startTray();
    for (let i = 0; i < 5; i++) {
      emit('SENT');
      vi.advanceTimersByTime(TRAY_REFRESH_DELAY_MS);
    }
    expect(tray.images).toEqual([trayIconPath(iconDir, 'idle')]);
  });

  it('polls for changes without events', () => {
    const { tray } = startTray();
    current = status({ state: 'paused-quota' });
    vi.advanceTimersByTime(TRAY_POLL_INTERVAL_MS);
    expect(tray.image).toBe(trayIconPath(iconDir, 'attention'));
  });

  it('rebuilds the menu when paused', () => {
    const { tray, actions } = startTray();
    expect(tray.item(TRAY_MENU_IDS.pauseResume).label).toBe('Pause sending');
    tray.clickItem(TRAY_MENU_IDS.pauseResume);
    expect(actions.calls).toEqual(['pause']);

    current = status({ state: 'paused-user' });
    emit('PAUSED');
    vi.advanceTimersByTime(TRAY_REFRESH_DELAY_MS);
    expect(tray.item(TRAY_MENU_IDS.pauseResume).label).toBe('Resume sending');
  });

  it('opens the window on click off macOS', () => {
    const { tray, actions } = startTray('win32');
    tray.emit('click');
    expect(actions.calls).toEqual(['open']);
  });

  it('leaves click to the menu on macOS', () => {
    const { tray, actions } = startTray('darwin');
    tray.emit('click');
    expect(actions.calls).toEqual([]);
  });

  it('stop destroys the tray and unsubscribes', () => {
    const { controller, tray } = startTray();
    controller.stop();
    expect(tray.destroyed).toBe(true);
    expect(listeners).toHaveLength(0);
  });
});
