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
// Hash form verifyPassword() accepts: whole hex bytes, with a salt and a
// key of at least 16 bytes each. A key of zero bytes would match any password.
const HASH_FORMAT = /^scrypt\$((?:[0-9a-f]{2}){16,})\$((?:[0-9a-f]{2}){16,})$/i;

/** Returns whether `hash` has the form hashPassword() writes. */
export function isPasswordHash(hash: string): boolean {
  return HASH_FORMAT.test(hash);
}

export async function hashPassword(password: string): Promise<string> {
  const salt = crypto.randomBytes(SALT_BYTES);
  const key = await scrypt(password, salt, KEY_BYTES);
  return `scrypt$${salt.toString('hex')}$${key.toString('hex')}`;
}

export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  const match = HASH_FORMAT.exec(hash);
  const saltHex = match?.[1];
  const keyHex = match?.[2];
  if (!saltHex || !keyHex) return false;
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
