// Slow clients: a client that trickles a command or its message a few
// bytes at a time never lets the idle timeout fire, so the listener's
// client deadline has to end it. These tests run the relay with
// --client-timeout 1 and check that such a client gets 421 and loses
// its connection, that nothing of its message is stored, that the freed
// slot serves the next connection, and that a client which keeps up is
// never cut.
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { MIN_DATA_RATE_BYTES_PER_SECOND } from '../core/client-limits.ts';
import { DEFAULT_SETTINGS, SETTING_SPECS, parseSettingValue } from '../core/settings.ts';
import { startFakeSmartHost } from './support/fake-smarthost.ts';
import type { FakeSmartHost } from './support/fake-smarthost.ts';
import { delay, queueFiles, tmpFiles } from './support/relay-harness.ts';
import { startRelay } from './support/throttling-harness.ts';
import type { RelayHarness } from './support/throttling-harness.ts';
import { useTempDirs } from './support/tmp.ts';

const createTempDir = useTempDirs();

const fakes: FakeSmartHost[] = [];
const relays: RelayHarness[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(relays.splice(0).map((harness) => harness.relay.stop()));
  await Promise.all(fakes.splice(0).map((fake) => fake.stop()));
});

const CLIENT_TIMEOUT_SECONDS = 1;
// Well under the timeout, so each byte restarts the socket's idle timer.
const TRICKLE_INTERVAL_MS = 150;
const WAIT_MS = 10_000;
const REPLY_LINE = /^\d{3} [^\r\n]*\r\n/m;

/** A raw TCP client that records what the relay sends and when it closes. */
class RawClient {
  received = '';
  closedAt: number | null = null;
  readonly closed: Promise<void>;
  readonly #socket: Socket;

  constructor(port: number, localAddress: string) {
    this.#socket = connect({ host: '127.0.0.1', port, localAddress });
    sockets.push(this.#socket);
    this.#socket.on('error', () => undefined);
    this.#socket.on('data', (chunk: Buffer) => {
      this.received += chunk.toString('latin1');
    });
    this.closed = new Promise((resolve) =>
      this.#socket.once('close', () => {
        this.closedAt = Date.now();
        resolve();
      }),
    );
  }

  get isClosed(): boolean {
    return this.closedAt !== null;
  }

  write(text: string): void {
    if (!this.isClosed) this.#socket.write(text);
  }

  /** Waits until the output after `offset` matches, and returns that output. */
  async waitFor(pattern: RegExp, offset = 0): Promise<string> {
    const deadline = Date.now() + WAIT_MS;
    while (!pattern.test(this.received.slice(offset))) {
      if (Date.now() > deadline || this.isClosed) {
        throw new Error(`Expected ${pattern} from the relay; it sent ${JSON.stringify(this.received)}`);
      }
      await delay(10);
    }
    return this.received.slice(offset);
  }

  /** Sends a command and resolves with the reply to it. */
  async command(line: string): Promise<string> {
    const offset = this.received.length;
    this.write(`${line}\r\n`);
    return this.waitFor(REPLY_LINE, offset);
  }

  /**
   * Sends `text` one piece of `size` bytes every TRICKLE_INTERVAL_MS until
   * it is all sent or the relay closes the connection. Returns the bytes
   * sent.
   */
  async trickle(text: string, size = 1): Promise<number> {
    let sent = 0;
    while (sent < text.length && !this.isClosed) {
      this.write(text.slice(sent, sent + size));
      sent += size;
      await delay(TRICKLE_INTERVAL_MS);
    }
    return Math.min(sent, text.length);
  }

  destroy(): void {
    this.#socket.destroy();
  }
}

async function openClient(port: number, localAddress = '127.0.0.2'): Promise<RawClient> {
  const client = new RawClient(port, localAddress);
  await client.waitFor(/^220 /);
  return client;
}

async function startTestRelay(maxConnectionsPerClient = 20): Promise<{ harness: RelayHarness; fake: FakeSmartHost }> {
  const fake = await startFakeSmartHost();
  fakes.push(fake);
  const harness = await startRelay({
    dataDir: await createTempDir('slow'),
    fake,
    settings: { clientTimeoutSeconds: CLIENT_TIMEOUT_SECONDS, maxConnectionsPerClient },
  });
  relays.push(harness);
  return { harness, fake };
}

/** Brings a client into DATA and returns it. */
async function clientInData(port: number, to: string): Promise<RawClient> {
  const client = await openClient(port);
  expect(await client.command('EHLO slow.test')).toMatch(/^250 /m);
  expect(await client.command('MAIL FROM:<slow@office.test>')).toMatch(/^250 /);
  expect(await client.command(`RCPT TO:<${to}>`)).toMatch(/^250 /);
  expect(await client.command('DATA')).toMatch(/^354 /);
  return client;
}

describe('client timeout settings', () => {
  it('defaults to RFC 5321 server timeout', () => {
    expect(DEFAULT_SETTINGS.clientTimeoutSeconds).toBe(300);
    const spec = SETTING_SPECS.find((candidate) => candidate.key === 'clientTimeoutSeconds')!;
    expect(spec.flag).toBe('client-timeout');
    expect(parseSettingValue(spec, '1', 'flag')).toBe(1);
    expect(parseSettingValue(spec, '3600', 'flag')).toBe(3600);
    expect(() => parseSettingValue(spec, '0', 'flag')).toThrow(
      'Invalid value for --client-timeout: "0". Expected an integer from 1 to 3600.',
    );
  });

  it('limits connections per address', () => {
    const spec = SETTING_SPECS.find((candidate) => candidate.key === 'maxConnectionsPerClient')!;
    expect(spec.flag).toBe('max-connections-per-client');
    expect(() => parseSettingValue(spec, '1001', 'flag')).toThrow(
      'Invalid value for --max-connections-per-client: "1001". Expected an integer from 1 to 1000.',
    );
  });
});

