// Plain-language wording and number formats shared by the screens.
import type { AlertKind, SmartHostState, SmartHostStatus } from '../../core/api/model.ts';

export type Tone = 'good' | 'warn' | 'bad' | 'neutral';

interface StateWords {
  readonly label: string;
  readonly tone: Tone;
}

const STATE_WORDS: Readonly<Record<SmartHostState, StateWords>> = {
  unconfigured: { label: 'Not set up', tone: 'neutral' },
  active: { label: 'Sending normally', tone: 'good' },
  throttled: { label: 'Slowed down', tone: 'warn' },
  retrying: { label: 'Cannot reach the smart host', tone: 'warn' },
  'paused-quota': { label: 'Paused: sending limit reached', tone: 'warn' },
  'paused-blacklist': { label: 'Paused: on a blocklist', tone: 'bad' },
  'stopped-credentials': { label: 'Stopped: sign-in rejected', tone: 'bad' },
  'paused-needs-person': { label: 'Paused: needs a fix at the provider', tone: 'bad' },
  'paused-user': { label: 'Paused by a user', tone: 'neutral' },
};

export function stateWords(state: SmartHostState): StateWords {
  return STATE_WORDS[state];
}

/** Describes in one sentence what the relay does in this state. */
export function stateSentence(host: SmartHostStatus, now: number): string {
  switch (host.state) {
    case 'unconfigured':
      return 'Mail from your devices is accepted and kept until a smart host is set up.';
    case 'active':
      return `Up to ${host.connectionLimit} connections at once; ${host.openConnections} open now.`;
    case 'throttled':
      return `The smart host asked the relay to slow down, so it uses ${host.connectionLimit} of ${host.maxConnections} connections for now.`;
    case 'retrying':
      return 'Connections to the smart host fail; the relay keeps the mail and tries again with growing delays.';
    case 'paused-quota':
      return host.resumesAt
        ? `The account's sending limit is used up; sending resumes ${formatRelative(host.resumesAt, now)}.`
        : "The account's sending limit is used up; press Resume once it resets.";
    case 'paused-blacklist':
      return 'The smart host reported a blocklist or reputation problem. The mail is kept; see Alerts for what to do.';
    case 'stopped-credentials':
      return 'The smart host rejected the user name or password. Enter them again in Setup.';
    case 'paused-needs-person':
      return 'The provider needs a setting fixed first. See Alerts for what to do, then press Resume.';
    case 'paused-user':
      return 'Nothing is sent until someone presses Resume. Devices can still send mail to the relay.';
  }
}

const ALERT_TITLES: Readonly<Record<AlertKind, string>> = {
  blacklisted: 'Blocklisted',
  credentials: 'Sign-in rejected',
  quota: 'Sending limit reached',
  'needs-person': 'Needs a fix at the provider',
  'queue-old': 'Mail is waiting too long',
};

export function alertTitle(kind: AlertKind): string {
  return ALERT_TITLES[kind];
}

const numberFormat = new Intl.NumberFormat('en', { maximumFractionDigits: 4 });

export function formatCount(value: number): string {
  return numberFormat.format(value);
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

/** Formats a duration in its largest whole unit, such as "3 min" or "2 h 5 min". */
export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return minutes % 60 === 0 ? `${hours} h` : `${hours} h ${minutes % 60} min`;
  return `${Math.floor(hours / 24)} days`;
}

export function formatRelative(at: number, now: number): string {
  const delta = at - now;
  if (Math.abs(delta) < 1000) return 'now';
  return delta > 0 ? `in ${formatDuration(delta)}` : `${formatDuration(-delta)} ago`;
}

export function formatTime(at: number): string {
  return new Date(at).toLocaleString('en-GB', {
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
}

export function formatClock(at: number): string {
  return new Date(at).toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' });
}
