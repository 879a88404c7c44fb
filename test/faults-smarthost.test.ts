// Smart-host faults, one test each. The connection closes in the middle
// of DATA. The smart host goes silent after the final dot, or at MAIL
// FROM. The TLS handshake fails, with implicit TLS and with STARTTLS.
// The greeting is 421. The port is closed. In each case nothing is lost:
// the message is deferred, retried with exponential backoff, and arrives
// once the smart host works again. The relay runs in process with
// jitter turned off (random = 0), so each backoff is exact.
import { unlink, writeFile } from 'node:fs/promises';
import { createServer, createConnection } from 'node:net';
import type { Server, Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RelayEvent } from '../core/events.ts';
import { Relay } from '../core/relay.ts';
import type { Settings } from '../core/settings.ts';
import { startFakeSmartHost } from './support/fake-smarthost.ts';
import type { FakeSmartHost, FakeSmartHostOptions } from './support/fake-smarthost.ts';
import { delay, queueFiles, receivedQueueId, submitMessage, waitUntil } from './support/relay-harness.ts';
import { describeEvents, testSettings } from './support/throttling-harness.ts';
import { useTempDirs } from './support/tmp.ts';

const createTempDir = useTempDirs();

const RETRY_INITIAL_SECONDS = 0.5;
const RETRY_MAX_SECONDS = 4;
const REPLY_TIMEOUT_SECONDS = 1;
// The DEFERRED line is written a moment after the delay is computed (the
// record is saved first), so it may show up to this much less.
const LOGGING_SLACK_MS = 100;
const WAIT_MS = 20_000;

interface Harness {
  readonly relay: Relay;
  readonly events: RelayEvent[];
  readonly listen: { host: string; port: number };
  of(word: RelayEvent['event']): RelayEvent[];
}

const relays: Relay[] = [];
const fakes: FakeSmartHost[] = [];
const ports: FaultyPort[] = [];

afterEach(async () => {
  await Promise.all(relays.splice(0).map((relay) => relay.stop()));
  await Promise.all(ports.splice(0).map((port) => port.close()));
  await Promise.all(fakes.splice(0).map((fake) => fake.stop()));
});

async function startFake(options: FakeSmartHostOptions = {}): Promise<FakeSmartHost> {
  const fake = await startFakeSmartHost(options);
  fakes.push(fake);
  return fake;
}

/** Starts a relay in process that forwards to `smarthost`, without jitter. */
async function startTestRelay(smarthost: { host: string; port: number }, patch: Partial<Settings> = {}): Promise<Harness> {
  const dataDir = await createTempDir('faults');
  const settings = await testSettings(dataDir, null, {
    smarthost: { host: smarthost.host, port: smarthost.port },
    retryInitialSeconds: RETRY_INITIAL_SECONDS,
    retryMaxSeconds: RETRY_MAX_SECONDS,
    replyTimeoutSeconds: REPLY_TIMEOUT_SECONDS,
    idleTimeoutSeconds: 0.5,
    ...patch,
  });
  const relay = await Relay.start({ dataDir, settings, password: null, random: () => 0 });
  relays.push(relay);
  const events: RelayEvent[] = [];
  relay.bus.subscribe((event) => events.push(event));
  return { relay, events, listen: relay.listenAddress!, of: (word) => events.filter((event) => event.event === word) };
}

function submit(harness: Harness, to: string, body = 'body\r\n'): Promise<string> {
  return submitMessage(harness.listen, { from: 'device@office.test', to: [to] }, `Subject: fault\r\n\r\n${body}`);
}

/** Returns the backoff a DEFERRED event announces: its next attempt minus its own time. */
function backoffMs(event: RelayEvent): number {
  return Date.parse(String(event.fields.next)) - event.time;
}

/** Returns the exact delay before retry `attempts` + `extraSteps` with jitter off. */
function expectedBackoffMs(attempts: number, extraSteps = 0): number {
  const seconds = RETRY_INITIAL_SECONDS * 2 ** (attempts - 1 + extraSteps);
  return Math.min(seconds, RETRY_MAX_SECONDS) * 1000;
}

function expectBackoff(event: RelayEvent | undefined, attempts: number, extraSteps = 0): void {
  expect(event, 'a DEFERRED event').toBeDefined();
  const expected = expectedBackoffMs(attempts, extraSteps);
  expect(event!.fields.attempts).toBe(attempts);
  expect(backoffMs(event!)).toBeGreaterThan(expected - LOGGING_SLACK_MS);
  expect(backoffMs(event!)).toBeLessThanOrEqual(expected);
}

