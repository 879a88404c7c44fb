// Durability of the queue through `serve`: kill -9 in the middle of a
// run, a restart after mail was held without a smart host, a SIGTERM
// during delivery, and damaged spool files. Every message that got a 250
// is delivered in the end.
import { appendFile, readdir, readFile, truncate, writeFile } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { RelayEvent } from '../core/events.ts';
import { Relay } from '../core/relay.ts';
import { mergeSettings } from '../core/settings.ts';
import { rawSession, SMTP_REPLY_LINE } from './support/clients.ts';
import { startFakeSmartHost } from './support/fake-smarthost.ts';
import type { FakeSmartHost, FakeSmartHostOptions } from './support/fake-smarthost.ts';
import { killAllServeProcesses } from './support/serve-process.ts';
import { useTempDirs } from './support/tmp.ts';
import {
  connectToRelay,
  delay,
  faultyFileSystem,
  listenerCertificateArgs,
  queueFiles,
  receivedQueueId,
  RELAY_HOSTNAME,
  startRelay,
  submitMessage,
  tmpFiles,
  waitUntil,
} from './support/relay-harness.ts';

const createTempDir = useTempDirs();
afterAll(killAllServeProcesses);

const fakes: FakeSmartHost[] = [];

afterEach(async () => {
  await Promise.all(fakes.splice(0).map((fake) => fake.stop()));
});

async function startFake(options: FakeSmartHostOptions = {}): Promise<FakeSmartHost> {
  const fake = await startFakeSmartHost(options);
  fakes.push(fake);
  return fake;
}

const QUEUED_AS = /queued as ([A-Z0-9]+)/;

/**
 * Sends `count` messages on one connection and returns the queue id of
 * each one that got a 250. Stops at the first error, which is what a
 * client sees when the relay dies under it.
 */
async function sendUntilError(port: number, client: number, count: number): Promise<string[]> {
  const acknowledged: string[] = [];
  let connection;
  try {
    connection = await connectToRelay({ host: '127.0.0.1', port });
  } catch {
    return acknowledged;
  }
  for (let index = 0; index < count; index += 1) {
    const raw = `Subject: client ${client} message ${index}\r\nMessage-ID: <c${client}.m${index}@office.test>\r\n\r\nbody\r\n`;
    try {
      const info = await connection.send({ from: 'load@office.test', to: [`c${client}@example.test`] }, raw);
      const id = QUEUED_AS.exec(info.response)?.[1];
      if (id) acknowledged.push(id);
    } catch {
      break;
    }
  }
  connection.close();
  return acknowledged;
}

/** Sends messages one per connection, for tests that need only a few. */
async function sendMessages(port: number, count: number, label: string): Promise<string[]> {
  const ids: string[] = [];
  for (let index = 0; index < count; index += 1) {
    const raw = `Subject: ${label} ${index}\r\n\r\nbody ${index}\r\n`;
    const envelope = { from: 'sender@office.test', to: [`${label}${index}@example.test`] };
    ids.push(await submitMessage({ host: '127.0.0.1', port }, envelope, raw));
  }
  return ids;
}

