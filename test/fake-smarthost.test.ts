// Checks the test support code itself (fake smart host, SMTP clients, serve
// process helper, temp dirs) against real clients, so that the relay's tests
// can trust what these report.
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  connectWithNodemailer,
  rawSession,
  runSmtpSource,
  sendWithSmtplib,
  sendWithSwaks,
  SMTP_REPLY_LINE,
} from './support/clients.ts';
import {
  startFakeSmartHost,
  type FakeSmartHost,
  type FakeSmartHostOptions,
} from './support/fake-smarthost.ts';
import { killAllServeProcesses, parseLogLine, startServe } from './support/serve-process.ts';
import { createTempDir, removeTempDirs, useTempDirs } from './support/tmp.ts';

const MESSAGE = Buffer.from(
  'From: alice@client.test\r\n' +
    'To: bob@smarthost.test\r\n' +
    'Subject: Test\r\n' +
    '\r\n' +
    '.This line starts with a dot\r\n' +
    'Body line\r\n',
);
const ENVELOPE = { from: 'alice@client.test', to: ['bob@smarthost.test'] };

const fakes: FakeSmartHost[] = [];

async function startFake(options: FakeSmartHostOptions = {}): Promise<FakeSmartHost> {
  const fake = await startFakeSmartHost(options);
  fakes.push(fake);
  return fake;
}

afterEach(async () => {
  await Promise.all(fakes.splice(0).map((fake) => fake.stop()));
});

useTempDirs();
afterAll(killAllServeProcesses);

