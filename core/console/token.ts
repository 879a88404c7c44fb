/**
 * The web console's access token: 32 random bytes, base64url, made on the
 * first start with the console and kept in `<data-dir>/console-token`
 * (mode 0600) so the bookmarked URL keeps working across restarts.
 * Delete the file to issue a new token at the next start.
 *
 * Throws a SettingsError when the file is readable by others or does not
 * hold a token, instead of serving a console whose token may have leaked.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { SettingsError } from '../errors.ts';

export const CONSOLE_TOKEN_FILE = 'console-token';
const TOKEN_BYTES = 32;
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43,}$/;

/** Reads the console token, creating it on the first call. */
export function loadOrCreateConsoleToken(dataDir: string): string {
  const file = path.join(dataDir, CONSOLE_TOKEN_FILE);
  const token = crypto.randomBytes(TOKEN_BYTES).toString('base64url');
  try {
    // 'wx' fails if the file exists, so two starts cannot both write one.
    fs.writeFileSync(file, `${token}\n`, { flag: 'wx', mode: 0o600 });
    return token;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }

  const mode = fs.statSync(file).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new SettingsError(
      file,
      mode.toString(8),
      'a file only its owner can read (run chmod 600 on it, or delete it to get a new token)',
    );
  }
  const stored = fs.readFileSync(file, 'utf8').trim();
  if (!TOKEN_PATTERN.test(stored)) {
    throw new SettingsError(file, '(unreadable token)', 'a token of at least 43 base64url characters (delete the file to get a new one)');
  }
  return stored;
}

/** Compares a presented token with the real one in constant time. */
export function tokenMatches(presented: string, token: string): boolean {
  const a = crypto.createHash('sha256').update(presented).digest();
  const b = crypto.createHash('sha256').update(token).digest();
  return crypto.timingSafeEqual(a, b);
}
