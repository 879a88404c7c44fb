// The settings table and its parsers: every value is checked against its
// range, an error names the field, the value and what is allowed, the
// settings file rejects unknown keys, and the layers merge in order.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SettingsError } from '../core/errors.ts';
import {
  DEFAULT_SETTINGS,
  mergeSettings,
  parseHostPort,
  parseSettingValue,
  readSettingsFile,
  SETTING_SPECS,
} from '../core/settings.ts';
import type { SettingSpec } from '../core/settings.ts';
import { useTempDirs } from './support/tmp.ts';

const createTempDir = useTempDirs();

function spec(key: SettingSpec['key']): SettingSpec {
  const found = SETTING_SPECS.find((candidate) => candidate.key === key);
  if (!found) throw new Error(`No setting spec for ${key}`);
  return found;
}

/** Returns the SettingsError that `action` throws. */
function settingsError(action: () => unknown): SettingsError {
  try {
    action();
  } catch (error) {
    if (error instanceof SettingsError) return error;
    throw error;
  }
  throw new Error('Expected a SettingsError, but nothing was thrown');
}

describe('setting specs', () => {
  it('cover every setting once', () => {
    const keys = SETTING_SPECS.map((item) => item.key);
    expect(new Set(keys).size).toBe(keys.length);
    expect([...keys].sort()).toEqual(Object.keys(DEFAULT_SETTINGS).sort());
    const flags = SETTING_SPECS.flatMap((item) => (item.flag === null ? [] : [item.flag]));
    expect(new Set(flags).size).toBe(flags.length);
  });

  it('accept their own defaults', () => {
    for (const item of SETTING_SPECS) {
      const value = DEFAULT_SETTINGS[item.key];
      // The host name default is this machine's, whatever it is.
      if (item.key === 'hostname') continue;
      expect(() => parseSettingValue(item, value, 'file'), item.key).not.toThrow();
    }
  });
});