describe('fake smart host with nodemailer', () => {
  it('records exact bytes and envelope', async () => {
    const fake = await startFake();
    const client = await connectWithNodemailer({ host: fake.host, port: fake.port });

    const info = await client.send(
      { from: 'alice@client.test', to: ['bob@smarthost.test', 'carol@smarthost.test'] },
      MESSAGE,
    );
    await client.quit();

    expect(info.accepted).toEqual(['bob@smarthost.test', 'carol@smarthost.test']);
    expect(info.response).toBe('250 OK: queued as C1T1');
    const [message] = await fake.waitForMessages(1);
    expect(message?.from).toBe('alice@client.test');
    expect(message?.to).toEqual(['bob@smarthost.test', 'carol@smarthost.test']);
    expect(message?.raw.toString('latin1')).toBe(MESSAGE.toString('latin1'));
    expect(message?.connectionId).toBe(1);
    expect(message?.transactionIndex).toBe(1);
    expect(message?.secure).toBe(false);
  });

  it('counts concurrent connections exactly', async () => {
    const fake = await startFake();

    const clients = await Promise.all(
      [1, 2, 3].map(() => connectWithNodemailer({ host: fake.host, port: fake.port })),
    );
    expect(fake.openConnections).toBe(3);
    await Promise.all(clients.map((client) => client.quit()));
    await fake.waitForIdle();

    expect(fake.maxOpenConnections).toBe(3);
    expect(fake.openConnections).toBe(0);
    expect(fake.connectionsOpened).toBe(3);
  });

  it('counts sequential connections as one', async () => {
    const fake = await startFake();

    for (let round = 0; round < 3; round += 1) {
      const client = await connectWithNodemailer({ host: fake.host, port: fake.port });
      await client.send(ENVELOPE, MESSAGE);
      // No wait here: the next connection opens right after nodemailer
      // half-closes this one, as a relay's would.
      await client.quit();
    }
    await fake.waitForIdle();

    expect(fake.maxOpenConnections).toBe(1);
    expect(fake.connectionsOpened).toBe(3);
    expect(fake.transactionsPerConnection()).toEqual([1, 1, 1]);
  });

  it('counts transactions per connection', async () => {
    const fake = await startFake();
    const client = await connectWithNodemailer({ host: fake.host, port: fake.port });

    await client.send(ENVELOPE, MESSAGE);
    await client.send(ENVELOPE, MESSAGE);
    await client.quit();

    const messages = await fake.waitForMessages(2);
    expect(fake.transactionsPerConnection()).toEqual([2]);
    expect(fake.maxTransactionsOnOneConnection).toBe(2);
    expect(messages.map((message) => message.transactionIndex)).toEqual([1, 2]);
    expect(messages.map((message) => message.connectionId)).toEqual([1, 1]);
  });

  it('reset clears counters', async () => {
    const fake = await startFake();
    const client = await connectWithNodemailer({ host: fake.host, port: fake.port });
    await client.send(ENVELOPE, MESSAGE);

    fake.reset();

    expect(fake.receivedMessages).toEqual([]);
    expect(fake.connectionsOpened).toBe(0);
    expect(fake.maxOpenConnections).toBe(1);
    expect(fake.transactionsPerConnection()).toEqual([0]);

    await client.send(ENVELOPE, MESSAGE);
    await client.quit();
    const [message] = await fake.waitForMessages(1);
    expect(message?.transactionIndex).toBe(2);
    expect(fake.transactionsPerConnection()).toEqual([1]);
  });

  it('rejects a wrong password with 535', async () => {
    const fake = await startFake({ auth: { user: 'relay', pass: 'secret' } });
    const wrong = await connectWithNodemailer({ host: fake.host, port: fake.port });

    const failure = await wrong.login('relay', 'wrong').catch((error: unknown) => error);
    wrong.close();

    expect(failure).toBeInstanceOf(Error);
    expect((failure as { responseCode?: number }).responseCode).toBe(535);
    expect((failure as { response?: string }).response).toBe(
      '535 5.7.8 Authentication credentials invalid',
    );

    const right = await connectWithNodemailer({ host: fake.host, port: fake.port });
    await right.login('relay', 'secret');
    await right.send(ENVELOPE, MESSAGE);
    await right.quit();

    const [message] = await fake.waitForMessages(1);
    expect(message?.user).toBe('relay');
    expect(fake.authAttempts.map(({ user, succeeded }) => ({ user, succeeded }))).toEqual([
      { user: 'relay', succeeded: false },
      { user: 'relay', succeeded: true },
    ]);
    expect(fake.rejectedReplies).toEqual([
      {
        connectionId: 1,
        stage: 'AUTH',
        code: 535,
        message: '5.7.8 Authentication credentials invalid',
      },
    ]);
  });

  it('verifies STARTTLS with the test CA', async () => {
    const fake = await startFake({ security: 'starttls', requireTls: true });
    const ca = fake.tls?.ca;
    expect(ca).toBeDefined();

    const client = await connectWithNodemailer({
      host: fake.host,
      port: fake.port,
      requireTLS: true,
      tls: { ca },
    });
    await client.send(ENVELOPE, MESSAGE);
    await client.quit();

    const [message] = await fake.waitForMessages(1);
    expect(message?.secure).toBe(true);
    expect(message?.raw.toString('latin1')).toBe(MESSAGE.toString('latin1'));
  });

  it('fails STARTTLS without the test CA', async () => {
    const fake = await startFake({ security: 'starttls' });

    const failure = await connectWithNodemailer({
      host: fake.host,
      port: fake.port,
      requireTLS: true,
    })
      .then((client) => client.send(ENVELOPE, MESSAGE).finally(() => client.close()))
      .catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(Error);
    expect(String(failure)).toMatch(/certificate/i);
    expect(fake.receivedMessages).toEqual([]);
  });

  it('rejects MAIL before STARTTLS when required', async () => {
    const fake = await startFake({ security: 'starttls', requireTls: true });
    const client = await connectWithNodemailer({
      host: fake.host,
      port: fake.port,
      ignoreTLS: true,
    });

    const failure = await client.send(ENVELOPE, MESSAGE).catch((error: unknown) => error);
    client.close();

    expect((failure as { responseCode?: number }).responseCode).toBe(530);
    expect(fake.rejectedReplies[0]).toMatchObject({ stage: 'MAIL', code: 530 });
  });

  it('closes mid-DATA after N bytes', async () => {
    const fake = await startFake({ closeAfterDataBytes: 10_000 });
    const body = 'x'.repeat(76) + '\r\n';
    const bigMessage = Buffer.from('Subject: big\r\n\r\n' + body.repeat(3_000));
    const client = await connectWithNodemailer({ host: fake.host, port: fake.port });

    const failure = await client.send(ENVELOPE, bigMessage).catch((error: unknown) => error);
    client.close();

    expect(failure).toBeInstanceOf(Error);
    expect(fake.receivedMessages).toEqual([]);
    expect(fake.interruptedMessages).toHaveLength(1);
    const interrupted = fake.interruptedMessages[0];
    expect(interrupted?.closedBy).toBe('smarthost');
    expect(interrupted?.bytesReceived).toBeGreaterThanOrEqual(10_000);
    expect(interrupted?.bytesReceived).toBeLessThan(bigMessage.length);
  });

  it('records a client that leaves mid-DATA', async () => {
    const fake = await startFake();

    await rawSession(fake.host, fake.port, [
      { send: 'EHLO client.test\r\n', expect: SMTP_REPLY_LINE },
      { send: 'MAIL FROM:<alice@client.test>\r\n', expect: SMTP_REPLY_LINE },
      { send: 'RCPT TO:<bob@smarthost.test>\r\n', expect: SMTP_REPLY_LINE },
      { send: 'DATA\r\n', expect: SMTP_REPLY_LINE },
      'Subject: cut\r\n\r\npartial body\r\n',
    ]);
    await fake.waitForIdle();

    expect(fake.receivedMessages).toEqual([]);
    expect(fake.interruptedMessages).toEqual([
      {
        connectionId: 1,
        transactionIndex: 1,
        from: 'alice@client.test',
        to: ['bob@smarthost.test'],
        bytesReceived: expect.any(Number) as number,
        closedBy: 'client',
      },
    ]);
  });

  it('times out greeting when silent', async () => {
    const fake = await startFake({ onConnect: () => ({ action: 'silent' }) });

    const failure = await connectWithNodemailer({
      host: fake.host,
      port: fake.port,
      greetingTimeout: 500,
    }).catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(Error);
    expect(String(failure)).toMatch(/greeting/i);
    expect(fake.connectionsOpened).toBe(1);
  });
});