describe('slow clients', () => {
  it('cuts a client trickling a command', async () => {
    const { harness } = await startTestRelay();
    const client = await openClient(harness.listen.port);
    expect(await client.command('EHLO slow.test')).toMatch(/^250 /m);

    const offset = client.received.length;
    const startedAt = Date.now();
    // 30 bytes at one per 150 ms would take 4.5 s to complete the line.
    const sent = await client.trickle('MAIL FROM:<slow@office.test>\r\n');
    await client.closed;

    expect(client.received.slice(offset)).toBe('421 4.4.2 Timeout: the client took too long, closing the connection\r\n');
    expect(sent).toBeLessThan(30);
    const elapsedMs = client.closedAt! - startedAt;
    expect(elapsedMs).toBeGreaterThanOrEqual(CLIENT_TIMEOUT_SECONDS * 1000 - 100);
    expect(elapsedMs).toBeLessThan(CLIENT_TIMEOUT_SECONDS * 1000 + 1500);

    const rejected = harness.eventsOf('REJECTED');
    expect(rejected.map((event) => event.fields)).toEqual([
      { client: '127.0.0.2', reason: 'timeout waiting for a command', timeout: '1s', skipped: undefined },
    ]);
  });

  it('cuts a silent client', async () => {
    const { harness } = await startTestRelay();
    const client = await openClient(harness.listen.port);
    const startedAt = Date.now();
    await client.closed;

    expect(client.received).toMatch(/\r\n421 4\.4\.2 /);
    expect(client.closedAt! - startedAt).toBeLessThan(CLIENT_TIMEOUT_SECONDS * 1000 + 1500);
  });

  it('cuts a client trickling its message', async () => {
    const { harness } = await startTestRelay();
    const client = await clientInData(harness.listen.port, 'slow-data@example.test');

    const offset = client.received.length;
    client.write('Subject: slow\r\n\r\n');
    // 5 bytes every 150 ms is about 33 bytes/s, far below the minimum rate.
    expect(5 * (1000 / TRICKLE_INTERVAL_MS)).toBeLessThan(MIN_DATA_RATE_BYTES_PER_SECOND);
    await client.trickle('x'.repeat(2000), 5);
    await client.closed;

    expect(client.received.slice(offset)).toMatch(/^421 4\.4\.2 /);
    expect(harness.eventsOf('REJECTED')[0]?.fields.reason).toBe('timeout in DATA');
    expect(harness.eventsOf('QUEUED')).toHaveLength(0);
    expect(await queueFiles(harness.relay.dataDir)).toEqual([]);
    expect(await tmpFiles(harness.relay.dataDir)).toEqual([]);
  });

  it('frees the slot for the next connection', async () => {
    const { harness, fake } = await startTestRelay(2);
    const port = harness.listen.port;
    const slow = [await openClient(port), await openClient(port)];
    const trickling = slow.map((client) => client.trickle('EHLO never-finished.example.test\r\n'));

    // Both slots of 127.0.0.2 are taken.
    const refused = new RawClient(port, '127.0.0.2');
    expect(await refused.waitFor(/^421 /)).toMatch(/^421 4\.7\.0 Too many connections/);

    await Promise.all(slow.map((client) => client.closed));
    await Promise.all(trickling);
    const next = await openClient(port);
    expect(await next.command('EHLO next.test')).toMatch(/^250 /m);
    expect(await next.command('MAIL FROM:<next@office.test>')).toMatch(/^250 /);
    expect(await next.command('RCPT TO:<freed@example.test>')).toMatch(/^250 /);
    expect(await next.command('DATA')).toMatch(/^354 /);
    expect(await next.command('Subject: freed\r\n\r\nbody\r\n.')).toMatch(/^250 /);
    await next.command('QUIT');

    const [relayed] = await fake.waitForMessages(1);
    expect(relayed?.to).toEqual(['freed@example.test']);
  });

  it('keeps a client that keeps up', async () => {
    const { harness, fake } = await startTestRelay();
    const client = await openClient(harness.listen.port);

    // Pauses shorter than the timeout between commands are fine.
    expect(await client.command('EHLO steady.test')).toMatch(/^250 /m);
    await delay(600);
    expect(await client.command('MAIL FROM:<steady@office.test>')).toMatch(/^250 /);
    await delay(600);
    expect(await client.command('RCPT TO:<steady@example.test>')).toMatch(/^250 /);
    expect(await client.command('DATA')).toMatch(/^354 /);

    // A message that takes 3 s, three timeouts, at about 40 KB/s.
    const offset = client.received.length;
    client.write('Subject: steady\r\n\r\n');
    for (let chunk = 0; chunk < 30; chunk += 1) {
      client.write(`${'y'.repeat(4000)}\r\n`);
      await delay(100);
    }
    client.write('.\r\n');
    expect(await client.waitFor(REPLY_LINE, offset)).toMatch(/^250 /);
    await client.command('QUIT');

    const [relayed] = await fake.waitForMessages(1);
    expect(relayed?.raw.length).toBeGreaterThan(120_000);
    expect(harness.eventsOf('REJECTED')).toHaveLength(0);
  });
});
