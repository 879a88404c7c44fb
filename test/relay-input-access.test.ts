// Who may relay through `serve`, and over which TLS: the allowed networks,
// device AUTH (PLAIN, LOGIN, LOGIN with an initial response) over
// STARTTLS, the generated listener certificate, and the oldest TLS
// version a listener accepts.
import { X509Certificate } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { rawSession, runProcess, sendWithSwaks, SMTP_REPLY_LINE } from './support/clients.ts';
import { startFakeSmartHost } from './support/fake-smarthost.ts';
import type { FakeSmartHost } from './support/fake-smarthost.ts';
import { killAllServeProcesses, SERVE_ENTRY, startServe } from './support/serve-process.ts';
import { createTempDir, useTempDirs } from './support/tmp.ts';
import {
  delay,
  FAST_ARGS,
  hasBinary,
  openSmtpDialog,
  queueFiles,
  readActivityLog,
  RELAY_HOSTNAME,
  splitReceived,
  startRelay,
  SWAKS_PATH,
  tmpFiles,
  waitUntil,
} from './support/relay-harness.ts';
import type { SmtpDialog } from './support/relay-harness.ts';

useTempDirs();
afterAll(killAllServeProcesses);

const fakes: FakeSmartHost[] = [];
const dialogs: SmtpDialog[] = [];

afterEach(async () => {
  for (const dialog of dialogs.splice(0)) dialog.close();
  await Promise.all(fakes.splice(0).map((fake) => fake.stop()));
});

async function startFake(): Promise<FakeSmartHost> {
  const fake = await startFakeSmartHost();
  fakes.push(fake);
  return fake;
}

async function dialogTo(host: string, port: number, localAddress?: string): Promise<SmtpDialog> {
  const dialog = await openSmtpDialog(host, port, localAddress);
  dialogs.push(dialog);
  return dialog;
}

const SWAKS_MISSING = 'swaks is not installed at /usr/bin/swaks (apt-get install swaks)';
const ONLY_127_0_0_1 = ['--no-default-allow', '--allow', '127.0.0.1/32'];
const MESSAGE = 'Subject: access test\r\n\r\nbody\r\n';

/** Steps of a whole transaction on a raw session, QUIT included. */
function rawTransaction(to: string): { send: string; expect: RegExp }[] {
  return [
    { send: 'EHLO client.test\r\n', expect: /^250 /m },
    { send: 'MAIL FROM:<device@office.test>\r\n', expect: SMTP_REPLY_LINE },
    { send: `RCPT TO:<${to}>\r\n`, expect: SMTP_REPLY_LINE },
    { send: 'DATA\r\n', expect: SMTP_REPLY_LINE },
    { send: `${MESSAGE}.\r\n`, expect: SMTP_REPLY_LINE },
    { send: 'QUIT\r\n', expect: SMTP_REPLY_LINE },
  ];
}