describe('parseSettingValue', () => {
  it('names the flag, value and range', () => {
    const error = settingsError(() => parseSettingValue(spec('maxConnections'), '50', 'flag'));
    expect(error.message).toBe('Invalid value for --max-connections: "50". Expected an integer from 1 to 20.');
    expect(error.field).toBe('--max-connections');
    expect(error.code).toBe('ESETTINGS');
  });

  it('names the settings key for a file value', () => {
    const error = settingsError(() => parseSettingValue(spec('maxConnections'), 0, 'file'));
    expect(error.message).toBe('Invalid value for maxConnections in settings.json: 0. Expected an integer from 1 to 20.');
  });

  it('checks numbers', () => {
    const retry = spec('retryInitialSeconds');
    expect(parseSettingValue(retry, '0.2', 'flag')).toBe(0.2);
    expect(parseSettingValue(retry, 5, 'file')).toBe(5);
    for (const bad of ['', ' ', 'abc', '1e9', 'NaN', 'Infinity', '0.01', '-1']) {
      expect(() => parseSettingValue(retry, bad, 'flag'), JSON.stringify(bad)).toThrow(SettingsError);
    }
    expect(() => parseSettingValue(spec('maxConnections'), '2.5', 'flag')).toThrow(/an integer from 1 to 20/);
  });

  it('reads none as no budget', () => {
    const budget = spec('maxMessagesPerDay');
    expect(parseSettingValue(budget, 'none', 'flag')).toBeNull();
    expect(parseSettingValue(budget, '0', 'flag')).toBeNull();
    expect(parseSettingValue(budget, null, 'file')).toBeNull();
    expect(parseSettingValue(budget, '10000', 'flag')).toBe(10_000);
    expect(() => parseSettingValue(budget, '-5', 'flag')).toThrow(/none \(no budget\) or an integer from 1/);
  });

  it('checks choices and switches', () => {
    expect(parseSettingValue(spec('security'), 'tls', 'flag')).toBe('tls');
    expect(() => parseSettingValue(spec('security'), 'ssl', 'flag')).toThrow(
      'Invalid value for --security: "ssl". Expected one of starttls, tls, none.',
    );
    expect(parseSettingValue(spec('tlsVerify'), false, 'file')).toBe(false);
    expect(() => parseSettingValue(spec('tlsVerify'), 'no', 'file')).toThrow(/true or false/);
  });

  it('rejects line breaks in text', () => {
    expect(parseSettingValue(spec('hostname'), 'relay.office.test', 'flag')).toBe('relay.office.test');
    expect(() => parseSettingValue(spec('hostname'), 'relay\r\nX-Injected: 1', 'flag')).toThrow(SettingsError);
    expect(() => parseSettingValue(spec('hostname'), '', 'flag')).toThrow(SettingsError);
    expect(parseSettingValue(spec('user'), null, 'file')).toBeNull();
  });

  it('parses HOST:PORT', () => {
    expect(parseHostPort('--listen', '127.0.0.1:2525')).toEqual({ host: '127.0.0.1', port: 2525 });
    expect(parseHostPort('--listen', '[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(parseHostPort('--smarthost', 'smtp.example.com:587')).toEqual({ host: 'smtp.example.com', port: 587 });
    expect(parseHostPort('listen in settings.json', { host: '0.0.0.0', port: 25 })).toEqual({ host: '0.0.0.0', port: 25 });
    for (const bad of ['nonsense', 'host:', ':25', 'host:65536', '::1:25', 'host:25x', 'a b:25']) {
      const error = settingsError(() => parseHostPort('--listen', bad));
      expect(error.message, bad).toContain(`--listen: ${JSON.stringify(bad)}`);
      expect(error.message).toContain('HOST:PORT with a port from 0 to 65535');
    }
    expect(parseSettingValue(spec('smarthost'), null, 'file')).toBeNull();
  });

  it('parses CIDR networks', () => {
    const allow = spec('allow');
    expect(parseSettingValue(allow, '192.168.1.0/24', 'flag')).toEqual(['192.168.1.0/24']);
    expect(parseSettingValue(allow, ['10.0.0.0/8', 'fd00::/8'], 'file')).toEqual(['10.0.0.0/8', 'fd00::/8']);
    for (const bad of ['300.1.2.3/8', '10.0.0.0/33', '10.0.0.0', 'fd00::/129', 'office']) {
      const error = settingsError(() => parseSettingValue(allow, [bad], 'flag'));
      expect(error.message, bad).toBe(
        `Invalid value for --allow: ${JSON.stringify(bad)}. Expected a network in CIDR notation, e.g. 192.168.1.0/24 or fd00::/8.`,
      );
    }
  });

  it('checks device users', () => {
    const users = spec('deviceUsers');
    const hash = `scrypt$${'ab'.repeat(16)}$${'cd'.repeat(32)}`;
    const valid = [{ username: 'scanner', passwordHash: hash }];
    expect(parseSettingValue(users, valid, 'file')).toEqual(valid);
    expect(() => parseSettingValue(users, [{ passwordHash: hash }], 'file')).toThrow(SettingsError);
    expect(() => parseSettingValue(users, 'scanner', 'file')).toThrow(SettingsError);
    // A hash verifyPassword() could not check, e.g. one edited by hand.
    for (const passwordHash of ['plain', 'scrypt$00$11', `scrypt$${'ab'.repeat(16)}$zz`, `scrypt$${'ab'.repeat(16)}$`]) {
      expect(() => parseSettingValue(users, [{ username: 'scanner', passwordHash }], 'file'), passwordHash).toThrow(
        /^Invalid value for deviceUsers in settings\.json: .*serve --hash-password/,
      );
    }
  });
});

describe('readSettingsFile', () => {
  async function settingsFile(text: string): Promise<string> {
    const file = join(await createTempDir('settings'), 'settings.json');
    await writeFile(file, text);
    return file;
  }

  it('reads and validates every key', async () => {
    const file = await settingsFile(
      JSON.stringify({ maxConnections: 5, smarthost: 'smtp.example.com:587', allow: ['10.0.0.0/8'] }),
    );
    expect(readSettingsFile(file)).toEqual({
      maxConnections: 5,
      smarthost: { host: 'smtp.example.com', port: 587 },
      allow: ['10.0.0.0/8'],
    });
  });

  it('treats a missing file as empty', async () => {
    const dir = await createTempDir('settings');
    expect(readSettingsFile(join(dir, 'settings.json'))).toEqual({});
  });

  it('rejects an unknown key by name', async () => {
    const file = await settingsFile(JSON.stringify({ maxConnection: 5 }));
    const error = settingsError(() => readSettingsFile(file));
    expect(error.field).toBe('maxConnection in settings.json');
    expect(error.message).toMatch(/^Invalid value for maxConnection in settings\.json: 5\. Expected a known setting \(/);
    expect(error.message).toContain('maxConnections');
  });

  it('rejects a value out of range', async () => {
    const file = await settingsFile(JSON.stringify({ maxConnections: 50 }));
    expect(() => readSettingsFile(file)).toThrow(
      'Invalid value for maxConnections in settings.json: 50. Expected an integer from 1 to 20.',
    );
  });

  it('rejects invalid JSON and non-objects', async () => {
    const broken = await settingsFile('{"maxConnections": ');
    expect(() => readSettingsFile(broken)).toThrow(/Expected valid JSON/);
    const list = await settingsFile('[1, 2]');
    expect(() => readSettingsFile(list)).toThrow(/Expected a JSON object of settings/);
  });
});

describe('mergeSettings', () => {
  it('lets later layers win', () => {
    const fromFile = { maxConnections: 5, hostname: 'file.test' };
    const fromFlags = { maxConnections: 2 };
    const merged = mergeSettings(fromFile, fromFlags);
    expect(merged.maxConnections).toBe(2);
    expect(merged.hostname).toBe('file.test');
    expect(merged.retryInitialSeconds).toBe(DEFAULT_SETTINGS.retryInitialSeconds);
  });

  it('fills in from a preset below the layers', () => {
    const merged = mergeSettings({ preset: 'microsoft365' }, { maxConnections: 1 });
    expect(merged.smarthost?.port).toBe(587);
    expect(merged.security).toBe('starttls');
    expect(merged.maxConnections).toBe(1);
  });

  it('checks settings that depend on each other', () => {
    expect(() => mergeSettings({ retryInitialSeconds: 100, retryMaxSeconds: 10 })).toThrow(
      /--retry-max: 10\. Expected a number of seconds at least --retry-initial \(100\)/,
    );
    expect(() => mergeSettings({ tlsCert: '/etc/cert.pem' })).toThrow(/both --tls-cert and --tls-key, or neither/);
  });
});
