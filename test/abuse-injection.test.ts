// CR, LF and NUL injected into MAIL FROM and RCPT TO: each attempt gets a
// 5xx and nothing of it is stored. A message sent afterwards carries a
// clean envelope and a Received: header with no injected field.
import { afterEach, describe, expect, it } from 'vitest';
import { rawSession } from './support/clients.ts';
import type { RawStep } from './support/clients.ts';
import { startFakeSmartHost } from './support/fake-smarthost.ts';
import type { FakeSmartHost } from './support/fake-smarthost.ts';
import { delay, queueFiles, splitReceived, tmpFiles } from './support/relay-harness.ts';
import { startRelay } from './support/throttling-harness.ts';
import type { RelayHarness } from './support/throttling-harness.ts';
import { useTempDirs } from './support/tmp.ts';

const createTempDir = useTempDirs();

const fakes: FakeSmartHost[] = [];
const relays: RelayHarness[] = [];

afterEach(async () => {
  await Promise.all(relays.splice(0).map((harness) => harness.relay.stop()));
  await Promise.all(fakes.splice(0).map((fake) => fake.stop()));
});

// Every reply line the relay sends, the last one of a multi-line reply too.
const REPLY_LINES = /^\d{3}[ -][^\r\n]*\r\n/gm;
const FINAL_REPLY = /^\d{3} [^\r\n]*\r\n/m;

async function startTestRelay(): Promise<{ harness: RelayHarness; fake: FakeSmartHost }> {
  const fake = await startFakeSmartHost();
  fakes.push(fake);
  const harness = await startRelay({ dataDir: await createTempDir('injection'), fake });
  relays.push(harness);
  return { harness, fake };
}

/**
 * Sends `command` (without its CRLF) after EHLO, then RSET, and returns
 * every reply line the command got. A bare LF splits a command in two,
 * so a line may get two replies.
 */
async function repliesTo(harness: RelayHarness, setup: readonly string[], command: string): Promise<string[]> {
  const steps: RawStep[] = [
    { send: 'EHLO client.test\r\n', expect: /^250 /m },
    ...setup.map((line) => ({ send: `${line}\r\n`, expect: FINAL_REPLY })),
    // NOOP's reply marks the end of whatever the command line produced.
    { send: `${command}\r\nNOOP\r\n`, expect: /^250 2\.0\.0 OK\r\n/m },
    { send: 'QUIT\r\n', expect: FINAL_REPLY },
  ];
  const result = await rawSession(harness.listen.host, harness.listen.port, steps, { timeoutMs: 10_000 });
  const output = result.replies[setup.length + 1] ?? '';
  return (output.match(REPLY_LINES) ?? []).filter((line) => !line.startsWith('250 2.0.0 OK'));
}

const MAIL_CASES: readonly [name: string, command: string][] = [
  ['CR inside the address', 'MAIL FROM:<ev\ril@office.test>'],
  ['CR before the bracket', 'MAIL FROM:<evil@office.test\r>'],
  ['CR after the address', 'MAIL FROM:<evil@office.test>\rRCPT TO:<victim@example.test>'],
  ['LF inside the address', 'MAIL FROM:<evil\nX-Injected: yes@office.test>'],
  ['NUL inside the address', 'MAIL FROM:<ev\0il@office.test>'],
  ['quoted CR', 'MAIL FROM:<"ev\ril"@office.test>'],
];

const RCPT_CASES: readonly [name: string, command: string][] = [
  ['CR inside the address', 'RCPT TO:<vic\rtim@example.test>'],
  ['CR after the address', 'RCPT TO:<victim@example.test>\rDATA'],
  ['LF and a header', 'RCPT TO:<victim@example.test\nX-Injected: yes>'],
  ['NUL inside the address', 'RCPT TO:<vic\0tim@example.test>'],
];

