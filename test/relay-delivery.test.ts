// End-to-end delivery through `serve` with real SMTP clients: what a
// client puts on the wire reaches the smart host byte for byte, with one
// Received: header on top, and a burst of concurrent mail arrives exactly
// once within the default connection limits.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { runSmtpSource, sendWithSmtplib, sendWithSwaks } from './support/clients.ts';
import { startFakeSmartHost } from './support/fake-smarthost.ts';
import type { FakeSmartHost, ReceivedMessage } from './support/fake-smarthost.ts';
import { killAllServeProcesses } from './support/serve-process.ts';
import { useTempDirs } from './support/tmp.ts';
import {
  headerValue,
  hasBinary,
  parseClientTransactions,
  receivedQueueId,
  RELAY_HOSTNAME,
  SMTP_SOURCE_PATH,
  splitReceived,
  startRelay,
  startWireTap,
  SWAKS_PATH,
  waitUntil,
} from './support/relay-harness.ts';
import type { WireTap, WireTransaction } from './support/relay-harness.ts';

useTempDirs();
afterAll(killAllServeProcesses);

const fakes: FakeSmartHost[] = [];
const taps: WireTap[] = [];

afterEach(async () => {
  await Promise.all(fakes.splice(0).map((fake) => fake.stop()));
  await Promise.all(taps.splice(0).map((tap) => tap.close()));
});

async function startFake(): Promise<FakeSmartHost> {
  const fake = await startFakeSmartHost();
  fakes.push(fake);
  return fake;
}

const SWAKS_MISSING = 'swaks is not installed at /usr/bin/swaks (apt-get install swaks)';
const SMTP_SOURCE_MISSING =
  'smtp-source is not installed at /usr/sbin/smtp-source (apt-get install postfix)';

/**
 * Checks that `relayed` is `sent` with exactly one Received: header added
 * on top by this relay, and that the envelope is unchanged.
 */
function expectRelayedAsSent(relayed: ReceivedMessage, sent: WireTransaction): void {
  const { received, rest } = splitReceived(relayed.raw);
  expect(received).toMatch(new RegExp(`^Received: from .*\\r\\n\\tby ${RELAY_HOSTNAME} `));
  expect(rest.toString('latin1')).toBe(sent.data.toString('latin1'));
  expect(rest.equals(sent.data)).toBe(true);
  expect(relayed.from).toBe(sent.from);
  expect(relayed.to).toEqual(sent.to);
}

/** Finds the relayed message whose Message-ID header is `messageId`. */
function byMessageId(fake: FakeSmartHost, messageId: string): ReceivedMessage[] {
  return fake.messages.filter((message) => headerValue(message.raw, 'Message-ID') === messageId);
}

describe('relay with real clients', () => {
  it('relays swaks byte for byte', async (context) => {
    context.skip(!hasBinary(SWAKS_PATH), SWAKS_MISSING);
    const fake = await startFake();
    const { serve } = await startRelay({ fake });
    const tap = await startWireTap(serve);
    taps.push(tap);

    const data =
      'From: Scanner <scanner@office.test>\r\n' +
      'To: alice@example.test\r\n' +
      'Subject: Scan to mail,\r\n' +
      ' folded onto a second line\r\n' +
      'Message-ID: <swaks-1@office.test>\r\n' +
      'DKIM-Signature: v=1; a=rsa-sha256; d=office.test; s=s1;\r\n' +
      '\tbh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=abc\r\n' +
      '\r\n' +
      '.a line that starts with a dot\r\n' +
      '..two dots\r\n' +
      '.\r\n' +
      'trailing spaces   \r\n' +
      '\r\n' +
      '\r\n';
    const result = await sendWithSwaks({
      host: tap.host,
      port: tap.port,
      from: 'scanner@office.test',
      to: ['alice@example.test', 'bob@example.test'],
      data,
    });
    expect(result.exitCode, result.stdout).toBe(0);
    expect(result.lastReply).toMatch(/^250 /);

    const [relayed] = await fake.waitForMessages(1);
    const [sent] = parseClientTransactions(tap.clientBytes[0] ?? Buffer.alloc(0));
    expect(sent?.data.toString('latin1')).toBe(data);
    expectRelayedAsSent(relayed!, sent!);
    expect(relayed?.to).toEqual(['alice@example.test', 'bob@example.test']);
  });

  it('relays smtplib byte for byte', async () => {
    const fake = await startFake();
    const { serve } = await startRelay({ fake });
    const tap = await startWireTap(serve);
    taps.push(tap);

    const data = Buffer.from(
      'From: accounts@office.test\r\n' +
        'To: undisclosed-recipients:;\r\n' +
        'Subject: Invoice 42\r\n' +
        'Message-ID: <smtplib-1@office.test>\r\n' +
        'MIME-Version: 1.0\r\n' +
        'Content-Type: text/plain; charset=us-ascii\r\n' +
        '\r\n' +
        '.hidden\r\n' +
        'Tab\tseparated\tcolumns\r\n' +
        'The end.\r\n',
      'latin1',
    );
    const result = await sendWithSmtplib({
      host: tap.host,
      port: tap.port,
      from: 'accounts@office.test',
      to: ['carol@example.test', 'dave@example.test', 'erin@example.test'],
      data,
    });
    expect(result.error, result.stderr).toBeUndefined();
    expect(result.data?.[0]).toBe(250);

    const [relayed] = await fake.waitForMessages(1);
    const [sent] = parseClientTransactions(tap.clientBytes[0] ?? Buffer.alloc(0));
    expect(sent?.data.equals(data)).toBe(true);
    expectRelayedAsSent(relayed!, sent!);
  });

  it('relays smtp-source byte for byte', async (context) => {
    context.skip(!hasBinary(SMTP_SOURCE_PATH), SMTP_SOURCE_MISSING);
    const fake = await startFake();
    const { serve } = await startRelay({ fake });
    const tap = await startWireTap(serve);
    taps.push(tap);

    const result = await runSmtpSource({
      host: tap.host,
      port: tap.port,
      messages: 3,
      recipients: 2,
      size: 500,
      subject: 'smtp-source test',
    });
    expect(result.exitCode, result.stderr).toBe(0);

    await fake.waitForMessages(3);
    const sent = tap.clientBytes.flatMap((bytes) => parseClientTransactions(bytes));
    expect(sent).toHaveLength(3);
    for (const transaction of sent) {
      const messageId = headerValue(transaction.data, 'Message-Id');
      expect(messageId).toBeDefined();
      const relayed = byMessageId(fake, messageId!);
      expect(relayed, `relayed copies of ${messageId}`).toHaveLength(1);
      expectRelayedAsSent(relayed[0]!, transaction);
      expect(relayed[0]?.to).toHaveLength(2);
    }
  });
});

