/**
 * Relay settings: one table declares every setting with its command-line
 * flag, unit, default and allowed range. The `serve` command's options and
 * `--help`, the settings file's validation and the error messages are all
 * made from this table, so they cannot drift apart.
 *
 * Precedence: built-in defaults, then `<data-dir>/settings.json`, then
 * command-line flags.
 *
 * Throws SettingsError naming the flag (or the settings-file key), the
 * value and the allowed range.
 */
import fs from 'node:fs';
import os from 'node:os';
import ipaddr from 'ipaddr.js';
import { SettingsError } from './errors.ts';
import { PRESET_NAMES, findPreset } from './presets.ts';
import { isPasswordHash } from './device-auth.ts';
import type { HostPortValue, SecurityMode, SettingsValues, TlsVersionName } from './api/model.ts';
import { MIN_DATA_RATE_BYTES_PER_SECOND } from './client-limits.ts';

// The shapes live in core/api/model.ts, which has no Node imports, so the
// renderer and the relay share one definition of the settings.
export type Security = SecurityMode;
export type TlsVersion = TlsVersionName;
export type HostPort = HostPortValue;
export type Settings = SettingsValues;
export type DeviceUser = Settings['deviceUsers'][number];

type Kind =
  | { type: 'integer'; min: number; max: number }
  | { type: 'optional-integer'; min: number; max: number }
  | { type: 'number'; min: number; max: number }
  | { type: 'enum'; values: readonly string[]; nullable?: boolean }
  | { type: 'boolean' }
  | { type: 'string'; nullable: boolean }
  | { type: 'hostport'; nullable: boolean }
  | { type: 'cidr-list' }
  | { type: 'device-users' };

export interface SettingSpec {
  readonly key: keyof Settings;
  /** Command-line flag without the leading dashes; null if file-only. */
  readonly flag: string | null;
  /** Placeholder shown in `--help`, e.g. `N` or `SECONDS`. */
  readonly argument: string | null;
  readonly kind: Kind;
  readonly description: string;
}

// The default port is not 25 because binding below 1024 needs root on
// Linux and macOS; devices are configured with the relay's port anyway.
export const DEFAULT_LISTEN_PORT = 2525;

export const DEFAULT_SETTINGS: Settings = {
  listen: { host: '0.0.0.0', port: DEFAULT_LISTEN_PORT },
  allow: [],
  defaultAllow: true,
  maxMessageSizeMb: 25,
  tlsCert: null,
  tlsKey: null,
  tlsMinVersion: 'TLSv1.2',
  allowPlaintextAuth: false,
  deviceUsers: [],
  // RFC 5321 section 4.5.3.2.7: a server waits at least 5 minutes for
  // the next command.
  clientTimeoutSeconds: 300,
  // A scanner or a mail client opens a few connections at most; 20
  // leaves room for a busy multi-function printer.
  maxConnectionsPerClient: 20,
  authFailureLimit: 5,
  authLockoutMinutes: 15,
  hostname: os.hostname(),
  smarthost: null,
  security: 'starttls',
  user: null,
  tlsVerify: true,
  smarthostCa: null,
  maxConnections: 3,
  maxMessagesPerConnection: 20,
  // Postfix keeps an idle cached connection for 2 s; a little longer
  // catches the next scan of a batch without holding a slot for long.
  idleTimeoutSeconds: 5,
  retryInitialSeconds: 60,
  retryMaxSeconds: 3600,
  // RFC 5321 section 4.5.4.1: give up after at least 4-5 days; most ISPs
  // and Postfix's own bounce_queue_lifetime keep far less for relays.
  queueLifetimeHours: 48,
  preset: null,
  // RFC 5321 section 4.5.3.1.8 asks servers to take at least 100.
  maxRecipientsPerMessage: 100,
  minGapMs: 0,
  maxMessagesPerMinute: null,
  maxMessagesPerHour: null,
  maxMessagesPerDay: null,
  maxRecipientsPerMinute: null,
  maxRecipientsPerHour: null,
  maxRecipientsPerDay: null,
  blacklistCooldownMinutes: 60,
  quotaPauseMinutes: 60,
  rewriteSender: null,
  rewriteFromHeader: false,
  queueAgeAlertMinutes: 60,
  // RFC 5321 section 4.5.3.2.6: wait at least 10 minutes for the reply to
  // the final dot, because the server may still be processing the message.
  replyTimeoutSeconds: 600,
  authMethod: 'password',
  oauthProvider: 'microsoft',
  oauthClientId: null,
  oauthTenant: null,
  oauthTokenUrl: null,
  oauthScope: null,
  oauthDeviceAuthorizationUrl: null,
  oauthAuthorizationUrl: null,
};