describe('fake smart host with swaks', () => {
  it('records the null sender', async () => {
    const fake = await startFake();

    const result = await sendWithSwaks({
      host: fake.host,
      port: fake.port,
      from: '',
      to: ['bob@smarthost.test', 'carol@smarthost.test'],
      data: MESSAGE,
    });

    expect(result.exitCode).toBe(0);
    expect(result.lastReply).toBe('250 OK: queued as C1T1');
    const [message] = await fake.waitForMessages(1);
    expect(message?.from).toBe('');
    expect(message?.to).toEqual(['bob@smarthost.test', 'carol@smarthost.test']);
    expect(message?.raw.toString('latin1')).toBe(MESSAGE.toString('latin1'));
  });

  it('converts bare LF to CRLF', async () => {
    const fake = await startFake();

    const result = await sendWithSwaks({
      host: fake.host,
      port: fake.port,
      from: 'alice@client.test',
      to: ['bob@smarthost.test'],
      data: 'Subject: lf\n\n..two dots\n.\nlast line without newline',
    });

    expect(result.exitCode).toBe(0);
    const [message] = await fake.waitForMessages(1);
    expect(message?.raw.toString('latin1')).toBe(
      'Subject: lf\r\n\r\n..two dots\r\n.\r\nlast line without newline\r\n',
    );
  });

  it('reports a rejected password', async () => {
    const fake = await startFake({ auth: { user: 'relay', pass: 'secret' } });

    const result = await sendWithSwaks({
      host: fake.host,
      port: fake.port,
      from: 'alice@client.test',
      to: ['bob@smarthost.test'],
      authUser: 'relay',
      authPass: 'wrong',
      authMethod: 'PLAIN',
    });

    expect(result.exitCode).not.toBe(0);
    expect(result.lastReply).toBe('535 5.7.8 Authentication credentials invalid');
    expect(fake.authAttempts).toEqual([
      { connectionId: 1, method: 'PLAIN', user: 'relay', succeeded: false },
    ]);
  });

  it('speaks implicit TLS with the CA', async () => {
    const fake = await startFake({ security: 'tls' });

    const result = await sendWithSwaks({
      host: fake.host,
      port: fake.port,
      from: 'alice@client.test',
      to: ['bob@smarthost.test'],
      data: MESSAGE,
      tlsOnConnect: true,
      ca: fake.tls?.ca,
    });

    expect(result.exitCode).toBe(0);
    const [message] = await fake.waitForMessages(1);
    expect(message?.secure).toBe(true);
  });
});

