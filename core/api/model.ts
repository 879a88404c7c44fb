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

// ---------------------------------------------------------------------------
// Shapes added for the web console and the desktop window's API
// ---------------------------------------------------------------------------

export type SecurityMode = 'starttls' | 'tls' | 'none';
export type TlsVersionName = 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';

export interface HostPortValue {
  readonly host: string;
  readonly port: number;
}

/**
 * The relay's settings as plain data: the one definition of `Settings`,
 * which core/settings.ts re-exports with their flags, defaults and ranges.
 */
export interface SettingsValues {
  readonly listen: HostPortValue;
  readonly allow: readonly string[];
  readonly defaultAllow: boolean;
  readonly maxMessageSizeMb: number;
  readonly tlsCert: string | null;
  readonly tlsKey: string | null;
  readonly tlsMinVersion: TlsVersionName;
  readonly allowPlaintextAuth: boolean;
  readonly deviceUsers: readonly { readonly username: string; readonly passwordHash: string }[];
  readonly clientTimeoutSeconds: number;
  readonly maxConnectionsPerClient: number;
  readonly authFailureLimit: number;
  readonly authLockoutMinutes: number;
  readonly hostname: string;
  readonly smarthost: HostPortValue | null;
  readonly security: SecurityMode;
  readonly user: string | null;
  readonly tlsVerify: boolean;
  readonly smarthostCa: string | null;
  readonly maxConnections: number;
  readonly maxMessagesPerConnection: number;
  readonly idleTimeoutSeconds: number;
  readonly retryInitialSeconds: number;
  readonly retryMaxSeconds: number;
  readonly queueLifetimeHours: number;
  readonly preset: string | null;
  readonly maxRecipientsPerMessage: number;
  readonly minGapMs: number;
  readonly maxMessagesPerMinute: number | null;
  readonly maxMessagesPerHour: number | null;
  readonly maxMessagesPerDay: number | null;
  readonly maxRecipientsPerMinute: number | null;
  readonly maxRecipientsPerHour: number | null;
  readonly maxRecipientsPerDay: number | null;
  readonly blacklistCooldownMinutes: number;
  readonly quotaPauseMinutes: number;
  readonly rewriteSender: string | null;
  readonly rewriteFromHeader: boolean;
  readonly queueAgeAlertMinutes: number;
  readonly replyTimeoutSeconds: number;
  readonly authMethod: 'password' | 'xoauth2';
  readonly oauthProvider: 'microsoft' | 'google' | 'custom';
  readonly oauthClientId: string | null;
  readonly oauthTenant: string | null;
  readonly oauthTokenUrl: string | null;
  readonly oauthScope: string | null;
  readonly oauthDeviceAuthorizationUrl: string | null;
  readonly oauthAuthorizationUrl: string | null;
}

/**
 * Settings as a user interface sees them: device accounts without their
 * password hashes, and the smart-host password only as set or not set.
 */
export interface SettingsView extends Omit<SettingsValues, 'deviceUsers'> {
  readonly deviceUsers: readonly { readonly username: string }[];
  readonly passwordSet: boolean;
  /** Networks that may relay without AUTH: `allow` plus, with defaultAllow, loopback and this machine's subnets. */
  readonly allowedNetworks: readonly string[];
}

/** Value type and allowed range of one setting, from the settings table. */
export type SettingKind =
  | { readonly type: 'integer'; readonly min: number; readonly max: number }
  | { readonly type: 'optional-integer'; readonly min: number; readonly max: number }
  | { readonly type: 'number'; readonly min: number; readonly max: number }
  | { readonly type: 'enum'; readonly values: readonly string[] }
  | { readonly type: 'boolean' }
  | { readonly type: 'string'; readonly nullable: boolean }
  | { readonly type: 'hostport'; readonly nullable: boolean }
  | { readonly type: 'cidr-list' }
  | { readonly type: 'device-users' };

/** One row of the settings table, for labels, units and ranges in a form. */
export interface SettingField {
  readonly key: keyof SettingsValues;
  /** Command-line flag without dashes, or null for a settings-file-only key. */
  readonly flag: string | null;
  /** Unit or placeholder from `--help`, such as `N`, `SECONDS` or `MB`. */
  readonly argument: string | null;
  readonly kind: SettingKind;
  readonly description: string;
}

/** A smart-host preset, as core/presets.ts declares it. */
export interface PresetView {
  readonly name: string;
  readonly label: string;
  readonly host: string | null;
  readonly port: number;
  readonly security: SecurityMode;
  readonly limits: {
    readonly maxConnections: number;
    readonly maxMessagesPerConnection: number;
    readonly maxRecipientsPerMessage: number;
    readonly minGapMs: number;
    readonly maxMessagesPerMinute: number | null;
    readonly maxMessagesPerHour: number | null;
    readonly maxMessagesPerDay: number | null;
    readonly maxRecipientsPerDay: number | null;
  };
  readonly description: string;
}

export interface SettingsDescription {
  readonly fields: readonly SettingField[];
  readonly presets: readonly PresetView[];
  /** Keys that take effect only after the relay restarts (the listener's). */
  readonly restartKeys: readonly (keyof SettingsValues)[];
}

/** One line of the SMTP dialogue with the smart host. */
export interface TranscriptLine {
  /** `client` sent by the relay, `server` received, `info` a connection note. */
  readonly direction: 'client' | 'server' | 'info';
  readonly text: string;
  /** Milliseconds since the test started. */
  readonly elapsedMs: number;
}

/** Stage of the SMTP dialogue, as core/reply-classifier.ts names it. */
export type DialogueStage =
  'connect' | 'greeting' | 'ehlo' | 'starttls' | 'auth' | 'mail' | 'rcpt' | 'data' | 'network';

/** Outcome of "Test connection" or "Send test message". */
export interface SmartHostTestResult {
  readonly ok: boolean;
  /** host:port that was tested. */
  readonly smartHost: string;
  /** The stage that failed, or the last stage reached on success. */
  readonly stage: DialogueStage;
  /** The smart host's last reply (e.g. `250 2.0.0 OK`), or the network error. */
  readonly reply: string;
  /** Reply classification kind, or `network` for a failure without a reply. */
  readonly kind: string;
  /** Plain-language account of the outcome. */
  readonly explanation: string;
  /** Next step for the user, or '' when there is none. */
  readonly advice: string;
  readonly transcript: readonly TranscriptLine[];
  readonly durationMs: number;
}

/** One activity-log line. */
export interface LogEntry {
  /** Milliseconds since the epoch, or null when the line has no timestamp. */
  readonly time: number | null;
  /** Uppercase event word, or '' when the line has none. */
  readonly event: string;
  /** The whole line as written to activity.log. */
  readonly line: string;
}

export interface LogPage {
  /** Matching lines, newest first. */
  readonly entries: readonly LogEntry[];
  /** Pass as `before` to read older lines, or null when the file start was reached. */
  readonly nextBefore: number | null;
}

export type ThroughputRange = 'hour' | 'day';

export interface ThroughputSeries {
  readonly range: ThroughputRange;
  /** Width of each point's bucket. */
  readonly bucketMs: number;
  /** Oldest first, one point per bucket, ending with the current one. */
  readonly points: readonly ThroughputPoint[];
}

/** A queued message as an .eml file. */
export interface ExportedMessage {
  readonly fileName: string;
  readonly content: Uint8Array;
}

/** One relay event as the user interfaces receive it (see core/events.ts). */
export interface RelayEventView {
  readonly event: string;
  readonly time: number;
  readonly fields: Readonly<Record<string, string | number | boolean>>;
}
