// Delivery status notifications (RFC 3464): the structure buildBounce()
// writes, and the DSNs `serve` sends with the null sender. A message gets
// one DSN for a 5.1.1 recipient or when its queue lifetime ends, and none
// when its own sender was null.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { buildBounce, headerSection, statusFromReply } from '../core/bounce.ts';
import type { BounceInput } from '../core/bounce.ts';
import { startFakeSmartHost } from './support/fake-smarthost.ts';
import type { FakeSmartHost, FakeSmartHostOptions, ReceivedMessage } from './support/fake-smarthost.ts';
import { killAllServeProcesses } from './support/serve-process.ts';
import { useTempDirs } from './support/tmp.ts';
import { delay, queueFiles, RELAY_HOSTNAME, startRelay, submitMessage, waitUntil } from './support/relay-harness.ts';
import type { RelayUnderTest } from './support/relay-harness.ts';

useTempDirs();
afterAll(killAllServeProcesses);

interface MimePart {
  readonly headers: string;
  readonly body: string;
}

/** Splits a multipart message at its boundary. Throws if it is not multipart. */
function parseMultipart(raw: string): { headers: string; parts: MimePart[] } {
  const headerEnd = raw.indexOf('\r\n\r\n');
  const headers = raw.slice(0, headerEnd);
  const boundary = /boundary="([^"]+)"/.exec(headers)?.[1];
  if (!boundary) throw new Error(`Multipart boundary not found in: ${headers}`);
  const body = raw.slice(headerEnd + 4);
  const closing = body.indexOf(`\r\n--${boundary}--`);
  expect(closing, 'closing boundary').toBeGreaterThan(0);
  const sections = body.slice(0, closing).split(`\r\n--${boundary}\r\n`);
  // The text before the first boundary is the preamble.
  const parts = sections.slice(1).map((section) => {
    const end = section.indexOf('\r\n\r\n');
    return { headers: section.slice(0, end), body: section.slice(end + 4) };
  });
  return { headers, parts };
}

/** Splits a message/delivery-status body into its field groups (RFC 3464 section 2.1). */
function statusGroups(body: string): Record<string, string>[] {
  return body
    .trim()
    .split(/\r\n\r\n/)
    .map((group) =>
      Object.fromEntries(
        group.split('\r\n').map((line) => {
          const colon = line.indexOf(':');
          return [line.slice(0, colon), line.slice(colon + 1).trim()];
        }),
      ),
    );
}

const ORIGINAL = Buffer.from(
  'Received: from scanner ([192.0.2.7])\r\n\tby relay.test (Smarthost Relay) with ESMTP id ABC;\r\n\tFri, 4 Dec 2026 16:21:44 +0000\r\n' +
    'From: Scanner <scanner@office.test>\r\n' +
    'Subject: Scan Straße\r\n' +
    '\r\n' +
    'body that is not returned\r\n',
  'utf8',
);

function bounceInput(patch: Partial<BounceInput> = {}): BounceInput {
  return {
    queueId: '0ABCDEF12345678901',
    sender: 'scanner@office.test',
    reportingHost: 'relay.test',
    remoteMta: 'smtp.example.test:587',
    arrivalDate: new Date(Date.UTC(2026, 11, 4, 16, 21, 44)),
    now: new Date(Date.UTC(2026, 11, 4, 16, 22, 0)),
    failed: [
      { address: 'gone@example.test', diagnostic: '550 5.1.1 <gone@example.test>: User unknown', status: '5.1.1' },
      { address: 'full@example.test', diagnostic: '552 5.2.2 Mailbox full\r\n  try later', status: '5.2.2' },
    ],
    expired: false,
    originalHeaders: headerSection(ORIGINAL),
    ...patch,
  };
}