describe('fake smart host with smtplib', () => {
  it('shows per-recipient rejection', async () => {
    const fake = await startFake({
      onRcptTo: (address) =>
        address.startsWith('unknown@') ? { code: 550, message: '5.1.1 No such user' } : undefined,
    });

    const result = await sendWithSmtplib({
      host: fake.host,
      port: fake.port,
      from: 'alice@client.test',
      to: ['bob@smarthost.test', 'unknown@smarthost.test'],
      data: MESSAGE,
    });

    expect(result.error).toBeUndefined();
    expect(result.mail).toEqual([250, 'Accepted']);
    expect(result.rcpt).toEqual({
      'bob@smarthost.test': [250, 'Accepted'],
      'unknown@smarthost.test': [550, '5.1.1 No such user'],
    });
    expect(result.data).toEqual([250, 'OK: queued as C1T1']);
    const [message] = await fake.waitForMessages(1);
    expect(message?.to).toEqual(['bob@smarthost.test']);
    expect(fake.rejectedReplies).toEqual([
      { connectionId: 1, stage: 'RCPT', code: 550, message: '5.1.1 No such user' },
    ]);
  });

  it('sends bytes as given', async () => {
    const fake = await startFake();
    const data = Buffer.from(
      'Subject: raw\r\n\r\nbare\nLF and bare\rCR\r\n.dot\r\n\xe9\r\n',
      'latin1',
    );

    const result = await sendWithSmtplib({
      host: fake.host,
      port: fake.port,
      from: 'alice@client.test',
      to: ['bob@smarthost.test'],
      data,
    });

    expect(result.data?.[0]).toBe(250);
    const [message] = await fake.waitForMessages(1);
    expect(message?.raw.equals(data)).toBe(true);
  });

  it('rejects a message over SIZE', async () => {
    const fake = await startFake({ size: 1_000 });
    const common = {
      host: fake.host,
      port: fake.port,
      from: 'alice@client.test',
      to: ['bob@smarthost.test'],
    };

    const declared = await sendWithSmtplib({
      ...common,
      data: MESSAGE,
      mailOptions: ['SIZE=5000'],
    });
    const undeclared = await sendWithSmtplib({
      ...common,
      data: Buffer.concat([MESSAGE, Buffer.alloc(2_000, 'y')]),
    });

    expect(declared.mail?.[0]).toBe(552);
    expect(undeclared.data).toEqual([552, '5.3.4 Message size exceeds fixed limit of 1000 bytes']);
    expect(fake.receivedMessages.map((message) => message.outcome)).toEqual(['rejected']);
  });

  it('times out when silent after dot', async () => {
    const fake = await startFake({ onData: () => ({ action: 'silent' }) });

    const result = await sendWithSmtplib({
      host: fake.host,
      port: fake.port,
      from: 'alice@client.test',
      to: ['bob@smarthost.test'],
      data: MESSAGE,
      timeoutSeconds: 1,
    });

    expect(result.error).toMatch(/timed out/i);
    expect(result.data).toBeUndefined();
    expect(fake.messages).toEqual([]);
    expect(fake.receivedMessages.map((message) => message.outcome)).toEqual(['silent']);
  });

  it('verifies STARTTLS and implicit TLS', async () => {
    const starttls = await startFake({ security: 'starttls', requireTls: true });
    const implicit = await startFake({ security: 'tls' });
    const ca = starttls.tls?.ca;

    const viaStarttls = await sendWithSmtplib({
      host: starttls.host,
      port: starttls.port,
      ...ENVELOPE,
      data: MESSAGE,
      starttls: true,
      ca,
    });
    const viaImplicit = await sendWithSmtplib({
      host: implicit.host,
      port: implicit.port,
      ...ENVELOPE,
      data: MESSAGE,
      implicitTls: true,
      ca,
    });

    expect(viaStarttls.error).toBeUndefined();
    expect(viaStarttls.data?.[0]).toBe(250);
    expect(viaImplicit.error).toBeUndefined();
    expect(viaImplicit.data?.[0]).toBe(250);
    const [first] = await starttls.waitForMessages(1);
    const [second] = await implicit.waitForMessages(1);
    expect(first?.secure).toBe(true);
    expect(second?.secure).toBe(true);
  });

  it('binds the local address', async () => {
    const fake = await startFake({
      onConnect: (connection) =>
        connection.remoteAddress === '127.0.0.2'
          ? undefined
          : { code: 554, message: '5.7.1 Wrong address' },
    });

    const result = await sendWithSmtplib({
      host: fake.host,
      port: fake.port,
      ...ENVELOPE,
      data: MESSAGE,
      localAddress: '127.0.0.2',
    });

    expect(result.data?.[0]).toBe(250);
    expect(fake.connections[0]?.remoteAddress).toBe('127.0.0.2');
  });
});