export const SETTING_SPECS: readonly SettingSpec[] = [
  {
    key: 'listen',
    flag: 'listen',
    argument: 'HOST:PORT',
    kind: { type: 'hostport', nullable: false },
    description: 'address and port the devices send to',
  },
  {
    key: 'allow',
    flag: 'allow',
    argument: 'CIDR',
    kind: { type: 'cidr-list' },
    description:
      'network allowed to relay without AUTH, e.g. 192.168.1.0/24 (repeatable)',
  },
  {
    key: 'defaultAllow',
    flag: 'default-allow',
    argument: null,
    kind: { type: 'boolean' },
    description:
      "let only the --allow networks relay without AUTH, not loopback and the subnets of this machine's own interfaces",
  },
  {
    key: 'maxMessageSizeMb',
    flag: 'max-message-size',
    argument: 'MB',
    kind: { type: 'number', min: 0.001, max: 150 },
    description: 'largest message accepted, in megabytes (advertised in EHLO)',
  },
  {
    key: 'tlsCert',
    flag: 'tls-cert',
    argument: 'FILE',
    kind: { type: 'string', nullable: true },
    description:
      'PEM certificate for STARTTLS (a self-signed one is generated in the data dir if unset)',
  },
  {
    key: 'tlsKey',
    flag: 'tls-key',
    argument: 'FILE',
    kind: { type: 'string', nullable: true },
    description: 'PEM private key for --tls-cert',
  },
  {
    key: 'tlsMinVersion',
    flag: 'tls-min-version',
    argument: 'VERSION',
    kind: { type: 'enum', values: ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'] },
    description: 'oldest TLS version devices may use (TLSv1 for legacy scanners)',
  },
  {
    key: 'allowPlaintextAuth',
    flag: 'allow-plaintext-auth',
    argument: null,
    kind: { type: 'boolean' },
    description: 'let devices AUTH without STARTTLS (old devices only)',
  },
  {
    key: 'deviceUsers',
    flag: null,
    argument: null,
    kind: { type: 'device-users' },
    description: 'device accounts for SMTP AUTH (settings file only)',
  },
  {
    key: 'clientTimeoutSeconds',
    flag: 'client-timeout',
    argument: 'SECONDS',
    kind: { type: 'integer', min: 1, max: 3_600 },
    description:
      `time a device has to send each complete command; a message must arrive at ${MIN_DATA_RATE_BYTES_PER_SECOND} bytes/s or faster over each such period, or the relay closes the connection with 421`,
  },
  {
    key: 'maxConnectionsPerClient',
    flag: 'max-connections-per-client',
    argument: 'N',
    kind: { type: 'integer', min: 1, max: 1_000 },
    description: 'connections from one IP address at once; more get 421 4.7.0 at connect',
  },
  {
    key: 'authFailureLimit',
    flag: 'auth-failure-limit',
    argument: 'N',
    kind: { type: 'integer', min: 1, max: 1_000 },
    description:
      'failed device AUTH attempts from one IP address within --auth-lockout minutes before AUTH from that address is rejected with 454',
  },
  {
    key: 'authLockoutMinutes',
    flag: 'auth-lockout',
    argument: 'MINUTES',
    kind: { type: 'number', min: 0.01, max: 1_440 },
    description:
      'window that counts failed AUTH attempts, and how long AUTH stays rejected after the limit is reached',
  },
  {
    key: 'hostname',
    flag: 'hostname',
    argument: 'NAME',
    kind: { type: 'string', nullable: false },
    description: 'name used in the greeting, EHLO and Received: header',
  },
  {
    key: 'smarthost',
    flag: 'smarthost',
    argument: 'HOST:PORT',
    kind: { type: 'hostport', nullable: true },
    description: 'smart host to forward to (mail is held until one is set)',
  },
  {
    key: 'security',
    flag: 'security',
    argument: 'MODE',
    kind: { type: 'enum', values: ['starttls', 'tls', 'none'] },
    description:
      'connection security to the smart host: starttls (port 587), tls (implicit, port 465) or none',
  },
  {
    key: 'user',
    flag: 'user',
    argument: 'NAME',
    kind: { type: 'string', nullable: true },
    description:
      'smart-host user name; the password comes from SMARTHOST_PASSWORD or --password-file',
  },
  {
    key: 'tlsVerify',
    flag: 'tls-verify',
    argument: null,
    kind: { type: 'boolean' },
    description:
      "don't check the smart host's TLS certificate",
  },
  {
    key: 'smarthostCa',
    flag: 'smarthost-ca',
    argument: 'FILE',
    kind: { type: 'string', nullable: true },
    description: "PEM CA certificate to trust for the smart host's certificate",
  },
  {
    key: 'maxConnections',
    flag: 'max-connections',
    argument: 'N',
    kind: { type: 'integer', min: 1, max: 20 },
    description: 'most connections open to the smart host at once',
  },
  {
    key: 'maxMessagesPerConnection',
    flag: 'max-messages-per-connection',
    argument: 'N',
    kind: { type: 'integer', min: 1, max: 10_000 },
    description: 'messages sent on one connection before QUIT and a new one',
  },
  {
    key: 'idleTimeoutSeconds',
    flag: 'idle-timeout',
    argument: 'SECONDS',
    kind: { type: 'number', min: 0.1, max: 300 },
    description: 'idle time after which a smart-host connection is closed',
  },
  {
    key: 'retryInitialSeconds',
    flag: 'retry-initial',
    argument: 'SECONDS',
    kind: { type: 'number', min: 0.1, max: 86_400 },
    description: 'delay before the first retry; it doubles after each failure',
  },
  {
    key: 'retryMaxSeconds',
    flag: 'retry-max',
    argument: 'SECONDS',
    kind: { type: 'number', min: 0.1, max: 86_400 },
    description: 'longest delay between two retries',
  },
  {
    key: 'queueLifetimeHours',
    flag: 'queue-lifetime',
    argument: 'HOURS',
    kind: { type: 'number', min: 0.0003, max: 720 },
    description: 'time after which undelivered mail is bounced',
  },
  {
    key: 'preset',
    flag: 'preset',
    argument: 'NAME',
    kind: { type: 'enum', values: PRESET_NAMES, nullable: true },
    description: "smart-host preset whose host, port, security and limits fill in what is not set otherwise",
  },
  {
    key: 'maxRecipientsPerMessage',
    flag: 'max-recipients-per-message',
    argument: 'N',
    kind: { type: 'integer', min: 1, max: 10_000 },
    description: 'recipients per transaction; larger envelopes are split over several',
  },
  {
    key: 'minGapMs',
    flag: 'min-gap-ms',
    argument: 'MS',
    kind: { type: 'integer', min: 0, max: 3_600_000 },
    description: 'minimum time between two messages to the smart host, in milliseconds',
  },
  {
    key: 'maxMessagesPerMinute',
    flag: 'max-messages-per-minute',
    argument: 'N',
    kind: { type: 'optional-integer', min: 1, max: 10_000_000 },
    description: 'messages per rolling minute (none: no budget)',
  },
  {
    key: 'maxMessagesPerHour',
    flag: 'max-messages-per-hour',
    argument: 'N',
    kind: { type: 'optional-integer', min: 1, max: 10_000_000 },
    description: 'messages per rolling hour (none: no budget)',
  },
  {
    key: 'maxMessagesPerDay',
    flag: 'max-messages-per-day',
    argument: 'N',
    kind: { type: 'optional-integer', min: 1, max: 10_000_000 },
    description: 'messages per rolling 24 hours (none: no budget)',
  },
  {
    key: 'maxRecipientsPerMinute',
    flag: 'max-recipients-per-minute',
    argument: 'N',
    kind: { type: 'optional-integer', min: 1, max: 10_000_000 },
    description: 'recipients per rolling minute (none: no budget)',
  },
  {
    key: 'maxRecipientsPerHour',
    flag: 'max-recipients-per-hour',
    argument: 'N',
    kind: { type: 'optional-integer', min: 1, max: 10_000_000 },
    description: 'recipients per rolling hour (none: no budget)',
  },
  {
    key: 'maxRecipientsPerDay',
    flag: 'max-recipients-per-day',
    argument: 'N',
    kind: { type: 'optional-integer', min: 1, max: 10_000_000 },
    description: 'recipients per rolling 24 hours (none: no budget)',
  },
  {
    key: 'blacklistCooldownMinutes',
    flag: 'blacklist-cooldown',
    argument: 'MINUTES',
    kind: { type: 'number', min: 0, max: 10_080 },
    description: 'pause after a blocklist reply before trying again by itself (0: wait for Resume)',
  },
  {
    key: 'quotaPauseMinutes',
    flag: 'quota-pause',
    argument: 'MINUTES',
    kind: { type: 'number', min: 0.01, max: 1_440 },
    description: "pause after a quota reply when the relay's own budgets do not say when it resets",
  },
  {
    key: 'rewriteSender',
    flag: 'rewrite-sender',
    argument: 'ADDRESS',
    kind: { type: 'string', nullable: true },
    description: 'envelope sender to use for every message (for smart hosts that accept only their own account)',
  },
  {
    key: 'rewriteFromHeader',
    flag: 'rewrite-from-header',
    argument: null,
    kind: { type: 'boolean' },
    description: 'with --rewrite-sender, also replace the From: header and keep the original in Reply-To:',
  },
  {
    key: 'queueAgeAlertMinutes',
    flag: 'queue-age-alert',
    argument: 'MINUTES',
    kind: { type: 'number', min: 1, max: 10_080 },
    description: 'raise an alert when the oldest queued message is older than this',
  },
  {
    key: 'replyTimeoutSeconds',
    flag: 'reply-timeout',
    argument: 'SECONDS',
    kind: { type: 'number', min: 1, max: 3_600 },
    description: 'how long to wait for a reply from the smart host, the reply to the final dot included',
  },
  {
    key: 'authMethod',
    flag: 'auth-method',
    argument: 'METHOD',
    kind: { type: 'enum', values: ['password', 'xoauth2'] },
    description: 'how --user signs in to the smart host: a password, or OAuth2 (XOAUTH2) for Microsoft 365 and Google',
  },
  {
    key: 'oauthProvider',
    flag: 'oauth-provider',
    argument: 'NAME',
    kind: { type: 'enum', values: ['microsoft', 'google', 'custom'] },
    description: 'OAuth2 identity provider for --auth-method xoauth2',
  },
  {
    key: 'oauthClientId',
    flag: 'oauth-client-id',
    argument: 'ID',
    kind: { type: 'string', nullable: true },
    description: 'application (client) id of the app registration used to sign in',
  },
  {
    key: 'oauthTenant',
    flag: 'oauth-tenant',
    argument: 'TENANT',
    kind: { type: 'string', nullable: true },
    description: 'Microsoft tenant: organizations, common, a tenant id or a domain; unset means organizations',
  },
  {
    key: 'oauthTokenUrl',
    flag: 'oauth-token-url',
    argument: 'URL',
    kind: { type: 'string', nullable: true },
    description: "token endpoint, required for --oauth-provider custom; replaces the provider's otherwise",
  },
  {
    key: 'oauthScope',
    flag: 'oauth-scope',
    argument: 'SCOPES',
    kind: { type: 'string', nullable: true },
    description: "space-separated scopes, required for --oauth-provider custom; replaces the provider's otherwise",
  },
  {
    key: 'oauthDeviceAuthorizationUrl',
    flag: 'oauth-device-url',
    argument: 'URL',
    kind: { type: 'string', nullable: true },
    description: "device authorization endpoint for --oauth-sign-in with --oauth-provider custom; replaces the provider's otherwise",
  },
  {
    key: 'oauthAuthorizationUrl',
    flag: 'oauth-authorization-url',
    argument: 'URL',
    kind: { type: 'string', nullable: true },
    description: "authorization endpoint for the browser sign-in with --oauth-provider custom; replaces the provider's otherwise",
  },
];

/** Where a value came from, for the error message. */
export type ValueSource = 'flag' | 'file';

export function fieldName(spec: SettingSpec, source: ValueSource): string {
  if (source === 'flag' && spec.flag !== null) return `--${spec.flag}`;
  return `${spec.key} in settings.json`;
}

/**
 * Converts one raw value (a string from the command line, or a JSON value
 * from the settings file) to its typed form.
 */
export function parseSettingValue(
  spec: SettingSpec,
  raw: unknown,
  source: ValueSource,
): unknown {
  const field = fieldName(spec, source);
  const kind = spec.kind;

  switch (kind.type) {
    case 'integer':
    case 'number':
      return parseNumber(field, raw, kind);
    case 'optional-integer':
      if (raw === null || raw === 'none' || raw === 0 || raw === '0') return null;
      return parseNumber(field, raw, { type: 'integer', min: kind.min, max: kind.max }, 'none (no budget) or ');
    case 'enum':
      if (raw === null && kind.nullable) return null;
      if (typeof raw === 'string' && kind.values.includes(raw)) return raw;
      // Only the settings file can spell null; a flag is left out instead.
      throw new SettingsError(
        field,
        raw,
        `one of ${kind.values.join(', ')}${kind.nullable && source === 'file' ? ', or null' : ''}`,
      );
    case 'boolean':
      if (typeof raw === 'boolean') return raw;
      throw new SettingsError(field, raw, 'true or false');
    case 'string':
      return parseString(field, raw, kind.nullable);
    case 'hostport':
      if (raw === null && kind.nullable) return null;
      return parseHostPort(field, raw);
    case 'cidr-list':
      return parseCidrList(field, raw);
    case 'device-users':
      return parseDeviceUsers(field, raw);
  }
}

function parseNumber(
  field: string,
  raw: unknown,
  kind: { type: 'integer' | 'number'; min: number; max: number },
  alternatives = '',
): number {
  // Plain decimals only: Number() would also take "1e1", "0x5" and " 3".
  const value = typeof raw === 'string' && /^-?\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw;
  const isInteger = kind.type === 'integer';
  const expected = `${alternatives}${isInteger ? 'an integer' : 'a number'} from ${kind.min} to ${kind.max}`;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new SettingsError(field, raw, expected);
  }
  if (isInteger && !Number.isInteger(value)) {
    throw new SettingsError(field, raw, expected);
  }
  if (value < kind.min || value > kind.max) {
    throw new SettingsError(field, raw, expected);
  }
  return value;
}

