/**
 * Where the headless relay keeps what a user changes in the web console:
 *
 *   <data-dir>/settings.json        only the keys someone set (in the
 *                                   console or by hand), so a default that
 *                                   changes in a later version still applies
 *                                   to the keys nobody set;
 *   <data-dir>/smarthost-password   the smart-host password, mode 0600;
 *                                   `serve` reads it when neither
 *                                   SMARTHOST_PASSWORD nor --password-file
 *                                   is given.
 *
 * Both are written atomically: write a temporary file in the same folder,
 * fsync it, rename it over the old one, fsync the folder. A crash leaves
 * either the old or the new file, never half of one.
 *
 * The desktop app implements the same SettingsStore with its own storage
 * (electron-store and the OS keychain).
 */
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import fsSync from 'node:fs';
import path from 'node:path';
import type { Settings } from '../settings.ts';
import { formatHostPort } from '../settings.ts';

export const SETTINGS_FILE = 'settings.json';
export const PASSWORD_FILE = 'smarthost-password';

/** Persists settings changes and the smart-host password. */
export interface SettingsStore {
  /** Stores the given keys; keys not in `patch` keep their stored value. */
  saveSettings(patch: Partial<Settings>): Promise<void>;
  /** Stores the password, or removes it for null. */
  savePassword(password: string | null): Promise<void>;
}

/** Returns the console's saved password file if there is one, for `serve`. */
export function savedPasswordFile(dataDir: string): string | undefined {
  const file = path.join(dataDir, PASSWORD_FILE);
  return fsSync.existsSync(file) ? file : undefined;
}

/** Converts a typed setting back to the form a person would write in settings.json. */
function toFileValue(value: unknown): unknown {
  if (typeof value === 'object' && value !== null && 'host' in value && 'port' in value) {
    return formatHostPort(value as { host: string; port: number });
  }
  return value;
}

async function writeAtomically(file: string, content: string, mode: number): Promise<void> {
  const directory = path.dirname(file);
  const temporary = path.join(directory, `.${path.basename(file)}.${crypto.randomBytes(6).toString('hex')}.tmp`);
  const handle = await fs.open(temporary, 'wx', mode);
  try {
    await handle.writeFile(content, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fs.rename(temporary, file);
  } catch (error) {
    await fs.rm(temporary, { force: true });
    throw error;
  }
  const folder = await fs.open(directory, 'r');
  try {
    await folder.sync();
  } finally {
    await folder.close();
  }
}

async function readSettingsObject(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw error;
  }
  const json: unknown = JSON.parse(text);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new Error(`${file} does not contain a JSON object; fix or remove it before saving settings.`);
  }
  return json as Record<string, unknown>;
}

/** A SettingsStore on files in the data folder, for `serve`. */
export function createFileSettingsStore(dataDir: string): SettingsStore {
  const settingsFile = path.join(dataDir, SETTINGS_FILE);
  const passwordFile = path.join(dataDir, PASSWORD_FILE);
  // Saves run one after the other, so two quick changes cannot both read
  // the old file and the second one drop the first one's keys.
  let last: Promise<void> = Promise.resolve();
  const serialized = (task: () => Promise<void>): Promise<void> => {
    const next = last.then(task, task);
    last = next.catch(() => {});
    return next;
  };

  return {
    saveSettings: (patch) =>
      serialized(async () => {
        const stored = await readSettingsObject(settingsFile);
        for (const [key, value] of Object.entries(patch)) stored[key] = toFileValue(value);
        await writeAtomically(settingsFile, `${JSON.stringify(stored, null, 2)}\n`, 0o600);
      }),
    savePassword: (password) =>
      serialized(async () => {
        if (password === null) {
          await fs.rm(passwordFile, { force: true });
          return;
        }
        await writeAtomically(passwordFile, password, 0o600);
      }),
  };
}
