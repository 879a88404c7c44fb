/**
 * Device accounts for SMTP AUTH on the listener. Passwords are stored as
 * scrypt hashes (`scrypt$<salt hex>$<key hex>`), never in plain text.
 */
import crypto from 'node:crypto';
import { promisify } from 'node:util';
import type { DeviceUser } from './settings.ts';

const scrypt = promisify(crypto.scrypt) as (
  password: string,
  salt: Buffer,
  keyLength: number,
) => Promise<Buffer>;

const SALT_BYTES = 16;
const KEY_BYTES = 32;

export async function hashPassword(password: string): Promise<string> {
  const salt = crypto.randomBytes(SALT_BYTES);
  const key = await scrypt(password, salt, KEY_BYTES);
  return `scrypt$${salt.toString('hex')}$${key.toString('hex')}`;
}

export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  const [scheme, saltHex, keyHex] = hash.split('$');
  if (scheme !== 'scrypt' || !saltHex || !keyHex) return false;
  const expected = Buffer.from(keyHex, 'hex');
  const actual = await scrypt(password, Buffer.from(saltHex, 'hex'), expected.length);
  return crypto.timingSafeEqual(actual, expected);
}

/** Checks a device's credentials; unknown users cost the same time as known ones. */
export async function authenticateDevice(
  users: readonly DeviceUser[],
  username: string,
  password: string,
): Promise<boolean> {
  const user = users.find((candidate) => candidate.username === username);
  if (!user) {
    await hashPassword(password);
    return false;
  }
  return verifyPassword(password, user.passwordHash);
}
