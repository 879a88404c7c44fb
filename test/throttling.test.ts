// Connection and transaction limits, measured at a fake smart host: 421
// replies to connections beyond the smart host's own limit, rate-limit
// replies inside a session, the minimum gap between messages, and the
// split of large envelopes.
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
} from './support/throttling-harness.ts';
import type { RelayHarness } from './support/throttling-harness.ts';
import { useTempDirs } from './support/tmp.ts';

const createTempDir = useTempDirs();

const fakes: FakeSmartHost[] = [];
const relays: RelayHarness[] = [];

async function startFake(options: FakeSmartHostOptions = {}): Promise<FakeSmartHost> {
  const fake = await startFakeSmartHost(options);
  fakes.push(fake);
  return fake;
}

async function startTestRelay(
  fake: FakeSmartHost,
  settings: Parameters<typeof startRelay>[0]['settings'],
): Promise<RelayHarness> {
  const harness = await startRelay({ dataDir: await createTempDir('throttling'), fake, settings });
  relays.push(harness);
  return harness;
}

afterEach(async () => {
  await Promise.all(relays.splice(0).map((harness) => harness.relay.stop()));
  await Promise.all(fakes.splice(0).map((fake) => fake.stop()));
});

/** Returns the distinct subjects of the messages the fake accepted. */
function acceptedSubjects(fake: FakeSmartHost): Set<string> {
  return new Set(fake.messages.map((message) => subjectOf(message.raw)));
}

describe('smart host connection limit', () => {
  it('421 beyond two connections settles at two', async () => {
    const SMART_HOST_LIMIT = 2;
    const MESSAGE_COUNT = 300;
    const SETTLE_MS = 10_000;
    // Each accepted message costs the fake this long, so the load lasts
    // past SETTLE_MS and the settled phase has deliveries to measure.
    const DATA_DELAY_MS = 80;

    const fake = await startFake();
    const accepted = new Set<number>();
    const rejectedAt: number[] = [];
    fake.setHooks({
      // smtp-server calls onConnect about 100 ms after accepting the
      // socket, so a connection the relay has closed is closed here too.
      onConnect: (connection) => {
        const open = fake.connections.filter(
          (record) => accepted.has(record.connectionId) && record.closedAt === undefined,
        ).length;
        if (open >= SMART_HOST_LIMIT) {
          rejectedAt.push(Date.now());
          return { code: 421, message: '4.7.0 Too many concurrent SMTP connections from this IP' };
        }
        accepted.add(connection.connectionId);
        return undefined;
      },
      onData: async () => {
        await sleep(DATA_DELAY_MS);
        return undefined;
      },
    });
    const harness = await startTestRelay(fake, { maxConnections: 10, maxMessagesPerConnection: 20 });

    const samples: { at: number; open: number }[] = [];
    const sampler = setInterval(() => {
      samples.push({ at: Date.now(), open: harness.relay.scheduler.openConnections });
    }, 25);
    const startedAt = Date.now();
    try {
      await submitMessages(harness.listen, numberedMessages('load', MESSAGE_COUNT));
      await fake.waitForMessages(MESSAGE_COUNT, 45_000);
    } finally {
      clearInterval(sampler);
    }
    const settledAt = startedAt + SETTLE_MS;

    expect(acceptedSubjects(fake).size).toBe(MESSAGE_COUNT);
    expect(fake.maxTransactionsOnOneConnection).toBeLessThanOrEqual(20);
    expect(rejectedAt.length).toBeGreaterThan(0);
    expect(rejectedAt.filter((at) => at >= settledAt)).toEqual([]);

    const settledSamples = samples.filter((sample) => sample.at >= settledAt);
    expect(settledSamples.length).toBeGreaterThan(0);
    expect(Math.max(...settledSamples.map((sample) => sample.open))).toBeLessThanOrEqual(SMART_HOST_LIMIT);

    const sentLate = harness.eventsOf('SENT').filter((event) => event.time >= settledAt).length;
    const deferredLate = harness.eventsOf('DEFERRED').filter((event) => event.time >= settledAt).length;
    // Without deliveries after SETTLE_MS the ratio below would prove nothing.
    expect(sentLate).toBeGreaterThan(20);
    expect(deferredLate / sentLate).toBeLessThan(0.05);

    const throttled = harness.eventsOf('THROTTLED');
    expect(throttled.length).toBeGreaterThan(0);
    const limit = harness.relay.status().smartHosts[0]?.connectionLimit;
    expect(limit, describeEvents(throttled)).toBeGreaterThanOrEqual(1);
    expect(limit, describeEvents(throttled)).toBeLessThanOrEqual(SMART_HOST_LIMIT);
  }, 60_000);

  // Smart hosts send rate-limit replies at any stage of a transaction.
  it.each(['MAIL', 'RCPT', 'DATA'] as const)('451 at %s lowers the limit', async (stage) => {
    const MESSAGE_COUNT = 40;
    const RATE_LIMITED_CALLS = new Set([3, 10, 17]);
    const fake = await startFake();
    let calls = 0;
    const rateLimit = (): Reply | undefined => {
      calls += 1;
      if (!RATE_LIMITED_CALLS.has(calls)) return undefined;
      return { code: 451, message: '4.7.1 Rate limited, slow down' };
    };
    if (stage === 'MAIL') fake.setHooks({ onMailFrom: rateLimit });
    if (stage === 'RCPT') fake.setHooks({ onRcptTo: rateLimit });
    if (stage === 'DATA') fake.setHooks({ onData: rateLimit });
    const harness = await startTestRelay(fake, { maxConnections: 4 });

    await submitMessages(harness.listen, numberedMessages('rate', MESSAGE_COUNT));
    await fake.waitForMessages(MESSAGE_COUNT, 20_000);

    expect(acceptedSubjects(fake).size).toBe(MESSAGE_COUNT);
    const throttled = harness.eventsOf('THROTTLED');
    const first = throttled[0];
    expect(first, describeEvents(harness.eventsOf('DEFERRED'))).toBeDefined();
    expect(first?.fields.previous).toBe(4);
    expect(first?.fields.limit).toBe(2);
    expect(first?.fields.reply).toContain('Rate limited');
    expect(throttled.length).toBe(RATE_LIMITED_CALLS.size);
    expect(harness.relay.status().smartHosts[0]?.connectionLimit).toBe(1);
    expect(harness.relay.status().smartHosts[0]?.state).toBe('throttled');

    const deferred = harness.eventsOf('DEFERRED');
    expect(deferred.length).toBe(RATE_LIMITED_CALLS.size);
    expect(deferred.every((event) => event.fields.reason === 'throttled')).toBe(true);
    expect(harness.eventsOf('BOUNCED')).toEqual([]);
  });
});

