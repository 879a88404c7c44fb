// What the relay does after a smart host's reply, end to end against a
// scripted fake smart host. Covered: blocklist and quota pauses, rejected
// credentials, a recipient rejected for good, and a provider rejection
// that only a person can fix. The replies are the providers' real texts.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeSmartHost } from './support/fake-smarthost.ts';
import type { FakeSmartHost, FakeSmartHostOptions, Reply } from './support/fake-smarthost.ts';
import {
  buildMessage,
  describeEvents,
  numberedMessages,
  sleep,
  startRelay,
  subjectOf,
  submitMessages,
  waitFor,
} from './support/throttling-harness.ts';
import type { RelayHarness, StartRelayOptions } from './support/throttling-harness.ts';
import { useTempDirs } from './support/tmp.ts';

const createTempDir = useTempDirs();

const BLOCKLIST_REPLY =
  '5.7.1 Service unavailable; Client host [127.0.0.1] blocked using zen.spamhaus.org';
const QUOTA_REPLY = '5.4.5 Daily user sending limit exceeded';
const BAD_CREDENTIALS_REPLY = '5.7.8 Username and Password not accepted';
const SEND_AS_REPLY = '5.7.60 SMTP; Client does not have permissions to send as this sender';

const fakes: FakeSmartHost[] = [];
const relays: RelayHarness[] = [];

async function startFake(options: FakeSmartHostOptions = {}): Promise<FakeSmartHost> {
  const fake = await startFakeSmartHost(options);
  fakes.push(fake);
  return fake;
}

async function startTestRelay(
  fake: FakeSmartHost,
  options: Omit<StartRelayOptions, 'dataDir' | 'fake'> = {},
): Promise<RelayHarness> {
  const harness = await startRelay({ dataDir: await createTempDir('reactions'), fake, ...options });
  relays.push(harness);
  return harness;
}

afterEach(async () => {
  await Promise.all(relays.splice(0).map((harness) => harness.relay.stop()));
  await Promise.all(fakes.splice(0).map((fake) => fake.stop()));
});

function acceptedSubjects(fake: FakeSmartHost): Set<string> {
  return new Set(fake.messages.map((message) => subjectOf(message.raw)));
}

function smartHostState(harness: RelayHarness): string | undefined {
  return harness.relay.status().smartHosts[0]?.state;
}

/** Lists the messages still queued with their next attempt, for a failure message. */
function describeQueue(harness: RelayHarness): string {
  const now = Date.now();
  const items = harness.relay.listQueue({ offset: 0, limit: 50 }).items;
  const lines = items.map(
    (item) =>
      `${item.id} ${item.subject} state=${item.state} attempts=${item.attempts} ` +
      `next=+${Math.round(((item.nextAttemptAt ?? now) - now) / 1000)}s reply="${item.lastReply ?? ''}"`,
  );
  return `still queued:\n${lines.join('\n')}`;
}

function dsnCount(harness: RelayHarness): number {
  return [...harness.relay.queue.records()].filter((record) => record.dsn).length;
}

/**
 * Scripts a fake that accepts the first `acceptFirst` MAIL (or RCPT)
 * commands and replies to every later one with `reply` until
 * `block.lifted` is set. It counts commands rather than finished
 * messages, because with several connections a MAIL can arrive while an
 * earlier message is still in DATA. Each test message has one recipient.
 */
function blockAfter(
  fake: FakeSmartHost,
  acceptFirst: number,
  reply: Reply,
  stage: 'MAIL' | 'RCPT' = 'MAIL',
): { lifted: boolean; rejectedCommands: number[] } {
  const block = { lifted: false, rejectedCommands: [] as number[] };
  let acceptedCommands = 0;
  const hook = (): Reply | undefined => {
    if (block.lifted || acceptedCommands < acceptFirst) {
      acceptedCommands += 1;
      return undefined;
    }
    block.rejectedCommands.push(Date.now());
    return reply;
  };
  fake.setHooks(stage === 'MAIL' ? { onMailFrom: hook } : { onRcptTo: hook });
  return block;
}

