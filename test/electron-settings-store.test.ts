import fs from 'node:fs';
import path from 'node:path';
import Conf from 'conf';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS, mergeSettings } from '../core/settings.ts';
import {
  DesktopSettings,
  SETTINGS_LAYOUT,
  SecretStorageError,
  settingsStoreOptions,
} from '../electron/settings-store.ts';
import type { KeyValueStore, StoreOptions, StoredDesktopSettings } from '../electron/settings-store.ts';
import { createFakeElectron } from './support/electron-fakes.ts';
import { useTempDirs } from './support/tmp.ts';

const createTempDir = useTempDirs();
const PASSWORD = 'correct horse battery staple';

/**
 * conf is the engine under electron-store; electron-store only adds the
 * userData folder as `cwd` and app.getVersion() as `projectVersion`.
 */
function confFactory(directory: string, projectVersion = '0.1.0') {
  return (options: StoreOptions): KeyValueStore =>
    new Conf<StoredDesktopSettings>({ ...options, configName: options.name, cwd: directory, projectVersion });
}

async function setup(options: { platform?: NodeJS.Platform } = {}) {
  const directory = await createTempDir('settings');
  const fake = createFakeElectron({ userData: directory });
  const settings = new DesktopSettings({
    createStore: confFactory(directory),
    safeStorage: fake.modules.safeStorage,
    platform: options.platform ?? 'linux',
    directory,
    now: () => 1_700_000_000_000,
  });
  return { directory, fake, settings, file: path.join(directory, 'settings.json') };
}

