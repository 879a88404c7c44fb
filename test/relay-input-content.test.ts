// Awkward message content through `serve`: dot-stuffing both ways, bare
// LF, long lines, 8-bit headers, the null sender, Bcc recipients, an
// oversized message and an SMTP smuggling attempt. Each one gets a clear
// reply and arrives intact, or is rejected without being stored.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { rawSession, sendWithSmtplib, SMTP_REPLY_LINE } from './support/clients.ts';
import type { RawStep } from './support/clients.ts';
import { startFakeSmartHost } from './support/fake-smarthost.ts';
import type { FakeSmartHost } from './support/fake-smarthost.ts';
import { killAllServeProcesses } from './support/serve-process.ts';
import { useTempDirs } from './support/tmp.ts';
import {
  delay,
  queueFiles,
  splitReceived,
  startRecordingSmartHost,
  startRelay,
  tmpFiles,
  waitUntil,
} from './support/relay-harness.ts';
import type { RecordingSmartHost, RelayUnderTest } from './support/relay-harness.ts';

useTempDirs();
afterAll(killAllServeProcesses);

const fakes: FakeSmartHost[] = [];
const recorders: RecordingSmartHost[] = [];

afterEach(async () => {
  await Promise.all(fakes.splice(0).map((fake) => fake.stop()));
  await Promise.all(recorders.splice(0).map((recorder) => recorder.close()));
});

async function startFake(): Promise<FakeSmartHost> {
  const fake = await startFakeSmartHost();
  fakes.push(fake);
  return fake;
}

async function startRecorder(): Promise<RecordingSmartHost> {
  const recorder = await startRecordingSmartHost();
  recorders.push(recorder);
  return recorder;
}

/** Dot-stuffs CRLF lines as RFC 5321 section 4.5.2 requires of a client. */
function dotStuff(content: string): string {
  return content.replace(/(^|\r\n)\./g, '$1..');
}

/** Returns the steps of one transaction: `payload` goes after DATA as it is, then the final dot. */
function transaction(from: string, to: readonly string[], payload: string | Buffer): RawStep[] {
  const bytes = typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload;
  return [
    { send: `MAIL FROM:<${from}>\r\n`, expect: SMTP_REPLY_LINE },
    ...to.map((address) => ({ send: `RCPT TO:<${address}>\r\n`, expect: SMTP_REPLY_LINE })),
    { send: 'DATA\r\n', expect: SMTP_REPLY_LINE },
    { send: Buffer.concat([bytes, Buffer.from('.\r\n')]), expect: SMTP_REPLY_LINE },
  ];
}

/** Runs EHLO, the given steps and QUIT on one raw connection to the relay. */
async function session(relay: RelayUnderTest, steps: RawStep[]): Promise<string[]> {
  const result = await rawSession(relay.serve.host, relay.serve.port, [
    { send: 'EHLO client.test\r\n', expect: /^250 /m },
    ...steps,
    { send: 'QUIT\r\n', expect: SMTP_REPLY_LINE },
  ]);
  return result.replies;
}

/** Returns relayed message `index` without the Received: header the relay added. */
function body(fake: FakeSmartHost, index = 0): string {
  const message = fake.messages[index];
  if (!message) throw new Error(`Message ${index} not found: the fake has ${fake.messages.length}`);
  return splitReceived(message.raw).rest.toString('latin1');
}