describe('transaction limits', () => {
  it('min gap spaces MAIL across connections', async () => {
    const GAP_MS = 200;
    // Loopback latency varies by a few ms between the relay's clock
    // reading and the fake's, in either direction.
    const LATENCY_TOLERANCE_MS = 5;
    const MESSAGE_COUNT = 8;
    const fake = await startFake();
    const mails: { at: number; connectionId: number }[] = [];
    fake.setHooks({
      onMailFrom: (_address, connection) => {
        mails.push({ at: Date.now(), connectionId: connection.connectionId });
        return undefined;
      },
    });
    const harness = await startTestRelay(fake, { maxConnections: 3, minGapMs: GAP_MS });

    await submitMessages(harness.listen, numberedMessages('gap', MESSAGE_COUNT));
    await fake.waitForMessages(MESSAGE_COUNT, 10_000);

    expect(mails.length).toBe(MESSAGE_COUNT);
    const gaps = mails.slice(1).map((mail, index) => mail.at - mails[index]!.at);
    expect(Math.min(...gaps), `gaps: ${gaps.join(', ')} ms`).toBeGreaterThanOrEqual(
      GAP_MS - LATENCY_TOLERANCE_MS,
    );
    expect(new Set(mails.map((mail) => mail.connectionId)).size).toBeGreaterThan(1);
  });

  it('250 recipients split 100, 100, 50', async () => {
    const fake = await startFake();
    const harness = await startTestRelay(fake, { maxRecipientsPerMessage: 100 });
    const recipients = Array.from({ length: 250 }, (_unused, index) => `r${index + 1}@dest.test`);
    const raw = buildMessage('split', 'sender@client.test', ['list@dest.test']);

    await submitMessages(harness.listen, [{ from: 'sender@client.test', to: recipients, raw }]);
    await fake.waitForMessages(3, 10_000);
    await sleep(300);

    const received = fake.receivedMessages;
    expect(received.map((message) => message.to.length)).toEqual([100, 100, 50]);
    const delivered = received.flatMap((message) => message.to);
    expect(delivered.length).toBe(recipients.length);
    expect(new Set(delivered)).toEqual(new Set(recipients));
    expect(received.every((message) => message.from === 'sender@client.test')).toBe(true);
    const bodies = new Set(received.map((message) => message.raw.toString('base64')));
    expect(bodies.size).toBe(1);

    const sent = harness.eventsOf('SENT');
    expect(new Set(sent.map((event) => event.fields.id)).size).toBe(1);
    expect(harness.relay.queue.size).toBe(0);
  });
});