function parseString(field: string, raw: unknown, nullable: boolean): string | null {
  if (raw === null && nullable) return null;
  if (typeof raw === 'string' && raw.length > 0 && !/[\r\n\0]/.test(raw)) return raw;
  throw new SettingsError(field, raw, 'a non-empty text without line breaks');
}

export function parseHostPort(field: string, raw: unknown): HostPort {
  const expected = 'HOST:PORT with a port from 0 to 65535, e.g. smtp.example.com:587 or [::1]:2525';
  if (typeof raw === 'object' && raw !== null) {
    const { host, port } = raw as { host?: unknown; port?: unknown };
    if (typeof host === 'string' && host !== '' && typeof port === 'number') {
      return checkPort(field, raw, host, port, expected);
    }
    throw new SettingsError(field, raw, expected);
  }
  if (typeof raw !== 'string') throw new SettingsError(field, raw, expected);

  // "[v6]:port" or "host:port"; the last colon splits host from port.
  const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(raw);
  const plain = /^([^:[\]\s]+):(\d+)$/.exec(raw);
  const match = bracketed ?? plain;
  if (!match?.[1] || !match[2]) throw new SettingsError(field, raw, expected);
  return checkPort(field, raw, match[1], Number(match[2]), expected);
}

function checkPort(
  field: string,
  raw: unknown,
  host: string,
  port: number,
  expected: string,
): HostPort {
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new SettingsError(field, raw, expected);
  }
  return { host, port };
}