describe('buildBounce', () => {
  it('writes a multipart/report with three parts', () => {
    const dsn = buildBounce(bounceInput());
    const text = dsn.toString('latin1');

    // Every line ends in CRLF.
    expect(text).not.toMatch(/[^\r]\n/);
    const { headers, parts } = parseMultipart(text);
    expect(headers).toMatch(/^From: Mail Delivery System <MAILER-DAEMON@relay\.test>$/m);
    expect(headers).toMatch(/^To: <scanner@office\.test>$/m);
    expect(headers).toMatch(/^Auto-Submitted: auto-replied$/m);
    expect(headers).toMatch(/^MIME-Version: 1\.0$/m);
    expect(headers).toMatch(/^Content-Type: multipart\/report; report-type=delivery-status; boundary="/m);
    expect(headers).toMatch(/^Date: Fri, 4 Dec 2026 16:22:00 \+0000$/m);
    expect(headers).toMatch(/^Message-ID: <[^>\s]+@relay\.test>$/m);

    expect(parts).toHaveLength(3);
    expect(parts[0]?.headers).toMatch(/^Content-Type: text\/plain; charset=utf-8/);
    expect(parts[0]?.body).toContain('<gone@example.test>: 550 5.1.1');
    expect(parts[1]?.headers).toBe('Content-Type: message/delivery-status');
    expect(parts[2]?.headers).toBe('Content-Type: text/rfc822-headers');
  });

  it('reports each recipient in its own group', () => {
    const { parts } = parseMultipart(buildBounce(bounceInput()).toString('latin1'));
    const [perMessage, gone, full, ...rest] = statusGroups(parts[1]!.body);

    expect(rest).toEqual([]);
    expect(perMessage?.['Reporting-MTA']).toBe('dns; relay.test');
    expect(perMessage?.['Arrival-Date']).toBe('Fri, 4 Dec 2026 16:21:44 +0000');
    expect(gone?.['Final-Recipient']).toBe('rfc822; gone@example.test');
    expect(gone?.Action).toBe('failed');
    expect(gone?.Status).toBe('5.1.1');
    // RFC 3464 section 2.3.5: a dns-type Remote-MTA is a host name, no port.
    expect(gone?.['Remote-MTA']).toBe('dns; smtp.example.test');
    expect(gone?.['Diagnostic-Code']).toBe('smtp; 550 5.1.1 <gone@example.test>: User unknown');
    expect(gone?.['Last-Attempt-Date']).toBe('Fri, 4 Dec 2026 16:22:00 +0000');
    expect(full?.['Final-Recipient']).toBe('rfc822; full@example.test');
    expect(full?.Status).toBe('5.2.2');
    // A folded reply becomes one line, so it cannot break the field group.
    expect(full?.['Diagnostic-Code']).toBe('smtp; 552 5.2.2 Mailbox full try later');
  });

  it('returns the original headers byte for byte', () => {
    const { parts } = parseMultipart(buildBounce(bounceInput()).toString('latin1'));
    const returned = Buffer.from(parts[2]!.body, 'latin1');

    expect(returned.toString('latin1')).toBe(headerSection(ORIGINAL).toString('latin1'));
    expect(returned.toString('utf8')).toContain('Subject: Scan Straße');
    expect(returned.toString('latin1')).not.toContain('body that is not returned');
  });

  it('names the remote MTA without its port', () => {
    for (const [remoteMta, expected] of [
      ['smtp.example.test:465', 'dns; smtp.example.test'],
      ['[2001:db8::25]:587', 'dns; 2001:db8::25'],
      ['2001:db8::25:587', 'dns; 2001:db8::25'],
      ['smtp.example.test', 'dns; smtp.example.test'],
    ] as const) {
      const { parts } = parseMultipart(buildBounce(bounceInput({ remoteMta })).toString('latin1'));
      const [, first] = statusGroups(parts[1]!.body);
      expect(first?.['Remote-MTA'], remoteMta).toBe(expected);
    }
  });

  it('marks an expired message with 4.4.7', () => {
    const dsn = buildBounce(
      bounceInput({
        expired: true,
        remoteMta: null,
        failed: [{ address: 'late@example.test', diagnostic: 'delivery time expired', status: '4.4.7' }],
      }),
    );
    const { parts } = parseMultipart(dsn.toString('latin1'));
    const [, late] = statusGroups(parts[1]!.body);

    expect(late?.Action).toBe('failed');
    expect(late?.Status).toBe('4.4.7');
    expect(late?.['Remote-MTA']).toBeUndefined();
    expect(parts[0]?.body).toMatch(/could not be delivered in the time/);
  });

  it('picks the status from a reply', () => {
    expect(statusFromReply('550 5.1.1 User unknown', 550)).toBe('5.1.1');
    expect(statusFromReply('550 User unknown', 550)).toBe('5.0.0');
    expect(statusFromReply('451 Try later', 451)).toBe('4.0.0');
  });

  it('finds the header section', () => {
    expect(headerSection(Buffer.from('A: 1\r\nB: 2\r\n\r\nbody')).toString()).toBe('A: 1\r\nB: 2\r\n');
    expect(headerSection(Buffer.from('A: 1\nB: 2\n\nbody')).toString()).toBe('A: 1\nB: 2\n');
    expect(headerSection(Buffer.from('A: 1\r\n')).toString()).toBe('A: 1\r\n');
  });
});

// --------------------------------------------------------- end to end

const fakes: FakeSmartHost[] = [];

afterEach(async () => {
  await Promise.all(fakes.splice(0).map((fake) => fake.stop()));
});

async function startFake(options: FakeSmartHostOptions): Promise<FakeSmartHost> {
  const fake = await startFakeSmartHost(options);
  fakes.push(fake);
  return fake;
}

function submit(relay: RelayUnderTest, from: string, to: string[]): Promise<string> {
  const raw = `From: <${from}>\r\nSubject: report for the office\r\n\r\nbody\r\n`;
  return submitMessage(relay.serve, { from, to }, raw);
}

function dsnsIn(fake: FakeSmartHost): ReceivedMessage[] {
  return fake.messages.filter((message) => message.from === '');
}

describe('bounces through serve', () => {
  const unknownUser = { code: 550, message: '5.1.1 <gone@example.test>: Recipient address rejected: User unknown' };

  it('sends one DSN for a 5.1.1 recipient', async () => {
    const fake = await startFake({
      onRcptTo: (address) => (address === 'gone@example.test' ? unknownUser : undefined),
    });
    const relay = await startRelay({ fake });

    const id = await submit(relay, 'scanner@office.test', ['a@example.test', 'gone@example.test', 'b@example.test']);

    await fake.waitForMessages(2);
    const original = fake.messages.find((message) => message.from === 'scanner@office.test');
    expect(original?.to).toEqual(['a@example.test', 'b@example.test']);
    const bounced = await relay.serve.waitForEvent('BOUNCED', (fields) => fields.id === id);
    expect(bounced.fields.to).toBe('<gone@example.test>');
    expect(bounced.fields.status).toBe('5.1.1');

    await relay.serve.waitForEvent('SENT', (fields) => fields.id === bounced.fields.dsn);
    await delay(300);
    const dsns = dsnsIn(fake);
    expect(dsns).toHaveLength(1);
    const dsn = dsns[0]!;
    // RFC 5321 section 4.5.5: a DSN is sent with the null sender.
    expect(dsn.from).toBe('');
    expect(dsn.to).toEqual(['scanner@office.test']);

    // The relay writes the DSN itself, so it carries no Received: header.
    const { headers, parts } = parseMultipart(dsn.raw.toString('latin1'));
    expect(headers).toMatch(/^Content-Type: multipart\/report; report-type=delivery-status;/m);
    const [perMessage, recipient, ...rest] = statusGroups(parts[1]!.body);
    expect(rest).toEqual([]);
    expect(perMessage?.['Reporting-MTA']).toBe(`dns; ${RELAY_HOSTNAME}`);
    expect(recipient?.['Final-Recipient']).toBe('rfc822; gone@example.test');
    expect(recipient?.Action).toBe('failed');
    expect(recipient?.Status).toBe('5.1.1');
    expect(recipient?.['Diagnostic-Code']).toBe(`smtp; 550 ${unknownUser.message}`);
    expect(parts[2]?.body).toContain('Subject: report for the office');
    expect(parts[2]?.body).toContain(`id ${id}`);

    await waitUntil(async () => (await queueFiles(relay.dataDir)).length === 0, 'an empty queue');
  });

  it('sends no DSN for a null sender', async () => {
    const fake = await startFake({
      onRcptTo: (address) => (address === 'gone@example.test' ? unknownUser : undefined),
    });
    const relay = await startRelay({ fake });

    const id = await submit(relay, '', ['a@example.test', 'gone@example.test']);

    const bounced = await relay.serve.waitForEvent('BOUNCED', (fields) => fields.id === id);
    expect(bounced.fields.dsn).toBe('none');
    await fake.waitForMessages(1);
    await waitUntil(async () => (await queueFiles(relay.dataDir)).length === 0, 'an empty queue');
    await delay(300);
    expect(fake.messages).toHaveLength(1);
    expect(fake.messages[0]?.to).toEqual(['a@example.test']);
    expect(relay.serve.events('QUEUED')).toHaveLength(1);
  });

  it('bounces with 4.4.7 when the queue lifetime ends', async () => {
    // The smart host defers one recipient for ever and takes the DSN.
    const fake = await startFake({
      onRcptTo: (address) =>
        address === 'stuck@example.test' ? { code: 451, message: '4.2.0 Mailbox temporarily unavailable' } : undefined,
    });
    // 0.0005 hours is 1.8 s.
    const relay = await startRelay({ fake, args: ['--queue-lifetime', '0.0005', '--retry-max', '0.5'] });

    const id = await submit(relay, 'scanner@office.test', ['stuck@example.test']);

    const expired = await relay.serve.waitForEvent('EXPIRED', (fields) => fields.id === id, 10_000);
    expect(expired.fields.to).toBe('<stuck@example.test>');
    expect(Number(expired.fields.attempts)).toBeGreaterThanOrEqual(2);
    expect(expired.fields.reply).toContain('451 4.2.0');
    const bounced = await relay.serve.waitForEvent('BOUNCED', (fields) => fields.id === id);
    expect(bounced.fields.status).toBe('4.4.7');

    const [dsn] = await fake.waitForMessages(1);
    expect(dsn?.from).toBe('');
    expect(dsn?.to).toEqual(['scanner@office.test']);
    const { parts } = parseMultipart(dsn!.raw.toString('latin1'));
    const [, recipient] = statusGroups(parts[1]!.body);
    expect(recipient?.['Final-Recipient']).toBe('rfc822; stuck@example.test');
    expect(recipient?.Action).toBe('failed');
    expect(recipient?.Status).toBe('4.4.7');
    await waitUntil(async () => (await queueFiles(relay.dataDir)).length === 0, 'an empty queue');
    expect(dsnsIn(fake)).toHaveLength(1);
  });
});