describe('allowed networks', () => {
  it('rejects a client outside them at RCPT', async () => {
    const fake = await startFake();
    const relay = await startRelay({ fake, args: ONLY_127_0_0_1 });

    const outside = await rawSession(relay.serve.host, relay.serve.port, rawTransaction('x@example.test'), {
      localAddress: '127.0.0.2',
    });
    expect(outside.replies[1]).toMatch(/^250 /);
    expect(outside.replies[2]).toMatch(/^550 5\.7\.1 /);
    // No recipient was accepted, so DATA has nothing to carry.
    expect(outside.replies[3]).toMatch(/^5\d\d /);

    const inside = await rawSession(relay.serve.host, relay.serve.port, rawTransaction('y@example.test'), {
      localAddress: '127.0.0.1',
    });
    expect(inside.replies[2]).toMatch(/^250 /);
    expect(inside.replies[4]).toMatch(/^250 2\.0\.0 Ok: queued as [A-Z0-9]+\r\n$/);

    await fake.waitForMessages(1);
    await relay.serve.waitForEvent('SENT');
    await delay(200);
    expect(fake.receivedMessages).toHaveLength(1);
    expect(fake.messages[0]?.to).toEqual(['y@example.test']);
    const rejected = relay.serve.events('REJECTED');
    expect(rejected).toHaveLength(1);
    expect(rejected[0]?.fields.client).toBe('127.0.0.2');
    expect(relay.serve.events('QUEUED')).toHaveLength(1);
    await waitUntil(async () => (await queueFiles(relay.dataDir)).length === 0, 'an empty queue');
    expect(await tmpFiles(relay.dataDir)).toEqual([]);
  });

  it('stores nothing for a rejected client', async () => {
    // No smart host, so anything stored would stay in the queue.
    const relay = await startRelay({ fake: null, args: ONLY_127_0_0_1 });

    const outside = await rawSession(relay.serve.host, relay.serve.port, rawTransaction('x@example.test'), {
      localAddress: '127.0.0.2',
    });
    expect(outside.replies[2]).toMatch(/^550 5\.7\.1 /);
    await delay(200);
    expect(relay.serve.events('QUEUED')).toHaveLength(0);
    expect(await queueFiles(relay.dataDir)).toEqual([]);
    expect(await tmpFiles(relay.dataDir)).toEqual([]);
  });

  it('matches IPv4-mapped clients on a dual-stack listener', async () => {
    const fake = await startFake();
    // [::] accepts IPv4 clients as ::ffff:a.b.c.d.
    const relay = await startRelay({ fake, args: [...ONLY_127_0_0_1, '--listen', '[::]:0'] });

    const outside = await rawSession('127.0.0.1', relay.serve.port, rawTransaction('x@example.test'), {
      localAddress: '127.0.0.2',
    });
    expect(outside.replies[2]).toMatch(/^550 5\.7\.1 /);
    const inside = await rawSession('127.0.0.1', relay.serve.port, rawTransaction('y@example.test'), {
      localAddress: '127.0.0.1',
    });
    expect(inside.replies[4]).toMatch(/^250 /);

    const [relayed] = await fake.waitForMessages(1);
    // The Received: header shows the IPv4 address, not the mapped form.
    expect(splitReceived(relayed!.raw).received).toMatch(/\(\[127\.0\.0\.1\]\)/);
  });
});

/** Runs `serve --hash-password` with `password` on stdin and returns the hash it prints. */
async function hashWithServe(password: string): Promise<string> {
  const result = await runProcess(process.execPath, ['--import', 'tsx', SERVE_ENTRY, '--hash-password'], {
    input: `${password}\n`,
    timeoutMs: 20_000,
  });
  expect(result.exitCode, result.stderr).toBe(0);
  return result.stdout.trim();
}