describe('message content', () => {
  it('keeps dot lines intact both ways', async () => {
    const fake = await startFake();
    const relay = await startRelay({ fake });
    const content =
      'Subject: dots\r\n' +
      '\r\n' +
      '.\r\n' +
      '..\r\n' +
      '...\r\n' +
      '.leading dot\r\n' +
      'trailing dot.\r\n' +
      ' .space then dot\r\n' +
      '.\r\n';
    // A message whose very first line is a single dot.
    const dotFirst = '.\r\nSubject: dot first\r\n\r\nbody\r\n';

    const replies = await session(relay, [
      ...transaction('a@office.test', ['b@example.test'], dotStuff(content)),
      ...transaction('a@office.test', ['c@example.test'], dotStuff(dotFirst)),
    ]);
    expect(replies[4]).toMatch(/^250 /);
    expect(replies[8]).toMatch(/^250 /);

    await fake.waitForMessages(2);
    const bodies = fake.messages.map((message) => splitReceived(message.raw).rest.toString('latin1'));
    expect(bodies).toContain(content);
    expect(bodies).toContain(dotFirst);
  });

  it('turns bare LF into CRLF upstream', async () => {
    const fake = await startFake();
    const relay = await startRelay({ fake });
    // Lines end in bare LF. Only the terminator is CRLF . CRLF.
    const content = 'Subject: bare LF\nX-Device: printer\n\nline one\n.dot after LF\nline three\r\n';

    const replies = await session(relay, transaction('a@office.test', ['b@example.test'], content));
    expect(replies[4]).toMatch(/^250 /);

    await fake.waitForMessages(1);
    // RFC 5321 section 2.3.8: a line ends in CRLF on the wire, so every
    // bare LF goes out as CRLF, and the rest of the bytes stay as they were.
    expect(body(fake)).toBe(content.replace(/\r?\n/g, '\r\n'));
    expect(fake.receivedMessages).toHaveLength(1);
  });

  it('keeps lines over 998 characters', async () => {
    const fake = await startFake();
    const relay = await startRelay({ fake });
    const longHeader = `X-Long: ${'h'.repeat(1500)}`;
    const longLine = 'x'.repeat(10_000);
    const content = `Subject: long lines\r\n${longHeader}\r\n\r\n${longLine}\r\n.${'y'.repeat(2000)}\r\nend\r\n`;

    const replies = await session(relay, transaction('a@office.test', ['b@example.test'], dotStuff(content)));
    expect(replies[4]).toMatch(/^250 /);

    await fake.waitForMessages(1);
    expect(body(fake)).toBe(content);
  });

  it('relays 8-bit headers with BODY=8BITMIME', async () => {
    const recorder = await startRecorder();
    const relay = await startRelay({
      fake: null,
      args: ['--smarthost', `${recorder.host}:${recorder.port}`],
    });
    const eightBit = Buffer.from(
      'From: Jürgen <j@office.test>\r\n' +
        'Subject: Grüße – Überweisung №5\r\n' +
        '\r\n' +
        'Straße, Öl, ½ €\r\n',
      'utf8',
    );
    const sevenBit = Buffer.from('Subject: plain\r\n\r\nascii only\r\n');

    const first = await sendWithSmtplib({
      host: relay.serve.host,
      port: relay.serve.port,
      from: 'j@office.test',
      to: ['b@example.test'],
      data: eightBit,
      mailOptions: ['BODY=8BITMIME'],
    });
    expect(first.data?.[0], first.error).toBe(250);
    const second = await sendWithSmtplib({
      host: relay.serve.host,
      port: relay.serve.port,
      from: 'j@office.test',
      to: ['b@example.test'],
      data: sevenBit,
    });
    expect(second.data?.[0], second.error).toBe(250);

    await waitForTransactions(recorder, 2);
    const byContent = (bytes: Buffer) =>
      recorder.transactions.find((item) => splitReceived(item.data).rest.equals(bytes));
    expect(byContent(eightBit)?.mailCommand).toMatch(/^MAIL FROM:<j@office\.test>.* BODY=8BITMIME/);
    expect(byContent(sevenBit)?.mailCommand).not.toMatch(/BODY=8BITMIME/);
  });

  it('relays the null sender as MAIL FROM:<>', async () => {
    const recorder = await startRecorder();
    const relay = await startRelay({
      fake: null,
      args: ['--smarthost', `${recorder.host}:${recorder.port}`],
    });
    const content = 'Subject: delivery report from a device\r\n\r\nbody\r\n';

    const replies = await session(relay, transaction('', ['postmaster@example.test'], content));
    expect(replies[1]).toMatch(/^250 /);
    expect(replies[4]).toMatch(/^250 /);

    await waitForTransactions(recorder, 1);
    const [relayed] = recorder.transactions;
    expect(relayed?.mailCommand).toMatch(/^MAIL FROM:<>(?: |$)/);
    expect(relayed?.rcptCommands).toEqual(['RCPT TO:<postmaster@example.test>']);
    expect(splitReceived(relayed!.data).rest.toString('latin1')).toBe(content);
  });

  it('delivers every Bcc recipient', async () => {
    const fake = await startFake();
    const relay = await startRelay({ fake });
    const content = 'To: visible@example.test\r\nSubject: bcc\r\n\r\nbody\r\n';
    const recipients = ['visible@example.test', 'hidden1@example.test', 'hidden2@example.test'];

    const replies = await session(relay, [
      ...transaction('a@office.test', recipients, content),
      ...transaction('a@office.test', ['single@example.test'], content),
    ]);
    expect(replies[6]).toMatch(/^250 /);
    expect(replies[10]).toMatch(/^250 /);

    await fake.waitForMessages(2);
    const several = fake.messages.find((message) => message.to.length === 3);
    const single = fake.messages.find((message) => message.to.length === 1);
    expect(several?.to).toEqual(recipients);
    const severalReceived = splitReceived(several!.raw).received;
    expect(severalReceived).not.toMatch(/\bfor\b/);
    for (const address of recipients) expect(severalReceived).not.toContain(address);
    expect(splitReceived(several!.raw).rest.toString('latin1')).toBe(content);
    // With one recipient the for clause is kept (RFC 5321 section 4.4).
    expect(splitReceived(single!.raw).received).toContain('for <single@example.test>;');
  });
});