describe('control characters in the envelope', () => {
  it('rejects each MAIL FROM with a 5xx', async () => {
    const { harness } = await startTestRelay();

    for (const [name, command] of MAIL_CASES) {
      const replies = await repliesTo(harness, [], command);
      expect(replies.length, name).toBeGreaterThan(0);
      for (const reply of replies) expect(reply, `${name}: ${JSON.stringify(replies)}`).toMatch(/^5\d\d /);
    }
  });

  it('rejects each RCPT TO with a 5xx', async () => {
    const { harness } = await startTestRelay();

    for (const [name, command] of RCPT_CASES) {
      const replies = await repliesTo(harness, ['MAIL FROM:<device@office.test>'], command);
      expect(replies.length, name).toBeGreaterThan(0);
      for (const reply of replies) expect(reply, `${name}: ${JSON.stringify(replies)}`).toMatch(/^5\d\d /);
    }
  });

  it('names a bare CR in the reply', async () => {
    const { harness } = await startTestRelay();
    const replies = await repliesTo(harness, [], 'MAIL FROM:<evil@office.test>\rRCPT TO:<victim@example.test>');
    expect(replies).toEqual(['501 5.5.2 Syntax error: a bare CR or a NUL is not allowed in a command line\r\n']);
  });

  it('stores nothing and relays a clean envelope', async () => {
    const { harness, fake } = await startTestRelay();
    const attempts = [
      ...MAIL_CASES.map(([name, command]) => ({ name, setup: [] as string[], command })),
      ...RCPT_CASES.map(([name, command]) => ({ name, setup: ['MAIL FROM:<device@office.test>'], command })),
    ];

    // Each attempt goes on to complete a transaction, which must fail for
    // want of a sender or of a valid recipient.
    for (const attempt of attempts) {
      const steps: RawStep[] = [
        { send: 'EHLO client.test\r\n', expect: /^250 /m },
        ...attempt.setup.map((line) => ({ send: `${line}\r\n`, expect: FINAL_REPLY })),
        { send: `${attempt.command}\r\nNOOP\r\n`, expect: /^250 2\.0\.0 OK\r\n/m },
        { send: 'DATA\r\n', expect: FINAL_REPLY },
        { send: 'QUIT\r\n', expect: FINAL_REPLY },
      ];
      const result = await rawSession(harness.listen.host, harness.listen.port, steps, { timeoutMs: 10_000 });
      const dataReply = result.replies[attempt.setup.length + 2];
      expect(dataReply, `${attempt.name}\n${result.transcript}`).toMatch(/^503 5\.5\.1 /);
    }
    expect(harness.eventsOf('QUEUED')).toHaveLength(0);
    expect(await queueFiles(harness.relay.dataDir)).toEqual([]);

    const result = await rawSession(harness.listen.host, harness.listen.port, [
      { send: 'EHLO client.test\r\n', expect: /^250 /m },
      { send: 'MAIL FROM:<device@office.test>\r\n', expect: FINAL_REPLY },
      { send: 'RCPT TO:<victim@example.test>\r\n', expect: FINAL_REPLY },
      { send: 'DATA\r\n', expect: FINAL_REPLY },
      { send: 'Subject: after the attempts\r\n\r\nbody\r\n.\r\n', expect: FINAL_REPLY },
      { send: 'QUIT\r\n', expect: FINAL_REPLY },
    ]);
    expect(result.replies[4], result.transcript).toMatch(/^250 2\.0\.0 Ok: queued as /);

    const [relayed] = await fake.waitForMessages(1);
    expect(relayed?.from).toBe('device@office.test');
    expect(relayed?.to).toEqual(['victim@example.test']);
    const { received, rest } = splitReceived(relayed!.raw);
    expect(received).toMatch(/^Received: from client\.test \(\[127\.0\.0\.1\]\)\r\n\tby relay\.test /);
    expect(received).toContain(' for <victim@example.test>;\r\n');
    expect(received.match(/\r\n/g)).toHaveLength(3);
    expect(rest.toString('latin1')).toBe('Subject: after the attempts\r\n\r\nbody\r\n');

    expect(harness.eventsOf('QUEUED')).toHaveLength(1);
    await delay(200);
    expect(fake.receivedMessages).toHaveLength(1);
    expect(await tmpFiles(harness.relay.dataDir)).toEqual([]);
  });

  it('rejects a HELO name with a bare CR', async () => {
    const { harness } = await startTestRelay();
    const result = await rawSession(harness.listen.host, harness.listen.port, [
      { send: 'EHLO evil.test\rX-Injected: yes\r\n', expect: FINAL_REPLY },
      { send: 'QUIT\r\n', expect: FINAL_REPLY },
    ]);
    expect(result.replies[0]).toMatch(/^501 5\.5\.2 /);
  });
});
