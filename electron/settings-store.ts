/**
 * The desktop app's saved settings, in electron-store's file
 * `<userData>/settings.json`, and the smart-host password, encrypted with
 * Electron's safeStorage (the OS keychain: DPAPI on Windows, Keychain on
 * macOS, libsecret or KWallet on Linux).
 *
 * File layout (checked with a JSON schema made from core/settings.ts's
 * table, so the file accepts what the relay accepts):
 *
 *   relay              only the relay settings someone set, as in the
 *                      headless relay's settings.json
 *   smartHostPassword  { encrypted: base64 of safeStorage.encryptString }
 *                      or null; never the password itself
 *   secrets            other secrets by name, encrypted the same way:
 *                      the OAuth2 grant of the smart-host account
 *                      ("oauth-grant", see SecretTokenStore)
 *   layout             number of the file layout, for migrations
 *
 * Storing only the keys someone set lets a later version improve a
 * default for everyone who never changed it.
 *
 * A file that fails validation is renamed to `settings.invalid-<time>.json`,
 * and the app starts with the defaults. load() then returns a warning for
 * the user that names the kept file.
 *
 * Throws SecretStorageError when the password or a secret cannot be
 * encrypted: no keychain, or Linux's `basic_text` backend, whose key is
 * built into Chromium and so protects nothing. Nothing is saved then.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DEFAULT_SETTINGS, SETTING_SPECS, mergeSettings, parseSettingValue } from '../core/settings.ts';
import type { Settings, SettingSpec } from '../core/settings.ts';
import type { SettingsStore } from '../core/console/settings-file.ts';
import type { SecretStore } from '../core/oauth/token-store.ts';
import type { SafeStoragePort } from './modules.ts';

/** Name of the store's file, without `.json`. */
export const SETTINGS_STORE_NAME = 'settings';
/** The file layout this version writes; a migration moves older files to it. */
export const SETTINGS_LAYOUT = 1;

export interface StoredPassword {
  /** Base64 of the bytes that safeStorage.encryptString returned. */
  readonly encrypted: string;
}

export interface StoredDesktopSettings {
  relay: Record<string, unknown>;
  smartHostPassword: StoredPassword | null;
  secrets: Record<string, StoredPassword>;
  layout: number;
}

/** The part of electron-store (and of conf, its plain-Node engine) used here. */
export interface KeyValueStore {
  readonly path: string;
  get<Key extends keyof StoredDesktopSettings>(key: Key): StoredDesktopSettings[Key];
  set<Key extends keyof StoredDesktopSettings>(key: Key, value: StoredDesktopSettings[Key]): void;
}

/** Options for electron-store's constructor (conf's, less its project fields). */
export interface StoreOptions {
  readonly name: string;
  readonly schema: Record<keyof StoredDesktopSettings, JsonSchema>;
  readonly defaults: StoredDesktopSettings;
  readonly migrations: Record<string, (store: KeyValueStore) => void>;
  readonly clearInvalidConfig: false;
  /** Owner-only, although the file contains no secret in clear text. */
  readonly configFileMode: number;
}

export type StoreFactory = (options: StoreOptions) => KeyValueStore;

export type JsonSchema = Record<string, unknown>;

export class SecretStorageError extends Error {
  readonly code = 'ESECRET_STORAGE';

  constructor(message: string) {
    super(message);
    this.name = 'SecretStorageError';
  }
}

function kindSchema(spec: SettingSpec): JsonSchema {
  const kind = spec.kind;
  switch (kind.type) {
    case 'integer':
      return { type: 'integer', minimum: kind.min, maximum: kind.max };
    case 'optional-integer':
      return { type: ['integer', 'null'], minimum: kind.min, maximum: kind.max };
    case 'number':
      return { type: 'number', minimum: kind.min, maximum: kind.max };
    case 'enum':
      // A setting whose default is null (the preset) may be null again.
      return { enum: DEFAULT_SETTINGS[spec.key] === null ? [...kind.values, null] : [...kind.values] };
    case 'boolean':
      return { type: 'boolean' };
    case 'string':
      return { type: kind.nullable ? ['string', 'null'] : 'string', minLength: 1 };
    case 'hostport': {
      const hostPort = {
        type: 'object',
        properties: {
          host: { type: 'string', minLength: 1 },
          port: { type: 'integer', minimum: 0, maximum: 65_535 },
        },
        required: ['host', 'port'],
        additionalProperties: false,
      };
      return kind.nullable ? { anyOf: [hostPort, { type: 'null' }] } : hostPort;
    }
    case 'cidr-list':
      return { type: 'array', items: { type: 'string' } };
    case 'device-users':
      return {
        type: 'array',
        items: {
          type: 'object',
          properties: { username: { type: 'string', minLength: 1 }, passwordHash: { type: 'string' } },
          required: ['username', 'passwordHash'],
          additionalProperties: false,
        },
      };
  }
}