describe('fake smart host with smtp-source', () => {
  it('receives N messages', async () => {
    const fake = await startFake();

    const result = await runSmtpSource({
      host: fake.host,
      port: fake.port,
      messages: 20,
      sessions: 4,
    });

    expect(result.exitCode).toBe(0);
    expect(result.stderr).toBe('');
    await fake.waitForMessages(20);
    await fake.waitForIdle();
    expect(fake.connectionsOpened).toBe(20);
    expect(fake.maxOpenConnections).toBe(4);
  });

  it('reuses connections with -d', async () => {
    const fake = await startFake();

    const result = await runSmtpSource({
      host: fake.host,
      port: fake.port,
      messages: 20,
      sessions: 4,
      reuseConnections: true,
    });

    expect(result.exitCode).toBe(0);
    await fake.waitForMessages(20);
    const perConnection = fake.transactionsPerConnection();
    expect(perConnection).toHaveLength(4);
    expect(perConnection.reduce((sum, count) => sum + count, 0)).toBe(20);
  });
});

describe('fake smart host scripted replies', () => {
  it('replaces the greeting', async () => {
    const fake = await startFake({ onConnect: () => ({ code: 421, message: '4.3.2 Too busy' }) });

    const result = await rawSession(fake.host, fake.port, [
      { send: 'EHLO client.test\r\n', expect: SMTP_REPLY_LINE },
    ]);

    expect(result.greeting).toBe('421 4.3.2 Too busy\r\n');
    expect(fake.rejectedReplies).toEqual([
      { connectionId: 1, stage: 'CONNECT', code: 421, message: '4.3.2 Too busy' },
    ]);
  });

  it('closes on MAIL when scripted', async () => {
    const fake = await startFake({ onMailFrom: () => ({ action: 'close' }) });

    const result = await rawSession(fake.host, fake.port, [
      { send: 'EHLO client.test\r\n', expect: SMTP_REPLY_LINE },
      { send: 'MAIL FROM:<alice@client.test>\r\n', expect: SMTP_REPLY_LINE },
      { send: 'RCPT TO:<bob@smarthost.test>\r\n', expect: SMTP_REPLY_LINE },
    ]);

    expect(result.closedByServer).toBe(true);
    expect(result.stepsSent).toBe(2);
    expect(result.replies[1]).toBe('');
    expect(fake.transactionsPerConnection()).toEqual([0]);
  });

  it('rejects after dot from onData', async () => {
    const fake = await startFake({
      onData: (message) =>
        message.raw.includes('Subject: spam')
          ? { code: 554, message: '5.7.1 Rejected as spam' }
          : undefined,
    });
    const client = await connectWithNodemailer({ host: fake.host, port: fake.port });

    const failure = await client
      .send(ENVELOPE, 'Subject: spam\r\n\r\nbuy\r\n')
      .catch((error: unknown) => error);
    await client.send(ENVELOPE, MESSAGE);
    await client.quit();

    expect((failure as { response?: string }).response).toBe('554 5.7.1 Rejected as spam');
    expect(fake.receivedMessages.map((message) => message.outcome)).toEqual([
      'rejected',
      'accepted',
    ]);
  });

  it('setHooks changes later replies', async () => {
    const fake = await startFake({
      onMailFrom: () => ({ code: 451, message: '4.3.0 Try again later' }),
    });
    const common = { host: fake.host, port: fake.port, ...ENVELOPE, data: MESSAGE };

    const deferred = await sendWithSmtplib(common);
    fake.setHooks({ onMailFrom: undefined });
    const delivered = await sendWithSmtplib(common);

    expect(deferred.mail).toEqual([451, '4.3.0 Try again later']);
    expect(delivered.data?.[0]).toBe(250);
    expect(fake.messages).toHaveLength(1);
  });

  it('onAuth replaces the AUTH reply', async () => {
    const fake = await startFake({
      auth: { user: 'relay', pass: 'secret' },
      onAuth: () => ({ code: 454, message: '4.7.0 Temporary authentication failure' }),
    });

    const result = await sendWithSmtplib({
      host: fake.host,
      port: fake.port,
      ...ENVELOPE,
      data: MESSAGE,
      authUser: 'relay',
      authPass: 'secret',
    });

    expect(result.auth).toEqual([454, '4.7.0 Temporary authentication failure']);
    // smtplib's login() tries the next mechanism after a failure.
    expect(fake.authAttempts).toEqual([
      { connectionId: 1, method: 'PLAIN', user: 'relay', succeeded: false },
      { connectionId: 1, method: 'LOGIN', user: 'relay', succeeded: false },
    ]);
  });

  it('requires AUTH when configured', async () => {
    const fake = await startFake({ auth: { user: 'relay', pass: 'secret' } });

    const result = await sendWithSmtplib({
      host: fake.host,
      port: fake.port,
      ...ENVELOPE,
      data: MESSAGE,
    });

    expect(result.mail?.[0]).toBe(530);
    expect(fake.receivedMessages).toEqual([]);
  });

  it('rejects AUTH before STARTTLS', async () => {
    const fake = await startFake({ security: 'starttls', auth: { user: 'relay', pass: 'secret' } });
    const token = Buffer.from('\0relay\0secret').toString('base64');

    const result = await rawSession(fake.host, fake.port, [
      { send: 'EHLO client.test\r\n', expect: SMTP_REPLY_LINE },
      { send: `AUTH PLAIN ${token}\r\n`, expect: SMTP_REPLY_LINE },
    ]);

    expect(result.replies[1]).toBe('538 Error: Must issue a STARTTLS command first\r\n');
    expect(fake.authAttempts).toEqual([]);
  });

  it('waitForMessages names the count', async () => {
    const fake = await startFake();

    await expect(fake.waitForMessages(2, 200)).rejects.toThrow(
      /timed out after 200 ms waiting for 2 accepted messages; 0 accepted/,
    );
  });
});