function parseCidrList(field: string, raw: unknown): string[] {
  const items = Array.isArray(raw) ? raw : [raw];
  return items.map((item) => {
    if (typeof item === 'string') {
      let parsed: [ipaddr.IPv4 | ipaddr.IPv6, number] | null = null;
      try {
        parsed = ipaddr.parseCIDR(item);
      } catch {
        // Fall through to the error below, which names the value.
      }
      // A /0 network is every address there is: an open relay.
      if (parsed && parsed[1] === 0) {
        throw new SettingsError(
          field,
          item,
          'a network smaller than the whole Internet (a /0 makes an open relay), e.g. 192.168.1.0/24',
        );
      }
      if (parsed) return `${parsed[0].toString()}/${parsed[1]}`;
    }
    throw new SettingsError(
      field,
      item,
      'a network in CIDR notation, e.g. 192.168.1.0/24 or fd00::/8',
    );
  });
}

function parseDeviceUsers(field: string, raw: unknown): DeviceUser[] {
  const expected =
    'a list of {"username": "...", "passwordHash": "scrypt$<salt hex>$<key hex>"} entries, the hash made by serve --hash-password';
  if (!Array.isArray(raw)) throw new SettingsError(field, raw, expected);
  return raw.map((entry: unknown) => {
    const user = entry as { username?: unknown; passwordHash?: unknown } | null;
    if (
      typeof user?.username !== 'string' ||
      user.username === '' ||
      typeof user.passwordHash !== 'string' ||
      !isPasswordHash(user.passwordHash)
    ) {
      throw new SettingsError(field, entry, expected);
    }
    return { username: user.username, passwordHash: user.passwordHash };
  });
}