describe('DesktopSettings', () => {
  it('loads defaults without a file', async () => {
    const { settings } = await setup();
    const loaded = settings.load();
    expect(loaded.settings).toEqual(mergeSettings());
    expect(loaded.password).toBeNull();
    expect(loaded.warnings).toEqual([]);
  });

  it('saves only the keys that were set', async () => {
    const { settings, file } = await setup();
    settings.load();
    await settings.saveSettings({ maxConnections: 5, smarthost: { host: 'smtp.example.com', port: 587 } });
    await settings.saveSettings({ security: 'tls' });

    const stored = JSON.parse(fs.readFileSync(file, 'utf8')) as StoredDesktopSettings;
    expect(stored.relay).toEqual({
      maxConnections: 5,
      smarthost: { host: 'smtp.example.com', port: 587 },
      security: 'tls',
    });
    expect(stored.layout).toBe(SETTINGS_LAYOUT);
  });

  it('round-trips settings through the file', async () => {
    const first = await setup();
    first.settings.load();
    await first.settings.saveSettings({ maxConnections: 7, allow: ['192.168.1.0/24'], maxMessagesPerDay: 500 });

    const again = new DesktopSettings({
      createStore: confFactory(first.directory),
      safeStorage: first.fake.modules.safeStorage,
      platform: 'linux',
      directory: first.directory,
    });
    const loaded = again.load();
    expect(loaded.settings.maxConnections).toBe(7);
    expect(loaded.settings.allow).toEqual(['192.168.1.0/24']);
    expect(loaded.settings.maxMessagesPerDay).toBe(500);
    expect(loaded.settings.maxMessagesPerConnection).toBe(DEFAULT_SETTINGS.maxMessagesPerConnection);
  });

  it('keeps a file mode for the owner only', async () => {
    const { settings, file } = await setup();
    settings.load();
    await settings.saveSettings({ maxConnections: 2 });
    expect(fs.statSync(file).mode & 0o077).toBe(0);
  });

  it('stores the password encrypted', async () => {
    const { settings, file, directory, fake } = await setup();
    settings.load();
    await settings.savePassword(PASSWORD);

    const text = fs.readFileSync(file, 'utf8');
    expect(text).not.toContain(PASSWORD);
    const stored = JSON.parse(text) as StoredDesktopSettings;
    expect(stored.smartHostPassword?.encrypted).toMatch(/^[A-Za-z0-9+/=]+$/);

    const again = new DesktopSettings({
      createStore: confFactory(directory),
      safeStorage: fake.modules.safeStorage,
      platform: 'linux',
      directory,
    });
    expect(again.load().password).toBe(PASSWORD);
  });

  it('stores secrets encrypted', async () => {
    const { settings, file, directory, fake } = await setup();
    settings.load();
    await settings.secrets.set('oauth-grant', '{"refreshToken":"rt-secret-1"}');

    const text = fs.readFileSync(file, 'utf8');
    expect(text).not.toContain('rt-secret-1');
    const stored = JSON.parse(text) as StoredDesktopSettings;
    expect(stored.secrets['oauth-grant']?.encrypted).toMatch(/^[A-Za-z0-9+/=]+$/);

    const again = new DesktopSettings({
      createStore: confFactory(directory),
      safeStorage: fake.modules.safeStorage,
      platform: 'linux',
      directory,
    });
    again.load();
    await expect(again.secrets.get('oauth-grant')).resolves.toBe('{"refreshToken":"rt-secret-1"}');
    await expect(again.secrets.get('other')).resolves.toBeNull();
    await again.secrets.delete('oauth-grant');
    await expect(again.secrets.get('oauth-grant')).resolves.toBeNull();
  });

  it('rejects a secret without a keychain', async () => {
    const { settings, file, fake } = await setup({ platform: 'darwin' });
    settings.load();
    fake.state.encryptionAvailable = false;
    await expect(settings.secrets.set('oauth-grant', 'rt-secret-2')).rejects.toThrow(/sign-in was not saved/);
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    expect(text).not.toContain('rt-secret-2');
  });

  it('removes the password with null', async () => {
    const { settings, file } = await setup();
    settings.load();
    await settings.savePassword(PASSWORD);
    await settings.savePassword(null);
    const stored = JSON.parse(fs.readFileSync(file, 'utf8')) as StoredDesktopSettings;
    expect(stored.smartHostPassword).toBeNull();
  });

  it('rejects the password without a keychain', async () => {
    const { settings, file, fake } = await setup({ platform: 'win32' });
    settings.load();
    fake.state.encryptionAvailable = false;
    await expect(settings.savePassword(PASSWORD)).rejects.toThrow(SecretStorageError);
    await expect(settings.savePassword(PASSWORD)).rejects.toThrow(/not saved because this computer offers no secure storage/);
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    expect(text).not.toContain(PASSWORD);
  });

  it('rejects the password with basic_text on Linux', async () => {
    const { settings, file, fake } = await setup({ platform: 'linux' });
    settings.load();
    fake.state.storageBackend = 'basic_text';
    await expect(settings.savePassword(PASSWORD)).rejects.toThrow(/no keyring/);
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    expect(text).not.toContain(PASSWORD);
  });

  it('keeps an older password when a save is rejected', async () => {
    const { settings, fake, directory } = await setup({ platform: 'linux' });
    settings.load();
    await settings.savePassword('old password');
    fake.state.encryptionAvailable = false;
    await expect(settings.savePassword(PASSWORD)).rejects.toThrow(SecretStorageError);
    fake.state.encryptionAvailable = true;

    const again = new DesktopSettings({
      createStore: confFactory(directory),
      safeStorage: fake.modules.safeStorage,
      platform: 'linux',
      directory,
    });
    expect(again.load().password).toBe('old password');
  });

  it('warns when the password cannot be decrypted', async () => {
    const { settings, file, directory, fake } = await setup();
    fs.writeFileSync(
      file,
      JSON.stringify({ relay: {}, smartHostPassword: { encrypted: Buffer.from('garbage').toString('base64') }, layout: 1 }),
    );
    void settings;
    const again = new DesktopSettings({
      createStore: confFactory(directory),
      safeStorage: fake.modules.safeStorage,
      platform: 'linux',
      directory,
    });
    const loaded = again.load();
    expect(loaded.password).toBeNull();
    expect(loaded.warnings).toHaveLength(1);
    expect(loaded.warnings[0]).toMatch(/could not be decrypted/);
  });

  it('sets aside a file that breaks the schema', async () => {
    const { settings, file, directory } = await setup();
    fs.writeFileSync(file, JSON.stringify({ relay: { maxConnections: 500 }, smartHostPassword: null, layout: 1 }));
    const loaded = settings.load();

    expect(loaded.settings).toEqual(mergeSettings());
    expect(loaded.warnings).toHaveLength(1);
    expect(loaded.warnings[0]).toMatch(/maxConnections/);
    const keptAs = path.join(directory, 'settings.invalid-1700000000000.json');
    expect(loaded.warnings[0]).toContain(keptAs);
    expect(fs.existsSync(keptAs)).toBe(true);
  });

  it('sets aside a file with unknown keys', async () => {
    const { settings, file } = await setup();
    fs.writeFileSync(file, JSON.stringify({ relay: { maxConections: 5 }, smartHostPassword: null, layout: 1 }));
    const loaded = settings.load();
    expect(loaded.warnings[0]).toMatch(/could not be read/);
  });

  it('sets aside a file that is not JSON', async () => {
    const { settings, file } = await setup();
    fs.writeFileSync(file, '{ "relay": ');
    const loaded = settings.load();
    expect(loaded.settings).toEqual(mergeSettings());
    expect(loaded.warnings).toHaveLength(1);
  });

  it('sets aside values that fail the cross checks', async () => {
    const { settings, file } = await setup();
    fs.writeFileSync(file, JSON.stringify({ relay: { retryInitialSeconds: 600, retryMaxSeconds: 60 }, smartHostPassword: null, layout: 1 }));
    const loaded = settings.load();
    expect(loaded.warnings[0]).toMatch(/--retry-max|retryMaxSeconds/);
  });

  it('migrates a file without layout', async () => {
    const { settings, file } = await setup();
    fs.writeFileSync(file, JSON.stringify({ relay: { maxConnections: 4 }, smartHostPassword: null }));
    const loaded = settings.load();
    expect(loaded.warnings).toEqual([]);
    expect(loaded.settings.maxConnections).toBe(4);
    const stored = JSON.parse(fs.readFileSync(file, 'utf8')) as StoredDesktopSettings & { __internal__?: unknown };
    expect(stored.layout).toBe(SETTINGS_LAYOUT);
    expect(stored.__internal__).toEqual({ migrations: { version: '0.1.0' } });
  });

  it('requires load before a save', async () => {
    const { settings } = await setup();
    await expect(settings.saveSettings({ maxConnections: 2 })).rejects.toThrow(/load\(\) must run/);
  });
});

describe('settingsStoreSchema', () => {
  it('accepts every default setting', async () => {
    const directory = await createTempDir('schema');
    const store = confFactory(directory)(settingsStoreOptions());
    const { hostname: _hostname, ...defaults } = DEFAULT_SETTINGS;
    expect(() => store.set('relay', { ...defaults, hostname: 'relay.example.com' })).not.toThrow();
  });

  it('rejects a secret in plain text', async () => {
    const directory = await createTempDir('schema');
    const store = confFactory(directory)(settingsStoreOptions());
    expect(() => store.set('secrets', { 'oauth-grant': { refreshToken: 'rt' } } as never)).toThrow(/schema violation/);
  });

  it('rejects a password in plain text', async () => {
    const directory = await createTempDir('schema');
    const store = confFactory(directory)(settingsStoreOptions());
    expect(() => store.set('smartHostPassword', { password: PASSWORD } as never)).toThrow(/schema violation/);
  });
});
