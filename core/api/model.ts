/**
 * Data shapes the relay shows to its user interfaces: the web console,
 * the desktop window, the tray and the notifications. Pure types with no
 * Node imports, so the renderer can import them too.
 */

/** What a smart host is doing, as the tray and the dashboard show it. */
export type SmartHostState =
  /** No smart host configured yet; mail is accepted and held. */
  | 'unconfigured'
  /** Sending, or ready to send. */
  | 'active'
  /** The smart host asked the relay to slow down; concurrency is reduced. */
  | 'throttled'
  /** Connections fail; messages are retried with backoff. */
  | 'retrying'
  /** A sending quota is used up; sending resumes when the window resets. */
  | 'paused-quota'
  /** The smart host reported a blocklist or reputation problem. */
  | 'paused-blacklist'
  /** The smart host rejected the credentials; sending waits for new ones. */
  | 'stopped-credentials'
  /** The provider needs a person to fix something first. */
  | 'paused-needs-person'
  /** A user pressed Pause. */
  | 'paused-user';

export type AlertKind = 'blacklisted' | 'credentials' | 'quota' | 'needs-person' | 'queue-old';

export interface Alert {
  readonly id: string;
  readonly kind: AlertKind;
  /** host:port of the smart host, or null for a queue-wide alert. */
  readonly smartHost: string | null;
  /** The smart host's reply that raised the alert, quoted as received. */
  readonly reply: string | null;
  /** What happened, in one plain sentence. */
  readonly explanation: string;
  /** What to do, in plain sentences. */
  readonly advice: string;
  readonly raisedAt: number;
  /** False once the episode ended (resumed, or fixed). */
  readonly active: boolean;
}

export interface SmartHostStatus {
  /** host:port */
  readonly name: string;
  readonly state: SmartHostState;
  /** When the current state began, ms since the epoch. */
  readonly since: number;
  /** When a pause ends by itself, or null. */
  readonly resumesAt: number | null;
  readonly lastReply: string | null;
  /** The user's connection limit. */
  readonly maxConnections: number;
  /** The limit in force now, lowered while throttled. */
  readonly connectionLimit: number;
  readonly openConnections: number;
  readonly sentLastMinute: number;
  readonly sentLastHour: number;
  readonly sentLastDay: number;
  readonly recipientsLastDay: number;
  readonly maxMessagesPerDay: number | null;
  readonly maxRecipientsPerDay: number | null;
}

export interface QueueCounts {
  readonly total: number;
  /** Never tried yet, or due now. */
  readonly active: number;
  /** Tried at least once and waiting for the next attempt. */
  readonly deferred: number;
  readonly held: number;
  /** Being sent right now. */
  readonly sending: number;
}

export interface RelayStatus {
  readonly version: string;
  readonly startedAt: number;
  readonly listen: string | null;
  readonly queue: QueueCounts;
  readonly oldestQueuedAt: number | null;
  readonly openConnections: number;
  readonly smartHosts: readonly SmartHostStatus[];
  readonly alerts: readonly Alert[];
}

export type QueueItemState = 'active' | 'deferred' | 'held' | 'sending';

export interface QueueItem {
  readonly id: string;
  readonly from: string;
  readonly recipients: readonly { address: string; status: 'pending' | 'sent' | 'bounced'; reply: string | null }[];
  readonly subject: string;
  readonly size: number;
  readonly receivedAt: number;
  readonly attempts: number;
  readonly lastReply: string | null;
  readonly nextAttemptAt: number | null;
  readonly state: QueueItemState;
  readonly dsn: boolean;
}

export interface QueueQuery {
  readonly offset: number;
  readonly limit: number;
  readonly state?: QueueItemState | undefined;
  /** Case-insensitive text matched against id, sender, recipients and subject. */
  readonly search?: string | undefined;
}

export interface QueuePage {
  readonly total: number;
  readonly offset: number;
  readonly items: readonly QueueItem[];
}

/** One point of the throughput chart. */
export interface ThroughputPoint {
  /** Start of the bucket, ms since the epoch. */
  readonly at: number;
  readonly sent: number;
  readonly deferred: number;
  readonly bounced: number;
  readonly queued: number;
}