describe('blocklist reply', () => {
  // Postfix, with its default smtpd_delay_reject = yes, sends a DNSBL
  // rejection at RCPT, so both stages are covered.
  it.each(['MAIL', 'RCPT'] as const)('554 at %s pauses, resume delivers', async (stage) => {
    const fake = await startFake();
    const block = blockAfter(fake, 5, { code: 554, message: BLOCKLIST_REPLY }, stage);
    const harness = await startTestRelay(fake, { settings: { maxConnections: 3 } });

    await submitMessages(harness.listen, numberedMessages('listed', 20));
    await waitFor('PAUSED', () => harness.eventsOf('PAUSED').length > 0, {
      describe: () => describeEvents(harness.events),
    });
    const rejectedAtPause = block.rejectedCommands.length;
    await sleep(1_000);

    expect(fake.messages.length).toBe(5);
    // Each open session may have had one transaction in flight at the pause.
    expect(rejectedAtPause).toBeLessThanOrEqual(3);
    expect(block.rejectedCommands.length).toBe(rejectedAtPause);
    expect(harness.eventsOf('BOUNCED')).toEqual([]);
    expect(dsnCount(harness)).toBe(0);
    expect(harness.relay.queue.size).toBe(15);
    expect(smartHostState(harness)).toBe('paused-blacklist');

    const alerts = harness.eventsOf('ALERT');
    expect(alerts.length).toBe(1);
    expect(alerts[0]?.fields.kind).toBe('blacklisted');
    expect(alerts[0]?.fields.reply).toContain('zen.spamhaus.org');
    expect(String(alerts[0]?.fields.advice ?? '').length).toBeGreaterThan(20);
    expect(harness.relay.alerts.active().map((alert) => alert.kind)).toEqual(['blacklisted']);

    block.lifted = true;
    expect(harness.relay.resume()).toBe(true);
    await fake.waitForMessages(20, 5_000).catch(() => undefined);

    expect(acceptedSubjects(fake).size, describeQueue(harness)).toBe(20);
    expect(smartHostState(harness)).toBe('active');
    expect(harness.relay.alerts.active()).toEqual([]);
    expect(harness.eventsOf('BOUNCED')).toEqual([]);
  });

  it('cool-down resumes by itself, one alert', async () => {
    const COOLDOWN_MINUTES = 0.01;
    const fake = await startFake();
    const block = blockAfter(fake, 5, { code: 554, message: BLOCKLIST_REPLY });
    const harness = await startTestRelay(fake, {
      settings: { maxConnections: 2, blacklistCooldownMinutes: COOLDOWN_MINUTES },
    });

    await submitMessages(harness.listen, numberedMessages('cooldown', 20));
    // The first timed resume is a probe that gets the 554 again. The
    // second finds the block lifted.
    await waitFor('a second PAUSED', () => harness.eventsOf('PAUSED').length >= 2, {
      describe: () => describeEvents(harness.events),
    });
    expect(smartHostState(harness)).toBe('paused-blacklist');
    block.lifted = true;
    await fake.waitForMessages(20, 10_000).catch(() => undefined);

    expect(acceptedSubjects(fake).size, describeEvents(harness.events.slice(-12))).toBe(20);
    const resumed = harness.eventsOf('RESUMED');
    expect(resumed.length).toBeGreaterThanOrEqual(2);
    expect(resumed.every((event) => event.fields.by === 'timer')).toBe(true);
    const firstPause = harness.eventsOf('PAUSED')[0]!;
    expect(resumed[0]!.time - firstPause.time).toBeGreaterThanOrEqual(COOLDOWN_MINUTES * 60_000 - 5);

    expect(harness.eventsOf('ALERT').length).toBe(1);
    expect(harness.eventsOf('BOUNCED')).toEqual([]);
    expect(dsnCount(harness)).toBe(0);
    await waitFor('the alert to clear', () => harness.relay.alerts.active().length === 0);
    expect(smartHostState(harness)).toBe('active');
  });
  it('554 greeting also cools down', async () => {
    const COOLDOWN_MINUTES = 0.01;
    const fake = await startFake();
    const block = { lifted: false };
    fake.setHooks({
      onConnect: () => (block.lifted ? undefined : { code: 554, message: BLOCKLIST_REPLY }),
    });
    const harness = await startTestRelay(fake, {
      settings: { maxConnections: 2, blacklistCooldownMinutes: COOLDOWN_MINUTES },
    });

    await submitMessages(harness.listen, numberedMessages('greeting', 10));
    await waitFor('PAUSED', () => harness.eventsOf('PAUSED').length > 0, {
      describe: () => describeEvents(harness.events),
    });
    expect(smartHostState(harness)).toBe('paused-blacklist');
    block.lifted = true;
    await fake.waitForMessages(10, 5_000).catch(() => undefined);

    const paused = harness.eventsOf('PAUSED')[0];
    expect(paused?.fields.until, describeEvents(harness.events.slice(-6))).not.toBe('resume');
    expect(acceptedSubjects(fake).size, describeQueue(harness)).toBe(10);
    expect(harness.eventsOf('RESUMED')[0]?.fields.by).toBe('timer');
    expect(harness.eventsOf('ALERT').length).toBe(1);
    expect(harness.eventsOf('BOUNCED')).toEqual([]);
  });
});