// These pin smtp-server 3.21.6 behaviour that the relay's bad-input tests
// build on.
describe('smtp-server input handling', () => {
  const openData = [
    { send: 'EHLO client.test\r\n', expect: SMTP_REPLY_LINE },
    { send: 'MAIL FROM:<alice@client.test>\r\n', expect: SMTP_REPLY_LINE },
    { send: 'RCPT TO:<bob@smarthost.test>\r\n', expect: SMTP_REPLY_LINE },
    { send: 'DATA\r\n', expect: /^354 /m },
  ];

  it('ends DATA only at CRLF.CRLF', async () => {
    const fake = await startFake();

    const result = await rawSession(fake.host, fake.port, [
      ...openData,
      { send: 'a\n.\nb\n.\r\nc\r\n.\nd\r\n..e\r\n.\r\n', expect: SMTP_REPLY_LINE },
    ]);

    expect(result.replies[4]).toBe('250 OK: queued as C1T1\r\n');
    const [message] = await fake.waitForMessages(1);
    expect(message?.raw.toString('latin1')).toBe('a\n.\nb\n.\r\nc\r\n.\nd\r\n.e\r\n');
  });

  it('accepts commands ending in bare LF', async () => {
    const fake = await startFake();

    const result = await rawSession(fake.host, fake.port, [
      { send: 'EHLO client.test\n', expect: SMTP_REPLY_LINE },
      { send: 'MAIL FROM:<alice@client.test>\n', expect: SMTP_REPLY_LINE },
    ]);

    expect(result.replies[1]).toBe('250 Accepted\r\n');
  });

  it('accepts an empty message', async () => {
    const fake = await startFake();

    await rawSession(fake.host, fake.port, [
      ...openData,
      { send: '.\r\n', expect: SMTP_REPLY_LINE },
    ]);

    const [message] = await fake.waitForMessages(1);
    expect(message?.raw.length).toBe(0);
  });
});

