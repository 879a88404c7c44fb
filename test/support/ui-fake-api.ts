/**
 * A RelayApi for component tests: every method is a vitest mock that
 * returns plausible data, and emit() sends a relay event to the subscribers.
 */
import { vi } from 'vitest';
import type { Mock } from 'vitest';
import type { ApiMethodName, RelayApi, RelayEventListener } from '../../core/api/definition.ts';
import type {
  QueueItem,
  RelayEventView,
  RelayStatus,
  SettingsDescription,
  SettingsView,
  SmartHostStatus,
} from '../../core/api/model.ts';
import type { SignInStatus } from '../../core/api/sign-in-status.ts';
import { PRESETS } from '../../core/presets.ts';

export const NOW = Date.UTC(2026, 11, 4, 9, 30);

export function smartHostStatus(changes: Partial<SmartHostStatus> = {}): SmartHostStatus {
  return {
    name: 'smtp.office365.com:587',
    state: 'active',
    since: NOW - 60_000,
    resumesAt: null,
    lastReply: '250 2.0.0 OK',
    maxConnections: 3,
    connectionLimit: 3,
    openConnections: 1,
    sentLastMinute: 2,
    sentLastHour: 40,
    sentLastDay: 312,
    recipientsLastDay: 420,
    maxMessagesPerDay: 10_000,
    maxRecipientsPerDay: 10_000,
    ...changes,
  };
}

export function relayStatus(changes: Partial<RelayStatus> = {}): RelayStatus {
  return {
    version: '0.1.0',
    startedAt: NOW - 3_600_000,
    listen: '0.0.0.0:2525',
    queue: { total: 3, active: 1, deferred: 1, held: 1, sending: 0 },
    oldestQueuedAt: NOW - 120_000,
    openConnections: 1,
    smartHosts: [smartHostStatus()],
    alerts: [],
    ...changes,
  };
}

export function settingsView(changes: Partial<SettingsView> = {}): SettingsView {
  return {
    listen: { host: '0.0.0.0', port: 2525 },
    allow: ['192.168.1.0/24'],
    defaultAllow: true,
    maxMessageSizeMb: 25,
    tlsCert: null,
    tlsKey: null,
    tlsMinVersion: 'TLSv1.2',
    allowPlaintextAuth: false,
    deviceUsers: [],
    clientTimeoutSeconds: 300,
    maxConnectionsPerClient: 20,
    authFailureLimit: 5,
    authLockoutMinutes: 15,
    hostname: 'relay.office.example',
    smarthost: null,
    security: 'starttls',
    user: null,
    tlsVerify: true,
    smarthostCa: null,
    maxConnections: 3,
    maxMessagesPerConnection: 20,
    idleTimeoutSeconds: 5,
    retryInitialSeconds: 60,
    retryMaxSeconds: 3600,
    queueLifetimeHours: 48,
    preset: null,
    maxRecipientsPerMessage: 100,
    minGapMs: 0,
    maxMessagesPerMinute: null,
    maxMessagesPerHour: null,
    maxMessagesPerDay: 2000,
    maxRecipientsPerMinute: null,
    maxRecipientsPerHour: null,
    maxRecipientsPerDay: null,
    blacklistCooldownMinutes: 60,
    quotaPauseMinutes: 60,
    rewriteSender: null,
    rewriteFromHeader: false,
    queueAgeAlertMinutes: 60,
    replyTimeoutSeconds: 600,
    authMethod: 'password',
    oauthProvider: 'microsoft',
    oauthClientId: null,
    oauthTenant: null,
    oauthTokenUrl: null,
    oauthScope: null,
    oauthDeviceAuthorizationUrl: null,
    oauthAuthorizationUrl: null,
    passwordSet: false,
    allowedNetworks: ['127.0.0.0/8', '192.168.1.0/24'],
    ...changes,
  };
}

export function signInStatus(changes: Partial<SignInStatus> = {}): SignInStatus {
  return {
    available: true,
    authMethod: 'xoauth2',
    provider: 'microsoft',
    account: 'office@example.com',
    signedIn: false,
    token: null,
    pending: null,
    lastOutcome: null,
    flows: { browser: { available: true, reason: null }, device: { available: true, reason: null } },
    settingsProblem: null,
    storageProblem: null,
    opensBrowser: false,
    ...changes,
  };
}

