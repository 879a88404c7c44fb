// AUTH brute force: after authFailureLimit failures within
// authLockoutMinutes, AUTH from that address is refused with 454 4.7.0
// for that long, even with the right password, and AUTH_LOCKED is
// logged once. Another address is not affected, and the address gets
// in again once the lockout is over (the relay's clock is injected).
import { afterEach, describe, expect, it } from 'vitest';
import { AuthLockout } from '../core/client-limits.ts';
import { hashPassword } from '../core/device-auth.ts';
import { DEFAULT_SETTINGS } from '../core/settings.ts';
import { openSmtpDialog, readActivityLog, waitUntil } from './support/relay-harness.ts';
import type { SmtpDialog } from './support/relay-harness.ts';
import { startRelay } from './support/throttling-harness.ts';
import type { RelayHarness } from './support/throttling-harness.ts';
import { useTempDirs } from './support/tmp.ts';

const createTempDir = useTempDirs();

const relays: RelayHarness[] = [];
const dialogs: SmtpDialog[] = [];

afterEach(async () => {
  for (const dialog of dialogs.splice(0)) dialog.close();
  await Promise.all(relays.splice(0).map((harness) => harness.relay.stop()));
});

const USER = 'scanner';
const PASSWORD = 'Sc@n-2-mail!';
const MINUTE_MS = 60_000;

function plain(user: string, password: string): string {
  return Buffer.from(`\0${user}\0${password}`, 'utf8').toString('base64');
}

/** Starts a relay with one device account and a clock the test moves forward. */
async function startAuthRelay(): Promise<{ harness: RelayHarness; advance: (ms: number) => void }> {
  let offsetMs = 0;
  const harness = await startRelay({
    dataDir: await createTempDir('auth-lockout'),
    fake: null,
    // Plain-text AUTH keeps the dialogue short; the lockout is the same
    // after STARTTLS.
    settings: {
      deviceUsers: [{ username: USER, passwordHash: await hashPassword(PASSWORD) }],
      allowPlaintextAuth: true,
    },
    now: () => Date.now() + offsetMs,
  });
  relays.push(harness);
  return {
    harness,
    advance: (ms) => {
      offsetMs += ms;
    },
  };
}

/** Opens a session from `localAddress`, sends EHLO and tries one AUTH PLAIN. */
async function tryAuth(harness: RelayHarness, localAddress: string, password: string): Promise<string> {
  const dialog = await openSmtpDialog(harness.listen.host, harness.listen.port, localAddress);
  dialogs.push(dialog);
  expect(await dialog.command('EHLO client.test')).toMatch(/AUTH PLAIN LOGIN/);
  const reply = await dialog.command(`AUTH PLAIN ${plain(USER, password)}`);
  dialog.close();
  return reply;
}

describe('AUTH lockout', () => {
  it('locks an address after 5 failures', async () => {
    expect(DEFAULT_SETTINGS.authFailureLimit).toBe(5);
    expect(DEFAULT_SETTINGS.authLockoutMinutes).toBe(15);
    const { harness, advance } = await startAuthRelay();

    for (let attempt = 1; attempt <= 5; attempt += 1) {
      expect(await tryAuth(harness, '127.0.0.2', `guess-${attempt}`)).toMatch(/^535 5\.7\.8 /);
    }
    // The right password during the lockout gets the same refusal.
    const locked = await tryAuth(harness, '127.0.0.2', PASSWORD);
    expect(locked).toMatch(/^454 4\.7\.0 Too many failed logins from your address: AUTH is locked until /);
    expect(await tryAuth(harness, '127.0.0.2', 'guess-6')).toMatch(/^454 4\.7\.0 /);

    // Another address is served.
    expect(await tryAuth(harness, '127.0.0.3', PASSWORD)).toMatch(/^235 /);

    expect(harness.eventsOf('AUTH_FAILED')).toHaveLength(5);
    const lockEvents = harness.eventsOf('AUTH_LOCKED');
    expect(lockEvents).toHaveLength(1);
    expect(lockEvents[0]?.fields).toMatchObject({ client: '127.0.0.2', failures: 5, minutes: 15 });
    const lockLine = / AUTH_LOCKED client=127\.0\.0\.2 failures=5 minutes=15 until=\S+/;
    await waitUntil(async () => lockLine.test(await readActivityLog(harness.relay.dataDir)), 'the AUTH_LOCKED line');
    const log = await readActivityLog(harness.relay.dataDir);
    expect(log).not.toContain(PASSWORD);

    // Just before the end of the lockout it still holds; after it, the
    // right password works again.
    advance(15 * MINUTE_MS - 5_000);
    expect(await tryAuth(harness, '127.0.0.2', PASSWORD)).toMatch(/^454 /);
    advance(10_000);
    expect(await tryAuth(harness, '127.0.0.2', PASSWORD)).toMatch(/^235 /);
  });

  it('forgets failures older than the window', async () => {
    const { harness, advance } = await startAuthRelay();

    for (let attempt = 1; attempt <= 4; attempt += 1) {
      expect(await tryAuth(harness, '127.0.0.2', `old-${attempt}`)).toMatch(/^535 /);
    }
    advance(16 * MINUTE_MS);
    for (let attempt = 1; attempt <= 4; attempt += 1) {
      expect(await tryAuth(harness, '127.0.0.2', `new-${attempt}`)).toMatch(/^535 /);
    }
    expect(await tryAuth(harness, '127.0.0.2', PASSWORD)).toMatch(/^235 /);
    expect(harness.eventsOf('AUTH_LOCKED')).toHaveLength(0);
  });
});

describe('AuthLockout', () => {
  it('counts failures per address', () => {
    let now = 1_000_000;
    const lockout = new AuthLockout({ limit: 3, windowMs: 60_000, now: () => now });

    expect(lockout.recordFailure('192.0.2.1')).toBeNull();
    expect(lockout.recordFailure('192.0.2.1')).toBeNull();
    expect(lockout.recordFailure('192.0.2.2')).toBeNull();
    expect(lockout.lockedUntil('192.0.2.1')).toBeNull();
    expect(lockout.recordFailure('192.0.2.1')).toEqual({ lockedUntil: now + 60_000, failures: 3 });
    expect(lockout.lockedUntil('192.0.2.1')).toBe(now + 60_000);
    expect(lockout.lockedUntil('192.0.2.2')).toBeNull();

    // A success while locked does not unlock.
    lockout.recordSuccess('192.0.2.1');
    expect(lockout.lockedUntil('192.0.2.1')).toBe(now + 60_000);
    now += 60_000;
    expect(lockout.lockedUntil('192.0.2.1')).toBeNull();
  });

  it('resets the count after a success', () => {
    const lockout = new AuthLockout({ limit: 2, windowMs: 60_000, now: () => 5_000 });

    expect(lockout.recordFailure('2001:db8::1')).toBeNull();
    lockout.recordSuccess('2001:db8::1');
    expect(lockout.recordFailure('2001:db8::1')).toBeNull();
    expect(lockout.recordFailure('2001:db8::1')).not.toBeNull();
  });
});