/** Builds the store's JSON schema from the relay's settings table. */
export function settingsStoreSchema(): Record<keyof StoredDesktopSettings, JsonSchema> {
  const relayProperties = Object.fromEntries(SETTING_SPECS.map((spec) => [spec.key, kindSchema(spec)]));
  const encrypted = {
    type: 'object',
    properties: { encrypted: { type: 'string', minLength: 1 } },
    required: ['encrypted'],
    additionalProperties: false,
  };
  return {
    relay: { type: 'object', properties: relayProperties, additionalProperties: false },
    smartHostPassword: { anyOf: [encrypted, { type: 'null' }] },
    secrets: { type: 'object', additionalProperties: encrypted },
    layout: { type: 'integer', minimum: 1 },
  };
}

/**
 * Migrations, keyed by the app version that introduced them; conf runs
 * every one newer than the version that last wrote the file.
 */
export const SETTINGS_MIGRATIONS: Record<string, (store: KeyValueStore) => void> = {
  // 0.1.0 introduced layout 1. A file without `layout` comes from a
  // development build before it, whose keys already match layout 1.
  '0.1.0': (store) => {
    store.set('layout', SETTINGS_LAYOUT);
  },
};

export function settingsStoreOptions(): StoreOptions {
  return {
    name: SETTINGS_STORE_NAME,
    schema: settingsStoreSchema(),
    defaults: { relay: {}, smartHostPassword: null, secrets: {}, layout: SETTINGS_LAYOUT },
    migrations: SETTINGS_MIGRATIONS,
    clearInvalidConfig: false,
    configFileMode: 0o600,
  };
}

/** Checks each stored value with the relay's own parser, then the whole. */
function parseStoredSettings(stored: Record<string, unknown>): Settings {
  const patch: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(stored)) {
    const spec = SETTING_SPECS.find((candidate) => candidate.key === key);
    // The schema rejects unknown keys, so this is a broken invariant.
    if (!spec) throw new Error(`Internal error: the settings schema let the unknown key ${key} through.`);
    // The table lists presets by name only; null means "no preset".
    patch[key] = value === null && DEFAULT_SETTINGS[spec.key] === null ? null : parseSettingValue(spec, value, 'file');
  }
  return mergeSettings(patch as Partial<Settings>);
}

export interface LoadedSettings {
  readonly settings: Settings;
  readonly password: string | null;
  /** Problems to tell the user about, in plain sentences. */
  readonly warnings: readonly string[];
}

export interface DesktopSettingsOptions {
  readonly createStore: StoreFactory;
  readonly safeStorage: SafeStoragePort;
  readonly platform: NodeJS.Platform;
  /** Folder of settings.json, to set aside a file that fails to load. */
  readonly directory: string;
  readonly now?: () => number;
}

export class DesktopSettings implements SettingsStore {
  readonly #options: DesktopSettingsOptions;
  #store: KeyValueStore | null = null;

  constructor(options: DesktopSettingsOptions) {
    this.#options = options;
  }