async function waitForEvent(harness: Harness, word: RelayEvent['event'], count = 1): Promise<RelayEvent[]> {
  await waitUntil(() => harness.of(word).length >= count, `${count} ${word} events`, WAIT_MS).catch((error: Error) => {
    throw new Error(`${error.message}\n${describeEvents(harness.events)}`);
  });
  return harness.of(word);
}

/** Checks that `id` was accepted exactly once and the queue is empty. */
async function expectDeliveredOnce(harness: Harness, fake: FakeSmartHost, id: string): Promise<void> {
  await waitForEvent(harness, 'SENT');
  const accepted = fake.messages.filter((message) => receivedQueueId(message.raw) === id);
  expect(accepted).toHaveLength(1);
  await waitUntil(async () => (await queueFiles(harness.relay.dataDir)).length === 0, 'an empty queue');
}

type FaultMode = 'forward' | 'tls-garbage' | 'starttls-garbage';

/**
 * A TCP port in front of a fake smart host that can misbehave. It can
 * send plain text to a TLS client, break the STARTTLS handshake, or stop
 * listening altogether (a closed port), and later forward again.
 */
class FaultyPort {
  readonly host = '127.0.0.1';
  mode: FaultMode = 'forward';
  connections = 0;
  #server: Server | null = null;
  readonly #sockets = new Set<Socket>();
  readonly #target: { host: string; port: number };
  port = 0;

  constructor(target: { host: string; port: number }) {
    this.#target = target;
  }