describe('relay under load', () => {
  it('delivers 1000 messages exactly once', async (context) => {
    context.skip(!hasBinary(SMTP_SOURCE_PATH), SMTP_SOURCE_MISSING);
    const fake = await startFake();
    // The relay reaches the fake through a tap that counts its open
    // connections until each one's FIN (see startWireTap for why not
    // until 'close').
    const upstream = await startWireTap(fake);
    taps.push(upstream);
    // Default connection limits: --max-connections 3 and
    // --max-messages-per-connection 20.
    const { serve } = await startRelay({
      fake: null,
      args: ['--smarthost', `${upstream.host}:${upstream.port}`],
    });
    const startedAt = Date.now();

    const result = await runSmtpSource({
      host: serve.host,
      port: serve.port,
      messages: 1000,
      sessions: 20,
      reuseConnections: true,
      size: 2000,
      timeoutMs: 50_000,
    });
    expect(result.exitCode, result.stderr).toBe(0);
    const acceptedAt = Date.now();

    // smtp-source exits 0 only when every message got its 250, so the
    // relay logged one QUEUED per message.
    await waitUntil(() => serve.events('QUEUED').length >= 1000, '1000 QUEUED events');
    await fake.waitForMessages(1000, 40_000);
    await waitUntil(() => serve.events('SENT').length >= 1000, '1000 SENT events');
    await fake.waitForIdle(5_000);
    const deliveredAt = Date.now();

    const queuedIds = serve.events('QUEUED').map((event) => event.fields.id ?? '');
    expect(queuedIds).toHaveLength(1000);
    expect(new Set(queuedIds).size).toBe(1000);

    // The queue id in each relayed Received: header names the accepted
    // message it came from.
    const relayedIds = fake.messages.map((message) => receivedQueueId(message.raw));
    expect(fake.messages).toHaveLength(1000);
    expect(new Set(relayedIds).size).toBe(1000);
    expect([...relayedIds].sort()).toEqual([...queuedIds].sort());

    expect(upstream.maxOpenConnections).toBeLessThanOrEqual(3);
    expect(fake.maxTransactionsOnOneConnection).toBeLessThanOrEqual(20);
    expect(fake.connectionsOpened).toBeGreaterThanOrEqual(50);
    context.annotate(
      `1000 messages: accepted in ${acceptedAt - startedAt} ms, ` +
        `all delivered ${deliveredAt - startedAt} ms after the first connect, ` +
        `over ${fake.connectionsOpened} smart-host connections; max open ` +
        `${upstream.maxOpenConnections} counted until FIN, ` +
        `${fake.maxOpenConnections} counted by the fake until close; ` +
        `max ${fake.maxTransactionsOnOneConnection} messages per connection`,
    );
  });
});
