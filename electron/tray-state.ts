/**
 * The tray icon's content, derived from the relay's status: one of four
 * states that a person can tell apart at a glance, and the tooltip with
 * the queue counts. Pure functions, so they run in plain Node tests.
 */
import type { RelayStatus, SmartHostState } from '../core/api/model.ts';

/** The tray icon's states, in the order of urgency. */
export const TRAY_STATES = ['idle', 'sending', 'throttled', 'attention'] as const;

export type TrayState = (typeof TRAY_STATES)[number];

// Smart-host states that only a person can end, or that a person should
// know about before the pause ends by itself.
const ATTENTION_STATES: ReadonlySet<SmartHostState> = new Set<SmartHostState>([
  'unconfigured',
  'paused-quota',
  'paused-blacklist',
  'stopped-credentials',
  'paused-needs-person',
  'paused-user',
]);

const SLOWED_STATES: ReadonlySet<SmartHostState> = new Set<SmartHostState>(['throttled', 'retrying']);

const STATE_LABELS: Readonly<Record<SmartHostState, string>> = {
  unconfigured: 'No smart host set up',
  active: 'Ready',
  throttled: 'Slowed down by the smart host',
  retrying: 'Retrying',
  'paused-quota': 'Paused: sending quota reached',
  'paused-blacklist': 'Paused: smart host is refusing mail',
  'stopped-credentials': 'Stopped: password rejected',
  'paused-needs-person': 'Paused: the provider needs you',
  'paused-user': 'Paused',
};

// Windows cuts tray tooltips longer than this (NOTIFYICONDATA.szTip has
// room for 128 characters with the terminating null).
export const MAX_TOOLTIP_LENGTH = 127;

/**
 * Maps the relay's status to the tray icon's state. An active alert (a
 * blocklist reply, rejected credentials, a used-up quota, an old queue)
 * wins over everything else, because it needs a person.
 */
export function trayStateOf(status: RelayStatus): TrayState {
  const states = status.smartHosts.map((host) => host.state);
  const hasActiveAlert = status.alerts.some((alert) => alert.active);
  if (hasActiveAlert || states.some((state) => ATTENTION_STATES.has(state))) return 'attention';

  if (states.some((state) => SLOWED_STATES.has(state))) return 'throttled';

  const sending = status.queue.sending > 0 || status.openConnections > 0;
  return sending ? 'sending' : 'idle';
}

/** Builds the tooltip: the smart host's state and the queue counts. */
export function trayTooltipOf(status: RelayStatus, appName: string): string {
  const host = status.smartHosts[0];
  const label = host ? STATE_LABELS[host.state] : 'Starting';
  const activeState = host?.state === 'active';
  const headline = activeState && status.queue.sending > 0 ? 'Sending' : label;
  const { total, sending, deferred, held } = status.queue;
  const counts = total === 0 ? 'Queue empty' : `${total} queued: ${sending} sending, ${deferred} waiting to retry, ${held} held`;

  const tooltip = `${appName}: ${headline}\n${counts}`;
  return tooltip.length > MAX_TOOLTIP_LENGTH ? `${tooltip.slice(0, MAX_TOOLTIP_LENGTH - 1)}…` : tooltip;
}

/** True while the user's own Pause is in force, so the menu offers Resume. */
export function isPausedByUser(status: RelayStatus): boolean {
  return status.smartHosts.some((host) => host.state === 'paused-user');
}