describe('device AUTH over STARTTLS', () => {
  const user = 'scanner';
  const password = 'Sc@n-2-mail!';

  async function startWithDeviceUser(fake: FakeSmartHost) {
    const hash = await hashWithServe(password);
    expect(hash).toMatch(/^scrypt\$[0-9a-f]+\$[0-9a-f]+$/);
    const dataDir = await createTempDir('auth');
    await writeFile(
      join(dataDir, 'settings.json'),
      JSON.stringify({ deviceUsers: [{ username: user, passwordHash: hash }] }),
    );
    return startRelay({ fake, dataDir, args: ONLY_127_0_0_1 });
  }

  it('accepts PLAIN and LOGIN from a non-allowed address', async (context) => {
    context.skip(!hasBinary(SWAKS_PATH), SWAKS_MISSING);
    const fake = await startFake();
    const relay = await startWithDeviceUser(fake);

    for (const method of ['PLAIN', 'LOGIN']) {
      const result = await sendWithSwaks({
        host: relay.serve.host,
        port: relay.serve.port,
        localAddress: '127.0.0.2',
        from: 'scanner@office.test',
        to: [`${method.toLowerCase()}@example.test`],
        data: MESSAGE,
        tls: true,
        authUser: user,
        authPass: password,
        extraArgs: ['--auth', method],
      });
      expect(result.stdout).toMatch(new RegExp(`~> AUTH ${method}\\b`));
      expect(result.replies, result.stdout).toContain('235 2.7.0 Authentication successful');
      expect(result.lastReply, result.stdout).toMatch(/^250 /);
    }

    const relayed = await fake.waitForMessages(2);
    expect(relayed.map((message) => message.to[0]).sort()).toEqual(['login@example.test', 'plain@example.test']);
    for (const message of relayed) {
      // RFC 3848: ESMTPSA is ESMTP with both STARTTLS and AUTH.
      expect(splitReceived(message.raw).received).toMatch(/ with ESMTPSA id /);
    }
    const queued = relay.serve.events('QUEUED');
    expect(queued.map((event) => event.fields.user)).toEqual([user, user]);
    expect(queued.map((event) => event.fields.client)).toEqual(['127.0.0.2', '127.0.0.2']);
  });

  it('accepts LOGIN with the user on the AUTH line', async () => {
    const fake = await startFake();
    const relay = await startWithDeviceUser(fake);
    const dialog = await dialogTo(relay.serve.host, relay.serve.port, '127.0.0.2');
    const base64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

    expect(await dialog.command('EHLO client.test')).toMatch(/STARTTLS/);
    await dialog.startTls({ rejectUnauthorized: false, servername: RELAY_HOSTNAME });
    expect(await dialog.command('EHLO client.test')).toMatch(/AUTH PLAIN LOGIN/);
    // RFC 4954 initial response: AUTH LOGIN <base64 user>, then only the password.
    expect(await dialog.command(`AUTH LOGIN ${base64(user)}`)).toBe(`334 ${base64('Password:')}\r\n`);
    expect(await dialog.command(base64(password))).toMatch(/^235 /);
    expect(await dialog.command('MAIL FROM:<scanner@office.test>')).toMatch(/^250 /);
    expect(await dialog.command('RCPT TO:<initial@example.test>')).toMatch(/^250 /);
    expect(await dialog.command('DATA')).toMatch(/^354 /);
    expect(await dialog.command(`${MESSAGE}.`)).toMatch(/^250 /);
    await dialog.command('QUIT');

    const [relayed] = await fake.waitForMessages(1);
    expect(relayed?.to).toEqual(['initial@example.test']);
  });

  it('rejects a wrong password with 535', async () => {
    const fake = await startFake();
    const relay = await startWithDeviceUser(fake);
    const dialog = await dialogTo(relay.serve.host, relay.serve.port, '127.0.0.2');
    const wrong = 'not-the-password';

    await dialog.command('EHLO client.test');
    await dialog.startTls({ rejectUnauthorized: false, servername: RELAY_HOSTNAME });
    await dialog.command('EHLO client.test');
    const plain = Buffer.from(`\0${user}\0${wrong}`).toString('base64');
    expect(await dialog.command(`AUTH PLAIN ${plain}`)).toMatch(/^535 5\.7\.8 /);
    // Still not authenticated, so still not allowed to relay.
    expect(await dialog.command('MAIL FROM:<scanner@office.test>')).toMatch(/^250 /);
    expect(await dialog.command('RCPT TO:<x@example.test>')).toMatch(/^550 5\.7\.1 /);
    await dialog.command('QUIT');

    const failed = await relay.serve.waitForEvent('AUTH_FAILED');
    expect(failed.fields.user).toBe(user);
    expect(failed.fields.client).toBe('127.0.0.2');
    const log = await readActivityLog(relay.dataDir);
    expect(log).not.toContain(wrong);
    expect(relay.serve.lines.join('\n')).not.toContain(wrong);
  });

  it('rejects AUTH before STARTTLS', async () => {
    const fake = await startFake();
    const relay = await startWithDeviceUser(fake);
    const dialog = await dialogTo(relay.serve.host, relay.serve.port, '127.0.0.2');

    await dialog.command('EHLO client.test');
    const plain = Buffer.from(`\0${user}\0${password}`).toString('base64');
    // The password must not cross the network in clear text.
    expect(await dialog.command(`AUTH PLAIN ${plain}`)).toMatch(/^5\d\d /);
    await dialog.command('QUIT');
  });
});