describe('size limit, dropped clients and smuggling', () => {
  it('rejects an oversized message with 552 5.3.4', async () => {
    const fake = await startFake();
    // 0.01 MB is 10485 bytes.
    const relay = await startRelay({ fake, args: ['--max-message-size', '0.01'] });
    const big = `Subject: big\r\n\r\n${'z'.repeat(76)}\r\n`.repeat(300);
    const small = 'Subject: small\r\n\r\nfits\r\n';

    const replies = await session(relay, [
      ...transaction('a@office.test', ['b@example.test'], big),
      // A declared size over the limit is rejected at MAIL already.
      { send: 'MAIL FROM:<a@office.test> SIZE=50000\r\n', expect: SMTP_REPLY_LINE },
      { send: 'RSET\r\n', expect: SMTP_REPLY_LINE },
      // The session is still usable afterwards.
      ...transaction('a@office.test', ['c@example.test'], small),
    ]);
    expect(replies[4]).toMatch(/^552 5\.3\.4 /);
    expect(replies[5]).toMatch(/^552 5\.3\.4 /);
    expect(replies[10]).toMatch(/^250 /);

    await fake.waitForMessages(1);
    expect(fake.messages[0]?.to).toEqual(['c@example.test']);
    expect(relay.serve.events('QUEUED')).toHaveLength(1);
    await relay.serve.waitForEvent('SENT');
    // The spool removes a message just after its SENT line.
    await waitUntil(async () => (await queueFiles(relay.dataDir)).length === 0, 'an empty queue');
    expect(await tmpFiles(relay.dataDir)).toEqual([]);
  });

  it('stores nothing for an oversized message', async () => {
    // No smart host, so anything stored would stay in the queue.
    const relay = await startRelay({ fake: null, args: ['--max-message-size', '0.01'] });
    const big = `Subject: big\r\n\r\n${'z'.repeat(20_000)}\r\n`;

    const replies = await session(relay, transaction('a@office.test', ['b@example.test'], big));
    expect(replies[4]).toMatch(/^552 5\.3\.4 /);
    await delay(200);
    expect(relay.serve.events('QUEUED')).toHaveLength(0);
    expect(await queueFiles(relay.dataDir)).toEqual([]);
    expect(await tmpFiles(relay.dataDir)).toEqual([]);
  });

  it('stores nothing when a client drops mid-DATA', async () => {
    const relay = await startRelay({ fake: null });

    const dropped = await rawSession(relay.serve.host, relay.serve.port, [
      { send: 'EHLO client.test\r\n', expect: /^250 /m },
      { send: 'MAIL FROM:<a@office.test>\r\n', expect: SMTP_REPLY_LINE },
      { send: 'RCPT TO:<b@example.test>\r\n', expect: SMTP_REPLY_LINE },
      { send: 'DATA\r\n', expect: SMTP_REPLY_LINE },
      // Half a message, then the client closes without the final dot.
      `Subject: cut off\r\n\r\n${'x'.repeat(50_000)}\r\n`,
    ]);
    expect(dropped.replies[3]).toMatch(/^354 /);

    // The relay still takes the next message.
    const replies = await session(relay, transaction('a@office.test', ['c@example.test'], 'Subject: next\r\n\r\nok\r\n'));
    expect(replies[4]).toMatch(/^250 /);
    // The listener's thread logs through the main thread, so the line can
    // follow the 250 by a moment.
    await relay.serve.waitForEvent('QUEUED');
    expect(relay.serve.events('QUEUED')).toHaveLength(1);
    expect(await queueFiles(relay.dataDir)).toHaveLength(1);
    expect(await tmpFiles(relay.dataDir)).toEqual([]);
  });

  it('does not end DATA at LF . CRLF', async () => {
    const fake = await startFake();
    const relay = await startRelay({ fake });
    const smuggled =
      'MAIL FROM:<evil@attacker.test>\r\n' +
      'RCPT TO:<victim@example.test>\r\n' +
      'DATA\r\n' +
      'Subject: smuggled\r\n\r\nforged\r\n';
    const variants = [
      `Subject: lf\r\n\r\nbefore\n.\r\n${smuggled}`,
      `Subject: cr\r\n\r\nbefore\r.\r\n${smuggled}`,
      `Subject: lf-lf\r\n\r\nbefore\n.\n${smuggled}`,
    ];

    const steps = variants.flatMap((payload) => transaction('a@office.test', ['b@example.test'], payload));
    const replies = await session(relay, steps);
    // Each DATA got exactly one reply, a 250 for the whole payload.
    for (const index of [4, 8, 12]) {
      expect(replies[index]).toMatch(/^250 [^\r\n]*\r\n$/);
    }

    await fake.waitForMessages(3);
    await delay(300);
    expect(fake.receivedMessages).toHaveLength(3);
    for (const message of fake.messages) {
      expect(message.from).toBe('a@office.test');
      expect(message.to).toEqual(['b@example.test']);
      expect(splitReceived(message.raw).rest.toString('latin1')).toContain('MAIL FROM:<evil@attacker.test>');
    }
    expect(relay.serve.events('QUEUED')).toHaveLength(3);
  });
});

async function waitForTransactions(recorder: RecordingSmartHost, count: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (recorder.transactions.length < count) {
    if (Date.now() > deadline) {
      throw new Error(`Recorder got ${recorder.transactions.length} of ${count} transactions`);
    }
    await delay(20);
  }
}