export const DESCRIPTION: SettingsDescription = {
  fields: [
    { key: 'maxConnections', flag: 'max-connections', argument: 'N', kind: { type: 'integer', min: 1, max: 20 }, description: 'most connections open to the smart host at once' },
    { key: 'maxMessagesPerConnection', flag: 'max-messages-per-connection', argument: 'N', kind: { type: 'integer', min: 1, max: 10_000 }, description: 'messages sent on one connection before QUIT' },
    { key: 'maxMessagesPerDay', flag: 'max-messages-per-day', argument: 'N', kind: { type: 'optional-integer', min: 1, max: 10_000_000 }, description: 'messages per rolling 24 hours (none: no budget)' },
  ],
  presets: PRESETS,
  restartKeys: ['listen', 'allow'],
};

export function queueItem(index: number, changes: Partial<QueueItem> = {}): QueueItem {
  return {
    id: `0MX98N${String(index).padStart(13, '0')}`,
    from: `scanner${index}@office.example`,
    recipients: [{ address: `person${index}@example.com`, status: 'pending', reply: null }],
    subject: `Scan ${index}`,
    size: 2048 + index,
    receivedAt: NOW - 90_000,
    attempts: 2,
    lastReply: '451 4.7.500 Server busy, try again later',
    nextAttemptAt: NOW + 60_000,
    state: 'deferred',
    dsn: false,
    ...changes,
  };
}

export type FakeRelayApi = {
  readonly [Name in ApiMethodName]: Mock<RelayApi[Name]>;
} & {
  subscribe: RelayApi['subscribe'];
  emit(event: RelayEventView): void;
};

export function createFakeApi(): FakeRelayApi {
  const listeners = new Set<RelayEventListener>();
  return {
    getStatus: vi.fn<RelayApi['getStatus']>(async () => relayStatus()),
    describeSettings: vi.fn<RelayApi['describeSettings']>(async () => DESCRIPTION),
    getSettings: vi.fn<RelayApi['getSettings']>(async () => settingsView()),
    updateSettings: vi.fn<RelayApi['updateSettings']>(async () => settingsView()),
    testConnection: vi.fn<RelayApi['testConnection']>(),
    sendTestMessage: vi.fn<RelayApi['sendTestMessage']>(),
    listQueue: vi.fn<RelayApi['listQueue']>(async (query) => ({
      total: 120,
      offset: query.offset ?? 0,
      items: [queueItem((query.offset ?? 0) + 1), queueItem((query.offset ?? 0) + 2, { state: 'held', nextAttemptAt: null })],
    })),
    retryMessage: vi.fn<RelayApi['retryMessage']>(async () => null),
    holdMessage: vi.fn<RelayApi['holdMessage']>(async () => null),
    releaseMessage: vi.fn<RelayApi['releaseMessage']>(async () => null),
    deleteMessage: vi.fn<RelayApi['deleteMessage']>(async () => null),
    exportMessage: vi.fn<RelayApi['exportMessage']>(),
    pauseSending: vi.fn<RelayApi['pauseSending']>(async () => null),
    resumeSending: vi.fn<RelayApi['resumeSending']>(async () => ({ resumed: true })),
    readLog: vi.fn<RelayApi['readLog']>(async () => ({ entries: [], nextBefore: null })),
    getThroughput: vi.fn<RelayApi['getThroughput']>(async (input) => ({
      range: input.range ?? 'hour',
      bucketMs: 60_000,
      points: [{ at: NOW, sent: 3, deferred: 1, bounced: 0, queued: 4 }],
    })),
    getSignInStatus: vi.fn<RelayApi['getSignInStatus']>(async () => signInStatus({ authMethod: 'password' })),
    startSignIn: vi.fn<RelayApi['startSignIn']>(),
    cancelSignIn: vi.fn<RelayApi['cancelSignIn']>(async () => ({ cancelled: true })),
    subscribe: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    emit: (event) => {
      for (const listener of listeners) listener(event);
    },
  };
}