describe('credentials reply', () => {
  it('535 gets one AUTH per credential change', async () => {
    const USER = 'office@client.test';
    const RIGHT_PASSWORD = 'right-password';
    const OBSERVE_MS = 3_000;
    const fake = await startFake({
      auth: { user: USER, pass: RIGHT_PASSWORD },
      allowInsecureAuth: true,
      onAuth: (request) =>
        request.password === RIGHT_PASSWORD ? undefined : { code: 535, message: BAD_CREDENTIALS_REPLY },
    });
    const harness = await startTestRelay(fake, {
      settings: { user: USER, maxConnections: 3, retryInitialSeconds: 0.1, retryMaxSeconds: 0.2 },
      password: 'wrong-password-1',
    });
    const failedAuths = (): number => fake.authAttempts.filter((attempt) => !attempt.succeeded).length;

    await submitMessages(harness.listen, numberedMessages('creds', 20));
    await sleep(OBSERVE_MS);

    expect(fake.authAttempts.length, describeEvents(harness.events)).toBe(1);
    expect(smartHostState(harness)).toBe('stopped-credentials');
    const alerts = harness.eventsOf('ALERT');
    expect(alerts.length).toBe(1);
    expect(alerts[0]?.fields.kind).toBe('credentials');
    expect(alerts[0]?.fields.reply).toContain('Username and Password not accepted');
    expect(harness.eventsOf('BOUNCED')).toEqual([]);
    expect(harness.relay.queue.size).toBe(20);

    harness.relay.updateSettings({}, 'wrong-password-2');
    await sleep(OBSERVE_MS);

    expect(fake.authAttempts.length, describeEvents(harness.events)).toBe(2);
    expect(smartHostState(harness)).toBe('stopped-credentials');
    expect(harness.relay.alerts.active().map((alert) => alert.kind)).toEqual(['credentials']);

    harness.relay.updateSettings({}, RIGHT_PASSWORD);
    await fake.waitForMessages(20, 10_000);

    expect(acceptedSubjects(fake).size).toBe(20);
    expect(failedAuths()).toBe(2);
    expect(harness.eventsOf('BOUNCED')).toEqual([]);
    expect(smartHostState(harness)).toBe('active');

    // The password never reaches the activity log.
    await harness.relay.stop();
    const log = await readFile(join(harness.relay.dataDir, 'logs', 'activity.log'), 'utf8');
    expect(log).toContain('ALERT');
    expect(log).not.toContain('wrong-password');
    expect(log).not.toContain(RIGHT_PASSWORD);
  });
});

describe('quota reply', () => {
  it('5.4.5 pauses, never bounces, resumes', async () => {
    const QUOTA_PAUSE_MINUTES = 0.01;
    const fake = await startFake();
    const block = blockAfter(fake, 5, { code: 550, message: QUOTA_REPLY });
    const harness = await startTestRelay(fake, {
      settings: { maxConnections: 2, quotaPauseMinutes: QUOTA_PAUSE_MINUTES },
    });

    await submitMessages(harness.listen, numberedMessages('quota', 20));
    await waitFor('PAUSED', () => harness.eventsOf('PAUSED').length > 0, {
      describe: () => describeEvents(harness.events),
    });
    expect(smartHostState(harness)).toBe('paused-quota');
    expect(harness.eventsOf('PAUSED')[0]?.fields.reason).toBe('quota');
    block.lifted = true;
    await fake.waitForMessages(20, 10_000).catch(() => undefined);

    expect(acceptedSubjects(fake).size, describeEvents(harness.events.slice(-12))).toBe(20);
    expect(harness.eventsOf('BOUNCED')).toEqual([]);
    expect(dsnCount(harness)).toBe(0);
    const paused = harness.eventsOf('PAUSED')[0]!;
    const resumed = harness.eventsOf('RESUMED')[0];
    expect(resumed?.fields.by).toBe('timer');
    expect(resumed!.time - paused.time).toBeGreaterThanOrEqual(QUOTA_PAUSE_MINUTES * 60_000 - 5);
    const alerts = harness.eventsOf('ALERT');
    expect(alerts.length).toBe(1);
    expect(alerts[0]?.fields.kind).toBe('quota');
  });
});