describe('listener TLS', () => {
  /** Reads the certificate the relay generated into its data dir. */
  async function generatedCertificate(dataDir: string): Promise<X509Certificate> {
    return new X509Certificate(await readFile(join(dataDir, 'tls', 'relay-cert.pem')));
  }

  it('serves STARTTLS with a generated certificate', async () => {
    const dataDir = await createTempDir('tls');
    const fingerprints: string[] = [];

    for (let start = 0; start < 2; start += 1) {
      // No --tls-cert: the relay generates one on the first start.
      const serve = await startServe({ dataDir, args: [...FAST_ARGS] });
      const certificate = await generatedCertificate(dataDir);
      const dialog = await dialogTo(serve.host, serve.port);
      await dialog.command('EHLO client.test');
      const secure = await dialog.startTls({ ca: certificate.toString(), servername: RELAY_HOSTNAME });
      expect(secure.authorized).toBe(true);
      fingerprints.push(secure.getPeerX509Certificate()?.fingerprint256 ?? '');
      expect(fingerprints[start]).toBe(certificate.fingerprint256);
      expect(await dialog.command('EHLO client.test')).toMatch(/^250/);
      await dialog.command('QUIT');
      expect(await serve.stop()).toBe(0);
    }

    // The second start reused the certificate, so devices that pinned it keep working.
    expect(fingerprints[1]).toBe(fingerprints[0]);
    const keyMode = (await stat(join(dataDir, 'tls', 'relay-key.pem'))).mode & 0o777;
    expect(keyMode.toString(8)).toBe('600');
  });

  it('rejects TLS 1.2 below a TLS 1.3 minimum', async () => {
    const relay = await startRelay({ fake: null, args: ['--tls-min-version', 'TLSv1.3'] });

    const old = await dialogTo(relay.serve.host, relay.serve.port);
    await old.command('EHLO client.test');
    await expect(old.startTls({ rejectUnauthorized: false, maxVersion: 'TLSv1.2' })).rejects.toThrow();

    const current = await dialogTo(relay.serve.host, relay.serve.port);
    await current.command('EHLO client.test');
    const secure = await current.startTls({ rejectUnauthorized: false });
    expect(secure.getProtocol()).toBe('TLSv1.3');
  });

  // NOTE: this needs an OpenSSL that still negotiates TLS 1.0 at security
  // level 0 on both sides, as OpenSSL 3.0.19 here does. A build without
  // TLS 1.0 fails the handshake even with the legacy listener.
  it('accepts TLS 1.0 on a legacy listener', async () => {
    const fake = await startFake();
    const dataDir = await createTempDir('legacy');
    // The generated RSA certificate, as an old scanner would see it.
    const serve = await startServe({
      dataDir,
      args: [...FAST_ARGS, '--smarthost', `${fake.host}:${fake.port}`, '--tls-min-version', 'TLSv1'],
    });
    const legacyClient = {
      rejectUnauthorized: false,
      minVersion: 'TLSv1',
      maxVersion: 'TLSv1',
      ciphers: 'DEFAULT:@SECLEVEL=0',
    } as const;

    const dialog = await dialogTo(serve.host, serve.port);
    await dialog.command('EHLO scanner.test');
    const secure = await dialog.startTls(legacyClient);
    expect(secure.getProtocol()).toBe('TLSv1');
    await dialog.command('EHLO scanner.test');
    expect(await dialog.command('MAIL FROM:<scanner@office.test>')).toMatch(/^250 /);
    expect(await dialog.command('RCPT TO:<legacy@example.test>')).toMatch(/^250 /);
    expect(await dialog.command('DATA')).toMatch(/^354 /);
    expect(await dialog.command(`${MESSAGE}.`)).toMatch(/^250 /);
    await dialog.command('QUIT');
    const [relayed] = await fake.waitForMessages(1);
    expect(splitReceived(relayed!.raw).received).toMatch(/ with ESMTPS id /);

    // The default listener (TLS 1.2 and later) rejects the same client.
    const modern = await startRelay({ fake: null });
    const rejected = await dialogTo(modern.serve.host, modern.serve.port);
    await rejected.command('EHLO scanner.test');
    await expect(rejected.startTls(legacyClient)).rejects.toThrow();
  });
});