/** Counts how often each relay queue id reached the fake. */
function deliveriesById(fake: FakeSmartHost): Map<string, number> {
  const counts = new Map<string, number>();
  for (const message of fake.messages) {
    const id = receivedQueueId(message.raw);
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

describe('crash and restart', () => {
  it('delivers every 250 after kill -9', async (context) => {
    // A short pause before each 250 keeps deliveries in flight.
    const fake = await startFake({
      onData: () => new Promise((resolve) => setTimeout(() => resolve(undefined), 5)),
    });
    const first = await startRelay({ fake });
    const clients = 20;
    const perClient = 25;

    const sending = Promise.all(
      Array.from({ length: clients }, (_, client) => sendUntilError(first.serve.port, client, perClient)),
    );
    // Kill while devices are still sending and the queue is draining.
    await waitUntil(() => fake.messages.length >= 60, '60 deliveries before the kill', 30_000);
    await first.serve.kill9();
    const killedAt = Date.now();
    // Connections up to this id belong to the killed relay. A message the
    // fake accepts on one of them after the kill was in flight too.
    const lastConnectionOfFirstRun = Math.max(0, ...fake.connections.map((item) => item.connectionId));
    const deliveredBeforeKill = fake.messages.length;
    const acknowledged = (await sending).flat();

    const second = await startRelay({ fake, dataDir: first.dataDir });
    // Mail was still queued, so the kill came in the middle of the run.
    const resumed = Number(second.serve.events('STARTED')[0]?.fields.queued);
    expect(resumed).toBeGreaterThan(0);

    await waitUntil(
      () => {
        const delivered = deliveriesById(fake);
        return acknowledged.every((id) => delivered.has(id));
      },
      'every acknowledged message to arrive',
      30_000,
    );
    await waitUntil(async () => (await queueFiles(first.dataDir)).length === 0, 'an empty queue', 10_000);

    const delivered = deliveriesById(fake);
    const firstRun = new Set(
      fake.messages
        .filter((message) => message.connectionId <= lastConnectionOfFirstRun)
        .map((message) => receivedQueueId(message.raw)),
    );
    const duplicates = [...delivered].filter(([, count]) => count > 1).map(([id]) => id);
    for (const id of duplicates) {
      // RFC 5321 section 6.1: only a message in flight at the crash may
      // arrive twice, so one copy came over the killed relay's connections,
      // and at most one per connection was in flight.
      expect(firstRun.has(id), `duplicate ${id} was in flight at the kill`).toBe(true);
      expect(delivered.get(id)).toBe(2);
    }
    expect(duplicates.length).toBeLessThanOrEqual(3);
    context.annotate(
      `kill -9 after ${deliveredBeforeKill} deliveries: ${acknowledged.length} messages had a 250, ` +
        `${resumed} were still queued at the restart, all arrived ` +
        `${Date.now() - killedAt} ms after the kill, ${duplicates.length} duplicates`,
    );
  });

  it('resumes held mail after a restart', async () => {
    // No smart host: mail is accepted and held.
    const held = await startRelay({ fake: null });
    const waiting = await held.serve.waitForEvent('WAITING');
    expect(waiting.fields.queued).toBe('0');
    const ids = await sendMessages(held.serve.port, 3, 'held');
    expect(await held.serve.stop()).toBe(0);
    // One .eml per message: each contains its first record after the message.
    expect(await queueFiles(held.dataDir)).toHaveLength(3);

    const fake = await startFake();
    const restarted = await startRelay({ fake, dataDir: held.dataDir });
    expect(restarted.serve.events('STARTED')[0]?.fields.queued).toBe('3');
    await fake.waitForMessages(3);
    expect([...deliveriesById(fake).keys()].sort()).toEqual([...ids].sort());
    await waitUntil(async () => (await queueFiles(held.dataDir)).length === 0, 'an empty queue');
  });

  it('keeps undelivered mail on SIGTERM', async () => {
    // Each message takes 300 ms to be accepted, so the stop comes mid-run.
    const fake = await startFake({
      onData: () => new Promise((resolve) => setTimeout(() => resolve(undefined), 300)),
    });
    const first = await startRelay({ fake: null });
    const ids = await sendMessages(first.serve.port, 12, 'term');
    expect(await first.serve.stop()).toBe(0);

    const sending = await startRelay({ fake, dataDir: first.dataDir, args: ['--max-connections', '2'] });
    await fake.waitForMessages(2);
    expect(await sending.serve.stop()).toBe(0);
    expect(sending.serve.events('STOPPING')).toHaveLength(1);
    const stopped = sending.serve.events('STOPPED');
    expect(stopped).toHaveLength(1);

    const deliveredFirst = new Set(deliveriesById(fake).keys());
    expect(deliveredFirst.size).toBeLessThan(ids.length);
    // STOPPED reports what stays queued, and that is what the disk holds.
    const stillQueued = Number(stopped[0]?.fields.queued);
    expect(stillQueued).toBe(ids.length - deliveredFirst.size);
    expect((await queueFiles(first.dataDir)).filter((name) => name.endsWith('.eml'))).toHaveLength(stillQueued);

    const last = await startRelay({ fake, dataDir: first.dataDir });
    expect(last.serve.events('STARTED')[0]?.fields.queued).toBe(String(stillQueued));
    await waitUntil(() => ids.every((id) => deliveriesById(fake).has(id)), 'every message to arrive', 20_000);
    for (const [id, count] of deliveriesById(fake)) expect(count, `deliveries of ${id}`).toBe(1);
  });
});

/** Reads the record that the relay stored after the message in an .eml file. */
async function recordInMessageFile(emlPath: string): Promise<Record<string, unknown>> {
  // latin1 keeps one character per byte, so the footer's byte count indexes the text.
  const text = await readFile(emlPath, 'latin1');
  const footer = /\nrecord-length:(\d{10})\n$/.exec(text);
  if (!footer) throw new Error(`no record footer in ${emlPath}`);
  const length = Number(footer[1]);
  const json = Buffer.from(text.slice(footer.index - length, footer.index), 'latin1').toString('utf8');
  return JSON.parse(json) as Record<string, unknown>;
}

describe('one relay per data folder', () => {
  it('refuses a second relay on a folder in use', async () => {
    const first = await startRelay({ fake: null });
    const ids = await sendMessages(first.serve.port, 5, 'locked');
    const fake = await startFake();

    // A second relay on the same folder, with a smart host, must neither
    // deliver nor delete the first one's mail.
    const second = startRelay({ fake, dataDir: first.dataDir });
    await expect(second).rejects.toThrow(new RegExp(`another relay \\(process ${first.serve.pid}\\) is using the data folder`));
    await delay(300);
    expect(fake.receivedMessages).toHaveLength(0);
    expect(await queueFiles(first.dataDir)).toHaveLength(5);

    // Once the first stops, the folder is free, and the rest is delivered.
    expect(await first.serve.stop()).toBe(0);
    await startRelay({ fake, dataDir: first.dataDir });
    await fake.waitForMessages(5);
    expect([...deliveriesById(fake).keys()].sort()).toEqual([...ids].sort());
  });

  it('takes over the lock of a relay that was killed', async () => {
    const first = await startRelay({ fake: null });
    const ids = await sendMessages(first.serve.port, 2, 'stale');
    await first.serve.kill9();
    expect(await readFile(join(first.dataDir, 'relay.lock'), 'utf8')).toBe(`${first.serve.pid}\n`);

    const fake = await startFake();
    await startRelay({ fake, dataDir: first.dataDir });
    await fake.waitForMessages(2);
    expect([...deliveriesById(fake).keys()].sort()).toEqual([...ids].sort());
  });
});

describe('damaged spool', () => {
  it('moves corrupt records aside', async () => {
    const held = await startRelay({ fake: null });
    const ids = await sendMessages(held.serve.port, 4, 'corrupt');
    expect(await held.serve.stop()).toBe(0);
    const queueDir = join(held.dataDir, 'queue');
    const [garbage, truncated, badField, good] = ids as [string, string, string, string];

    // A state file that is cut off, a message file without its end (so
    // without its record), and a state file with an invalid field.
    await writeFile(join(queueDir, `${garbage}.json`), '{"version": 1, "id": ');
    await truncate(join(queueDir, `${truncated}.eml`), 10);
    const record = await recordInMessageFile(join(queueDir, `${badField}.eml`));
    await writeFile(join(queueDir, `${badField}.json`), JSON.stringify({ ...record, recipients: [] }));
    // A state file without its message is a removal that was cut short.
    await appendFile(join(queueDir, 'ORPHAN0000000000.json'), '{}');

    const fake = await startFake();
    const restarted = await startRelay({ fake, dataDir: held.dataDir });
    const corrupt = restarted.serve.events('CORRUPT');
    expect(corrupt.map((event) => event.fields.id).sort()).toEqual([garbage, truncated, badField].sort());
    for (const event of corrupt) expect(event.fields.reason).toBeTruthy();
    expect(restarted.serve.events('ORPHAN').map((event) => event.fields.id)).toEqual(['ORPHAN0000000000']);

    const [relayed] = await fake.waitForMessages(1);
    expect(receivedQueueId(relayed!.raw)).toBe(good);
    await waitUntil(async () => (await queueFiles(held.dataDir)).length === 0, 'an empty queue');
    const moved = (await readdir(join(held.dataDir, 'corrupt'))).sort();
    expect(moved).toEqual(
      [`${garbage}.eml`, `${garbage}.json`, `${truncated}.eml`, `${badField}.eml`, `${badField}.json`].sort(),
    );
    await delay(300);
    expect(fake.receivedMessages).toHaveLength(1);
  });
});

describe('full disk', () => {
  it('replies 452 4.3.1 through the listener', async () => {
    const fake = await startFake();
    const dataDir = await createTempDir('full');
    const [, tlsCert, , tlsKey] = await listenerCertificateArgs(dataDir);
    let full = true;
    // The disk fills up while the message body is being written.
    const fileSystem = faultyFileSystem(
      (call) => full && call.operation === 'write' && call.path.includes(`${sep}tmp${sep}`) && call.path.endsWith('.eml'),
    );
    const settings = mergeSettings({
      listen: { host: '127.0.0.1', port: 0 },
      hostname: RELAY_HOSTNAME,
      smarthost: { host: fake.host, port: fake.port },
      security: 'none',
      tlsCert: tlsCert ?? null,
      tlsKey: tlsKey ?? null,
      retryInitialSeconds: 0.2,
      retryMaxSeconds: 1,
      idleTimeoutSeconds: 0.5,
    });
    const relay = await Relay.start({ dataDir, settings, password: null, fileSystem });
    const events: RelayEvent[] = [];
    relay.bus.subscribe((event) => events.push(event));

    try {
      const address = relay.listenAddress!;
      const message = (to: string) => [
        { send: 'MAIL FROM:<device@office.test>\r\n', expect: SMTP_REPLY_LINE },
        { send: `RCPT TO:<${to}>\r\n`, expect: SMTP_REPLY_LINE },
        { send: 'DATA\r\n', expect: SMTP_REPLY_LINE },
        { send: `Subject: disk\r\n\r\n${'x'.repeat(5000)}\r\n.\r\n`, expect: SMTP_REPLY_LINE },
      ];

      const rejected = await rawSession(address.host, address.port, [
        { send: 'EHLO client.test\r\n', expect: /^250 /m },
        ...message('lost@example.test'),
        { send: 'RSET\r\n', expect: SMTP_REPLY_LINE },
        { send: 'QUIT\r\n', expect: SMTP_REPLY_LINE },
      ]);
      expect(rejected.replies[4]).toMatch(/^452 4\.3\.1 /);
      // The session survives the failure.
      expect(rejected.replies[5]).toMatch(/^250 /);
      expect(fileSystem.calls.some((call) => call.operation === 'write' && call.path.endsWith('.eml'))).toBe(true);
      expect(await queueFiles(dataDir)).toEqual([]);
      expect(await tmpFiles(dataDir)).toEqual([]);
      expect(events.filter((event) => event.event === 'QUEUED')).toHaveLength(0);

      // Space again: the next message goes through.
      full = false;
      const accepted = await rawSession(address.host, address.port, [
        { send: 'EHLO client.test\r\n', expect: /^250 /m },
        ...message('kept@example.test'),
        { send: 'QUIT\r\n', expect: SMTP_REPLY_LINE },
      ]);
      expect(accepted.replies[4]).toMatch(/^250 /);

      const [relayed] = await fake.waitForMessages(1);
      expect(relayed?.to).toEqual(['kept@example.test']);
      await delay(200);
      expect(fake.receivedMessages).toHaveLength(1);
    } finally {
      await relay.stop();
    }
  });
});