  get filePath(): string {
    return path.join(this.#options.directory, `${SETTINGS_STORE_NAME}.json`);
  }

  /**
   * Reads settings.json. A file that fails to load is set aside (see the
   * header), so this throws only when the folder itself is unusable.
   */
  load(): LoadedSettings {
    const warnings: string[] = [];
    let store: KeyValueStore;
    let settings: Settings;
    try {
      store = this.#options.createStore(settingsStoreOptions());
      settings = parseStoredSettings(store.get('relay'));
    } catch (error) {
      // Without a file, the failure is not the file's content (an
      // unwritable folder, say), and starting over would not help.
      if (!fs.existsSync(this.filePath)) throw error;
      const keptAs = this.#setAsideInvalidFile();
      warnings.push(
        `The saved settings could not be read (${(error as Error).message}), so the app started with the default settings. ` +
          `The old file was kept as ${keptAs}.`,
      );
      store = this.#options.createStore(settingsStoreOptions());
      settings = mergeSettings();
    }
    this.#store = store;

    const password = this.#readPassword(store, warnings);
    return { settings, password, warnings };
  }

  /** Stores the given keys; keys not in `patch` keep their stored value. */
  async saveSettings(patch: Partial<Settings>): Promise<void> {
    const store = this.#requireStore();
    store.set('relay', { ...store.get('relay'), ...patch });
  }

  /**
   * Saves the password encrypted, or removes it (null). Throws
   * SecretStorageError when the OS offers no keychain; nothing is written
   * then, and any password saved earlier stays.
   */
  async savePassword(password: string | null): Promise<void> {
    const store = this.#requireStore();
    if (password === null || password === '') {
      store.set('smartHostPassword', null);
      return;
    }
    this.#checkEncryption('password', 'enter the password again');
    const encrypted = this.#options.safeStorage.encryptString(password).toString('base64');
    store.set('smartHostPassword', { encrypted });
  }

  /**
   * Secrets by name, encrypted with safeStorage like the password: the
   * storage of SecretTokenStore. set() throws SecretStorageError without
   * a keychain, and get() throws when a value cannot be decrypted.
   */
  get secrets(): SecretStore {
    return {
      get: async (name) => this.#readSecret(name),
      set: async (name, value) => this.#writeSecret(name, value),
      delete: async (name) => this.#deleteSecret(name),
    };
  }

  #readSecret(name: string): string | null {
    const stored = this.#requireStore().get('secrets')[name];
    if (stored === undefined) return null;
    return this.#options.safeStorage.decryptString(Buffer.from(stored.encrypted, 'base64'));
  }

  #writeSecret(name: string, value: string): void {
    const store = this.#requireStore();
    this.#checkEncryption('sign-in', 'sign in again');
    const encrypted = this.#options.safeStorage.encryptString(value).toString('base64');
    store.set('secrets', { ...store.get('secrets'), [name]: { encrypted } });
  }

  #deleteSecret(name: string): void {
    const store = this.#requireStore();
    const { [name]: _removed, ...rest } = store.get('secrets');
    store.set('secrets', rest);
  }

  /** Throws SecretStorageError unless safeStorage can protect `what`. `retry` is the user's step to save it later. */
  #checkEncryption(what: string, retry: string): void {
    const { safeStorage, platform } = this.#options;
    if (!safeStorage.isEncryptionAvailable()) {
      throw new SecretStorageError(
        `The ${what} was not saved because this computer offers no secure storage for it (no keychain). ` +
          `It is used until the app quits. Set up the system keychain and ${retry}.`,
      );
    }
    if (platform === 'linux' && safeStorage.getSelectedStorageBackend() === 'basic_text') {
      throw new SecretStorageError(
        `The ${what} was not saved because no keyring (GNOME Keyring or KWallet) is running, ` +
          'and without one it would be stored with a key that every copy of the app knows. ' +
          `It is used until the app quits. Start a keyring and ${retry}.`,
      );
    }
  }

  #readPassword(store: KeyValueStore, warnings: string[]): string | null {
    const stored = store.get('smartHostPassword');
    if (stored === null) return null;
    try {
      return this.#options.safeStorage.decryptString(Buffer.from(stored.encrypted, 'base64'));
    } catch (error) {
      warnings.push(
        `The saved smart-host password could not be decrypted (${(error as Error).message}). ` +
          'This happens when the system keychain changed. Enter the password again in the settings.',
      );
      return null;
    }
  }

  #requireStore(): KeyValueStore {
    if (!this.#store) throw new Error('Internal error: DesktopSettings.load() must run before a save.');
    return this.#store;
  }

  #setAsideInvalidFile(): string {
    const now = this.#options.now ?? Date.now;
    const target = path.join(this.#options.directory, `${SETTINGS_STORE_NAME}.invalid-${now()}.json`);
    fs.renameSync(this.filePath, target);
    return target;
  }
}