describe('per-recipient and per-message replies', () => {
  it('5.1.1 bounces one of three recipients', async () => {
    const fake = await startFake({
      onRcptTo: (address) =>
        address === 'c@dest.test'
          ? { code: 550, message: '5.1.1 <c@dest.test>: Recipient address rejected: User unknown' }
          : undefined,
    });
    const harness = await startTestRelay(fake);
    const to = ['a@dest.test', 'b@dest.test', 'c@dest.test'];

    await submitMessages(harness.listen, [
      { from: 'sender@client.test', to, raw: buildMessage('three', 'sender@client.test', to) },
    ]);
    await fake.waitForMessages(2, 10_000);

    const [original, dsn] = fake.messages;
    expect(original?.from).toBe('sender@client.test');
    expect(original?.to).toEqual(['a@dest.test', 'b@dest.test']);
    expect(dsn?.from).toBe('');
    expect(dsn?.to).toEqual(['sender@client.test']);
    const report = dsn?.raw.toString('utf8') ?? '';
    expect(report).toContain('Final-Recipient: rfc822; c@dest.test');
    expect(report).toContain('Status: 5.1.1');
    expect(report).toContain('Action: failed');
    expect(report).not.toContain('Final-Recipient: rfc822; a@dest.test');
    expect(report).not.toContain('Final-Recipient: rfc822; b@dest.test');

    const bounced = harness.eventsOf('BOUNCED');
    expect(bounced.length).toBe(1);
    expect(bounced[0]?.fields.to).toBe('<c@dest.test>');
    expect(bounced[0]?.fields.status).toBe('5.1.1');
    await waitFor('an empty queue', () => harness.relay.queue.size === 0);
  });

  it.each(['MAIL', 'DATA'] as const)('5.7.60 at %s holds with one alert', async (stage) => {
    const sendAs = (from: string): Reply | undefined =>
      from === 'other@client.test' ? { code: 550, message: SEND_AS_REPLY } : undefined;
    const fake = await startFake(
      stage === 'MAIL'
        ? { onMailFrom: (address) => sendAs(address) }
        : { onData: (_message, transaction) => sendAs(transaction.from) },
    );
    const harness = await startTestRelay(fake);
    const send = (label: string, from: string): { from: string; to: string[]; raw: Buffer } => ({
      from,
      to: ['a@dest.test'],
      raw: buildMessage(label, from, ['a@dest.test']),
    });

    await submitMessages(harness.listen, [
      send('held-1', 'other@client.test'),
      send('fine-1', 'sender@client.test'),
      send('held-2', 'other@client.test'),
      send('fine-2', 'sender@client.test'),
      send('held-3', 'other@client.test'),
    ]);
    await fake.waitForMessages(2, 10_000);
    await waitFor('three HELD', () => harness.eventsOf('HELD').length === 3, {
      describe: () => describeEvents(harness.events),
    });
    await sleep(500);

    expect(acceptedSubjects(fake)).toEqual(new Set(['fine-1', 'fine-2']));
    const held = harness.relay.listQueue({ offset: 0, limit: 10, state: 'held' });
    expect(held.items.map((item) => item.subject).sort()).toEqual(['held-1', 'held-2', 'held-3']);
    expect(held.items.every((item) => item.lastReply?.includes('5.7.60'))).toBe(true);
    expect(harness.eventsOf('BOUNCED')).toEqual([]);
    expect(dsnCount(harness)).toBe(0);

    const alerts = harness.eventsOf('ALERT');
    expect(alerts.length).toBe(1);
    expect(alerts[0]?.fields.kind).toBe('needs-person');
    expect(alerts[0]?.fields.reply).toContain('5.7.60');
    // A send-as rejection is about one sender, so the others keep flowing.
    expect(smartHostState(harness)).toBe('active');
  });
});