  /** Listens on the port it had before, or on a new one the first time. */
  async open(): Promise<void> {
    const server = createServer((socket) => this.#accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as { port: number }).port;
    this.#server = server;
  }

  /** Stops listening, so connections are refused, and drops open ones. */
  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    const server = this.#server;
    this.#server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    this.connections += 1;
    this.#sockets.add(client);
    client.once('close', () => this.#sockets.delete(client));
    client.on('error', () => undefined);

    if (this.mode === 'tls-garbage') {
      // A plain-text greeting where the client expects a TLS handshake.
      client.end('220 faulty.test ESMTP not TLS at all\r\n');
      return;
    }
    if (this.mode === 'starttls-garbage') {
      this.#breakStartTls(client);
      return;
    }
    const upstream = createConnection(this.#target);
    this.#sockets.add(upstream);
    upstream.once('close', () => this.#sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** Speaks SMTP up to STARTTLS, then sends bytes that are not TLS. */
  #breakStartTls(client: Socket): void {
    let buffer = '';
    client.write('220 faulty.test ESMTP\r\n');
    client.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('latin1');
      for (let end = buffer.indexOf('\r\n'); end !== -1; end = buffer.indexOf('\r\n')) {
        const verb = buffer.slice(0, end).split(' ')[0]?.toUpperCase();
        buffer = buffer.slice(end + 2);
        if (verb === 'EHLO') client.write('250-faulty.test\r\n250 STARTTLS\r\n');
        else if (verb === 'STARTTLS') client.end('220 2.0.0 Ready\r\nthis is not a TLS record\r\n');
        else client.write('502 5.5.1 Not here\r\n');
      }
    });
  }
}

async function startFaultyPort(target: { host: string; port: number }): Promise<FaultyPort> {
  const faulty = new FaultyPort(target);
  ports.push(faulty);
  await faulty.open();
  return faulty;
}

describe('smart host drops or stalls', () => {
  it('closes mid-DATA: deferred, then sent', async () => {
    // 2 MB, so the relay is still writing when the fake cuts it off.
    const body = `${'z'.repeat(998)}\r\n`.repeat(2_000);
    let cuts = 1;
    const fake = await startFake({
      closeAfterDataBytes: () => (cuts-- > 0 ? 64 * 1024 : undefined),
    });
    const harness = await startTestRelay(fake);

    const id = await submit(harness, 'cut@example.test', body);
    const [deferred] = await waitForEvent(harness, 'DEFERRED');
    expect(fake.interruptedMessages).toHaveLength(1);
    expect(deferred?.fields.id).toBe(id);
    // The smart host never saw the final dot, so this is no unknown outcome.
    expect(deferred?.fields.reason).not.toBe('unknown-outcome');
    expectBackoff(deferred, 1);

    await expectDeliveredOnce(harness, fake, id);
    expect(fake.messages[0]?.raw.length).toBeGreaterThan(2_000_000);
  });

  it('unreadable message file: connection dropped, rest sent', async () => {
    // One connection at a time and a long reply timeout: had the session
    // been kept after the failed read, the next message would wait a minute.
    const fake = await startFake();
    const harness = await startTestRelay(fake, { maxConnections: 1, replyTimeoutSeconds: 60 });
    harness.relay.pause();
    const lost = await submit(harness, 'lost@example.test');
    const readable = [await submit(harness, 'kept1@example.test'), await submit(harness, 'kept2@example.test')];
    await unlink(join(harness.relay.dataDir, 'queue', `${lost}.eml`));

    const startedAt = Date.now();
    harness.relay.resume();
    const [deferred] = await waitForEvent(harness, 'DEFERRED');
    expect(deferred?.fields.id).toBe(lost);
    expect(String(deferred?.fields.reply)).toMatch(/ENOENT/);
    await waitForEvent(harness, 'SENT', 2);
    expect(Date.now() - startedAt).toBeLessThan(10_000);
    expect(fake.messages.map((message) => receivedQueueId(message.raw)).sort()).toEqual([...readable].sort());
    expect(fake.connectionsOpened).toBe(2);
  });

  it('silent after the dot: unknown outcome, longer wait', async () => {
    let silences = 1;
    const fake = await startFake({
      onData: () => (silences-- > 0 ? { action: 'silent' } : undefined),
    });
    const harness = await startTestRelay(fake);

    const id = await submit(harness, 'silent@example.test');
    const [deferred] = await waitForEvent(harness, 'DEFERRED');
    expect(deferred?.fields.id).toBe(id);
    expect(deferred?.fields.reason).toBe('unknown-outcome');
    // RFC 5321 section 6.1: the smart host may have the message, so the
    // retry waits one backoff step longer than a first retry would.
    expectBackoff(deferred, 1, 1);
    expect(backoffMs(deferred!)).toBeGreaterThan(expectedBackoffMs(1));

    const sent = await waitForEvent(harness, 'SENT');
    expect(sent[0]!.time - deferred!.time).toBeGreaterThanOrEqual(expectedBackoffMs(1, 1) - LOGGING_SLACK_MS);
    // The silent copy reached the smart host too: the one duplicate that
    // RFC 5321 section 6.1 accepts over a possible loss.
    expect(fake.receivedMessages.map((message) => message.outcome)).toEqual(['silent', 'accepted']);
    await expectDeliveredOnce(harness, fake, id);
  });

  it('silent after the dot at a stop: stops, keeps it', async () => {
    // A reply timeout longer than the stop's grace, so the stop cuts the
    // session off while it waits for the reply.
    const fake = await startFake({ onData: () => ({ action: 'silent' }) });
    const harness = await startTestRelay(fake, { replyTimeoutSeconds: 60 });
    const id = await submit(harness, 'silent@example.test');
    await waitUntil(() => fake.receivedMessages.length === 1, 'the message at the smart host');

    const stopped = harness.relay.stop().then(() => 'stopped');
    const timeout = delay(20_000).then(() => 'still running');
    expect(await Promise.race([stopped, timeout])).toBe('stopped');
    expect(harness.of('STOPPED')).toHaveLength(1);
    expect(harness.of('STOPPED')[0]?.fields.queued).toBe(1);
    expect(await queueFiles(harness.relay.dataDir)).toContain(`${id}.eml`);
  });

  it('silent at MAIL FROM: reply timeout, normal backoff', async () => {
    let silences = 2;
    const fake = await startFake({
      onMailFrom: () => (silences-- > 0 ? { action: 'silent' } : undefined),
    });
    const harness = await startTestRelay(fake);

    const id = await submit(harness, 'timeout@example.test');
    const deferred = await waitForEvent(harness, 'DEFERRED', 2);
    expect(deferred[0]?.fields.reason).not.toBe('unknown-outcome');
    expect(String(deferred[0]?.fields.reply)).toMatch(/time/i);
    expectBackoff(deferred[0], 1);
    expectBackoff(deferred[1], 2);
    // Each attempt waited about the reply timeout before it gave up.
    expect(deferred[1]!.time - deferred[0]!.time).toBeGreaterThanOrEqual(
      expectedBackoffMs(1) + REPLY_TIMEOUT_SECONDS * 1000 - LOGGING_SLACK_MS,
    );

    await expectDeliveredOnce(harness, fake, id);
    expect(fake.receivedMessages).toHaveLength(1);
  });
});

describe('smart host refuses to talk', () => {
  it('TLS handshake fails: deferred, then sent', async () => {
    const fake = await startFake({ security: 'tls' });
    const faulty = await startFaultyPort(fake);
    faulty.mode = 'tls-garbage';
    const caFile = join(await createTempDir('ca'), 'ca.pem');
    await writeFile(caFile, fake.tls!.ca);
    const harness = await startTestRelay(faulty, { security: 'tls', smarthostCa: caFile });

    const id = await submit(harness, 'tls@example.test');
    const deferred = await waitForEvent(harness, 'DEFERRED', 2);
    const failed = harness.of('CONNECT_FAILED');
    expect(failed.length).toBeGreaterThanOrEqual(2);
    expect(failed.every((event) => event.fields.stage !== 'data')).toBe(true);
    expectBackoff(deferred[0], 1);
    expectBackoff(deferred[1], 2);

    faulty.mode = 'forward';
    await expectDeliveredOnce(harness, fake, id);
    expect(fake.messages[0]?.secure).toBe(true);
  });

  it('STARTTLS handshake fails: deferred, then sent', async () => {
    const fake = await startFake({ security: 'starttls' });
    const faulty = await startFaultyPort(fake);
    faulty.mode = 'starttls-garbage';
    const caFile = join(await createTempDir('ca'), 'ca.pem');
    await writeFile(caFile, fake.tls!.ca);
    const harness = await startTestRelay(faulty, { security: 'starttls', smarthostCa: caFile });

    const id = await submit(harness, 'starttls@example.test');
    const deferred = await waitForEvent(harness, 'DEFERRED', 2);
    expect(harness.of('CONNECT_FAILED').length).toBeGreaterThanOrEqual(2);
    expectBackoff(deferred[0], 1);
    expectBackoff(deferred[1], 2);

    faulty.mode = 'forward';
    await expectDeliveredOnce(harness, fake, id);
    expect(fake.messages[0]?.secure).toBe(true);
  });

  it('421 greeting: deferred, then sent', async () => {
    let refusals = 2;
    const fake = await startFake({
      onConnect: () => (refusals-- > 0 ? { code: 421, message: '4.3.2 Service not available, closing channel' } : undefined),
    });
    const harness = await startTestRelay(fake);

    const id = await submit(harness, 'greeting@example.test');
    const deferred = await waitForEvent(harness, 'DEFERRED', 2);
    const failed = harness.of('CONNECT_FAILED');
    expect(failed[0]?.fields.stage).toBe('greeting');
    expect(failed[0]?.fields.reply).toBe('421 4.3.2 Service not available, closing channel');
    expectBackoff(deferred[0], 1);
    expectBackoff(deferred[1], 2);

    await expectDeliveredOnce(harness, fake, id);
  });

  it('closed port: deferred with backoff, then sent', async () => {
    const fake = await startFake();
    const faulty = await startFaultyPort(fake);
    await faulty.close();
    const harness = await startTestRelay(faulty);

    const ids = [await submit(harness, 'down-1@example.test'), await submit(harness, 'down-2@example.test')];
    // Both messages are deferred together, three times, with growing waits.
    const deferred = await waitForEvent(harness, 'DEFERRED', 6);
    for (const id of ids) {
      const own = deferred.filter((event) => event.fields.id === id);
      expectBackoff(own[0], 1);
      expectBackoff(own[1], 2);
      expectBackoff(own[2], 3);
    }
    expect(harness.of('CONNECT_FAILED')[0]?.fields.reply).toMatch(/ECONNREFUSED/);
    expect(fake.connectionsOpened).toBe(0);

    await faulty.open();
    await waitForEvent(harness, 'SENT', 2);
    for (const id of ids) {
      expect(fake.messages.filter((message) => receivedQueueId(message.raw) === id)).toHaveLength(1);
    }
    await waitUntil(async () => (await queueFiles(harness.relay.dataDir)).length === 0, 'an empty queue');
  });
});