describe('parseLogLine', () => {
  it('parses bare and quoted values', () => {
    const parsed = parseLogLine(
      '2024-05-01T10:00:00.000Z DELIVERED id=Q1 to="Bob \\"B\\" <bob@x.test>" ' +
        'reply="250 2.0.0 OK" size=1200 empty= path="C:\\\\mail"',
    );

    expect(parsed?.timestamp).toBe('2024-05-01T10:00:00.000Z');
    expect(parsed?.event).toBe('DELIVERED');
    expect(parsed?.fields).toEqual({
      id: 'Q1',
      to: 'Bob "B" <bob@x.test>',
      reply: '250 2.0.0 OK',
      size: '1200',
      empty: '',
      path: 'C:\\mail',
    });
  });

  it('parses a line without fields', () => {
    expect(parseLogLine('2024-05-01T10:00:00Z STOPPED')?.fields).toEqual({});
  });

  it('returns undefined for other lines', () => {
    expect(parseLogLine('listening on port 25')).toBeUndefined();
    expect(parseLogLine('2024-05-01T10:00:00Z started lowercase')).toBeUndefined();
    expect(parseLogLine('2024-05-01T10:00:00Z QUEUED id="unterminated')).toBeUndefined();
    expect(parseLogLine('2024-05-01T10:00:00Z QUEUED novalue')).toBeUndefined();
  });
});

// A stub script replaces core/cli/serve.ts here. It follows the same output
// contract, so these tests check the helper and not the relay.
const STUB_SERVE = `
import net from 'node:net';
const args = process.argv.slice(2);
const dataDir = args[args.indexOf('--data-dir') + 1];
if (args.includes('--fail')) {
  console.error('config error: --smarthost is missing');
  process.exit(3);
}
const server = net.createServer();
server.listen(0, '127.0.0.1', () => {
  const port = server.address().port;
  const password = process.env.SMARTHOST_PASSWORD ? 'set' : 'missing';
  console.log(new Date().toISOString() + ' STARTED listen=127.0.0.1:' + port +
    ' data_dir=' + JSON.stringify(dataDir) + ' password=' + password);
});
process.on('SIGTERM', () => {
  console.log(new Date().toISOString() + ' STOPPED reason="SIGTERM received"');
  server.close(() => process.exit(0));
});
`;

describe('startServe', () => {
  it('starts, parses and stops a stub', async () => {
    const dir = await createTempDir('stub');
    const entry = join(dir, 'serve-stub.mjs');
    await writeFile(entry, STUB_SERVE);

    const serve = await startServe({
      dataDir: dir,
      args: ['--listen', '127.0.0.1:0'],
      env: { SMARTHOST_PASSWORD: 'secret' },
      entry,
    });

    expect(serve.host).toBe('127.0.0.1');
    expect(serve.port).toBeGreaterThan(0);
    expect(serve.events('STARTED')[0]?.fields).toMatchObject({
      data_dir: dir,
      password: 'set',
    });

    const exitCode = await serve.stop();
    expect(exitCode).toBe(0);
    await expect(serve.waitForEvent('STOPPED', () => true, 1_000)).resolves.toMatchObject({
      fields: { reason: 'SIGTERM received' },
    });
  });

  it('drops an inherited SMARTHOST_PASSWORD', async () => {
    const dir = await createTempDir('stub');
    const entry = join(dir, 'serve-stub.mjs');
    await writeFile(entry, STUB_SERVE);
    const previous = process.env.SMARTHOST_PASSWORD;
    process.env.SMARTHOST_PASSWORD = 'from-the-shell';

    try {
      const serve = await startServe({ dataDir: dir, args: [], entry });
      expect(serve.events('STARTED')[0]?.fields.password).toBe('missing');
      await serve.stop();
    } finally {
      if (previous === undefined) {
        delete process.env.SMARTHOST_PASSWORD;
      } else {
        process.env.SMARTHOST_PASSWORD = previous;
      }
    }
  });

  it('reports output of a failed start', async () => {
    const dir = await createTempDir('stub');
    const entry = join(dir, 'serve-stub.mjs');
    await writeFile(entry, STUB_SERVE);

    await expect(startServe({ dataDir: dir, args: ['--fail'], entry })).rejects.toThrow(
      /exit code 3[\s\S]*config error: --smarthost is missing/,
    );
  });
});

describe('temp dirs', () => {
  it('removes created dirs', async () => {
    const dir = await createTempDir('check');
    expect(existsSync(dir)).toBe(true);

    await removeTempDirs();

    expect(existsSync(dir)).toBe(false);
  });
});