/**
 * Reads `settings.json` and validates every key in it. A missing file is
 * an empty one; an unknown key is an error so a typo is not silently
 * ignored.
 */
export function readSettingsFile(filePath: string): Partial<Settings> {
  let text: string;
  try {
    text = fs.readFileSync(filePath, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw error;
  }

  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new SettingsError(filePath, text.slice(0, 40), `valid JSON (${(error as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new SettingsError(filePath, json, 'a JSON object of settings');
  }

  const result: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(json)) {
    const spec = SETTING_SPECS.find((candidate) => candidate.key === key);
    if (!spec) {
      const known = SETTING_SPECS.map((candidate) => candidate.key).join(', ');
      throw new SettingsError(`${key} in settings.json`, value, `a known setting (${known})`);
    }
    result[key] = parseSettingValue(spec, value, 'file');
  }
  return result as Partial<Settings>;
}

/** Applies the checks that span two settings. */
export function checkSettings(settings: Settings): Settings {
  if (settings.retryMaxSeconds < settings.retryInitialSeconds) {
    throw new SettingsError(
      '--retry-max',
      settings.retryMaxSeconds,
      `a number of seconds at least --retry-initial (${settings.retryInitialSeconds})`,
    );
  }
  if ((settings.tlsCert === null) !== (settings.tlsKey === null)) {
    throw new SettingsError(
      settings.tlsCert === null ? '--tls-cert' : '--tls-key',
      undefined,
      'both --tls-cert and --tls-key, or neither',
    );
  }
  return settings;
}

/** Returns the settings a preset fills in: its host, port, security and limits. */
export function presetLayer(name: string | null | undefined): Partial<Settings> {
  const preset = name ? findPreset(name) : undefined;
  if (!preset) return {};
  return {
    ...(preset.host ? { smarthost: { host: preset.host, port: preset.port } } : {}),
    security: preset.security,
    ...preset.limits,
  };
}

/**
 * Combines defaults, the preset named by any layer, and the layers in
 * order (later ones win), then checks the result.
 */
export function mergeSettings(...layers: Partial<Settings>[]): Settings {
  const presetName = layers.reduce<string | null | undefined>(
    (name, layer) => (layer.preset !== undefined ? layer.preset : name),
    undefined,
  );
  return checkSettings(
    Object.assign({}, DEFAULT_SETTINGS, presetLayer(presetName), ...layers) as Settings,
  );
}

export function formatHostPort(value: HostPort): string {
  return value.host.includes(':') ? `[${value.host}]:${value.port}` : `${value.host}:${value.port}`;
}
