// Sender rewriting for smart hosts that accept only their own account as
// the sender: the envelope sender alone by default, the From: header too
// when asked, and never the null sender of a DSN.
import { afterEach, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { envelopeSender, openWithRewrittenFrom, rewriteFromHeader } from '../core/sender-rewrite.ts';
import { startFakeSmartHost } from './support/fake-smarthost.ts';
import type { FakeSmartHost, FakeSmartHostOptions } from './support/fake-smarthost.ts';
import { startRelay, submitMessages } from './support/throttling-harness.ts';
import type { RelayHarness, Submission } from './support/throttling-harness.ts';
import { useTempDirs } from './support/tmp.ts';

const createTempDir = useTempDirs();

const ACCOUNT = 'relay@example.com';
const ORIGINAL_FROM = '"Scanner, 2nd floor" <scanner@client.test>';

const fakes: FakeSmartHost[] = [];
const relays: RelayHarness[] = [];

async function startPair(
  settings: Parameters<typeof startRelay>[0]['settings'],
  options: FakeSmartHostOptions = {},
): Promise<{ fake: FakeSmartHost; harness: RelayHarness }> {
  const fake = await startFakeSmartHost(options);
  fakes.push(fake);
  const harness = await startRelay({ dataDir: await createTempDir('rewrite'), fake, settings });
  relays.push(harness);
  return { fake, harness };
}

afterEach(async () => {
  await Promise.all(relays.splice(0).map((harness) => harness.relay.stop()));
  await Promise.all(fakes.splice(0).map((fake) => fake.stop()));
});

/** Builds a message with a folded Subject: and a body line that starts with "From:". */
function scannerMessage(extraHeaders = ''): Buffer {
  return Buffer.from(
    `From: ${ORIGINAL_FROM}\r\n` +
      'To: <office@dest.test>\r\n' +
      `${extraHeaders}` +
      'Subject: Scan of\r\n invoice 42\r\n' +
      'Message-ID: <scan-42@client.test>\r\n' +
      'DKIM-Signature: v=1; a=rsa-sha256; d=client.test; s=s1; bh=abc=; b=def=\r\n' +
      '\r\n' +
      'From: this body line is not a header.\r\n' +
      'Second line.\r\n',
  );
}

function submission(raw: Buffer, to = ['office@dest.test']): Submission {
  return { from: 'scanner@client.test', to, raw };
}

/**
 * Splits what the fake received into the relay's Received: header and
 * the rest, and checks that the Received: header is the only addition.
 */
function splitReceived(raw: Buffer): { received: string; rest: Buffer } {
  const text = raw.toString('latin1');
  expect(text.startsWith('Received: ')).toBe(true);
  // The header ends at the first line break not followed by folding white space.
  const end = /\r\n(?![ \t])/.exec(text);
  const length = end ? end.index + 2 : 0;
  return { received: text.slice(0, length), rest: raw.subarray(length) };
}

describe('envelope sender rewriting', () => {
  it('rewrites MAIL FROM, keeps the bytes', async () => {
    const { fake, harness } = await startPair({ rewriteSender: ACCOUNT });
    const raw = scannerMessage();

    await submitMessages(harness.listen, [submission(raw)]);
    const [message] = await fake.waitForMessages(1);

    expect(message?.from).toBe(ACCOUNT);
    expect(message?.to).toEqual(['office@dest.test']);
    const { received, rest } = splitReceived(message!.raw);
    expect(received).toContain('relay.test');
    expect(rest.equals(raw)).toBe(true);
  });

  it('rewrites From: and adds Reply-To:', async () => {
    const { fake, harness } = await startPair({ rewriteSender: ACCOUNT, rewriteFromHeader: true });
    const raw = scannerMessage();

    await submitMessages(harness.listen, [submission(raw)]);
    const [message] = await fake.waitForMessages(1);

    expect(message?.from).toBe(ACCOUNT);
    const { rest } = splitReceived(message!.raw);
    const text = rest.toString('latin1');
    const [head, body] = text.split('\r\n\r\n');
    const headerLines = head!.split('\r\n');
    expect(headerLines.filter((line) => /^from:/i.test(line))).toEqual([`From: <${ACCOUNT}>`]);
    expect(headerLines.filter((line) => /^reply-to:/i.test(line))).toEqual([`Reply-To: ${ORIGINAL_FROM}`]);
    expect(head).toContain('Subject: Scan of\r\n invoice 42');
    expect(head).toContain('DKIM-Signature: v=1;');
    expect(body).toBe('From: this body line is not a header.\r\nSecond line.\r\n');
    // The new size is the original's, less the old From: line, plus the new From: and Reply-To: lines.
    const added = `From: <${ACCOUNT}>\r\n`.length + `Reply-To: ${ORIGINAL_FROM}\r\n`.length;
    expect(rest.length).toBe(raw.length - `From: ${ORIGINAL_FROM}\r\n`.length + added);
  });

  it('keeps an existing Reply-To:', async () => {
    const { fake, harness } = await startPair({ rewriteSender: ACCOUNT, rewriteFromHeader: true });
    const raw = scannerMessage('Reply-To: <helpdesk@client.test>\r\n');

    await submitMessages(harness.listen, [submission(raw)]);
    const [message] = await fake.waitForMessages(1);

    const head = splitReceived(message!.raw).rest.toString('latin1').split('\r\n\r\n')[0]!;
    const headerLines = head.split('\r\n');
    expect(headerLines.filter((line) => /^reply-to:/i.test(line))).toEqual(['Reply-To: <helpdesk@client.test>']);
    expect(headerLines.filter((line) => /^from:/i.test(line))).toEqual([`From: <${ACCOUNT}>`]);
  });
});

describe('null sender with rewriting', () => {
  it('DSN keeps the null sender', async () => {
    const { fake, harness } = await startPair(
      { rewriteSender: ACCOUNT, rewriteFromHeader: true },
      {
        onRcptTo: (address) =>
          address === 'gone@dest.test' ? { code: 550, message: '5.1.1 User unknown' } : undefined,
      },
    );

    await submitMessages(harness.listen, [submission(scannerMessage(), ['office@dest.test', 'gone@dest.test'])]);
    const messages = await fake.waitForMessages(2);

    const dsn = messages.find((message) => message.to[0] === 'scanner@client.test');
    expect(dsn?.from).toBe('');
    const dsnText = dsn?.raw.toString('utf8') ?? '';
    expect(dsnText).toContain('From: Mail Delivery System <MAILER-DAEMON@relay.test>');
    expect(dsnText).not.toContain(`From: <${ACCOUNT}>`);
    expect(dsnText).toContain('Final-Recipient: rfc822; gone@dest.test');
    const original = messages.find((message) => message.to[0] === 'office@dest.test');
    expect(original?.from).toBe(ACCOUNT);
  });

  it('null sender from a device stays null', async () => {
    const { fake, harness } = await startPair({ rewriteSender: ACCOUNT });

    await submitMessages(harness.listen, [{ ...submission(scannerMessage()), from: '' }]);
    const [message] = await fake.waitForMessages(1);

    expect(message?.from).toBe('');
  });
});

describe('rewriteFromHeader', () => {
  it('replaces a folded From:', () => {
    const headers = 'Subject: x\r\nFrom: "Long Name"\r\n <long@client.test>\r\nTo: <a@dest.test>\r\n';

    const rewritten = rewriteFromHeader(headers, ACCOUNT);

    expect(rewritten).toBe(
      `Subject: x\r\nFrom: <${ACCOUNT}>\r\nReply-To: "Long Name"\r\n <long@client.test>\r\nTo: <a@dest.test>\r\n`,
    );
  });

  it('leaves a message without From:', () => {
    const headers = 'Subject: x\r\nTo: <a@dest.test>\r\n';

    expect(rewriteFromHeader(headers, ACCOUNT)).toBe(headers);
  });
});

describe('openWithRewrittenFrom', () => {
  // The spool keeps the queue record after the message's `size` bytes.
  const TRAILER = '{"record":"not part of the message"}\nrecord-length:0000000036\n';

  async function readRewritten(message: string): Promise<string> {
    const file = join(await createTempDir('rewrite-file'), 'message.eml');
    await writeFile(file, message + TRAILER, 'latin1');
    const { stream, size } = await openWithRewrittenFrom(file, Buffer.byteLength(message, 'latin1'), ACCOUNT);
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('latin1');
    expect(Buffer.byteLength(text, 'latin1')).toBe(size);
    return text;
  }

  it('stops at the end of the message', async () => {
    const text = await readRewritten(`From: ${ORIGINAL_FROM}\r\nSubject: scan\r\n\r\npage 1\r\n`);
    expect(text).toBe(`From: <${ACCOUNT}>\r\nReply-To: ${ORIGINAL_FROM}\r\nSubject: scan\r\n\r\npage 1\r\n`);
  });

  it('rewrites a message of headers only', async () => {
    const text = await readRewritten(`Subject: headers only\r\nFrom: ${ORIGINAL_FROM}\r\n`);
    expect(text).toBe(`Subject: headers only\r\nFrom: <${ACCOUNT}>\r\nReply-To: ${ORIGINAL_FROM}\r\n`);
  });
});

describe('envelopeSender', () => {
  it('rewrites only a non-null, non-DSN sender', () => {
    expect(envelopeSender('scanner@client.test', false, ACCOUNT)).toBe(ACCOUNT);
    expect(envelopeSender('scanner@client.test', false, null)).toBe('scanner@client.test');
    expect(envelopeSender('', false, ACCOUNT)).toBe('');
    expect(envelopeSender('', true, ACCOUNT)).toBe('');
  });
});
