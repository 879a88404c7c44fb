// The smart-host side of `serve`: STARTTLS and implicit TLS with a CA
// given by --smarthost-ca, and certificate checks on by default. AUTH uses
// the password from SMARTHOST_PASSWORD, which never shows up in the
// output, the activity log or the data dir.
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startFakeSmartHost } from './support/fake-smarthost.ts';
import type { FakeSmartHost, FakeSmartHostOptions } from './support/fake-smarthost.ts';
import { killAllServeProcesses } from './support/serve-process.ts';
import { createTempDir, useTempDirs } from './support/tmp.ts';
import { delay, queueFiles, readActivityLog, startRelay, submitMessage } from './support/relay-harness.ts';
import type { RelayUnderTest } from './support/relay-harness.ts';

useTempDirs();
afterAll(killAllServeProcesses);

const fakes: FakeSmartHost[] = [];

afterEach(async () => {
  await Promise.all(fakes.splice(0).map((fake) => fake.stop()));
});

async function startFake(options: FakeSmartHostOptions): Promise<FakeSmartHost> {
  const fake = await startFakeSmartHost(options);
  fakes.push(fake);
  return fake;
}

/** Writes the fake's CA certificate to a file for --smarthost-ca. */
async function caFile(fake: FakeSmartHost): Promise<string> {
  const dir = await createTempDir('ca');
  const file = join(dir, 'smarthost-ca.pem');
  await writeFile(file, fake.tls?.ca ?? '');
  return file;
}

/** Submits one message to the relay and returns its queue id. */
function submit(relay: RelayUnderTest, to: string): Promise<string> {
  const raw = `Subject: upstream test\r\nTo: <${to}>\r\n\r\nbody\r\n`;
  return submitMessage(relay.serve, { from: 'device@office.test', to: [to] }, raw);
}

/** Lists every file under `dir`, recursively. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
}

describe('TLS to the smart host', () => {
  it('uses STARTTLS with --smarthost-ca', async () => {
    const fake = await startFake({ security: 'starttls', requireTls: true });
    const relay = await startRelay({
      fake,
      args: ['--security', 'starttls', '--smarthost-ca', await caFile(fake)],
    });

    await submit(relay, 'starttls@example.test');

    const [relayed] = await fake.waitForMessages(1);
    expect(relayed?.secure).toBe(true);
    await relay.serve.waitForEvent('SENT');
  });

  it('uses implicit TLS with --security tls', async () => {
    const fake = await startFake({ security: 'tls' });
    const relay = await startRelay({
      fake,
      args: ['--security', 'tls', '--smarthost-ca', await caFile(fake)],
    });

    await submit(relay, 'implicit@example.test');

    const [relayed] = await fake.waitForMessages(1);
    expect(relayed?.secure).toBe(true);
  });

  for (const security of ['starttls', 'tls'] as const) {
    it(`keeps mail queued for an untrusted certificate (${security})`, async () => {
      // The fake's certificate comes from a CA the relay was not given.
      const fake = await startFake({ security });
      const relay = await startRelay({ fake, args: ['--security', security] });

      const id = await submit(relay, 'untrusted@example.test');

      const deferred = await relay.serve.waitForEvent('DEFERRED', (fields) => fields.id === id);
      expect(deferred.fields.reply).toMatch(/certificate/i);
      const failed = relay.serve.events('CONNECT_FAILED');
      expect(failed.length).toBeGreaterThan(0);
      expect(failed[0]?.fields.reply).toMatch(/certificate/i);
      await delay(300);
      expect(fake.receivedMessages).toHaveLength(0);
      expect(fake.authAttempts).toHaveLength(0);
      expect(await queueFiles(relay.dataDir)).toEqual([`${id}.eml`, `${id}.json`]);
      const record = JSON.parse(await readFile(join(relay.dataDir, 'queue', `${id}.json`), 'utf8'));
      expect(record.attempts).toBeGreaterThanOrEqual(1);
      expect(record.lastReply).toMatch(/certificate/i);
    });
  }
});

describe('AUTH to the smart host', () => {
  const user = 'office@example.test';
  const password = 'S3cret-Smarthost-Pa55';

  function expectNoPassword(text: string, where: string): void {
    const forms = [
      password,
      Buffer.from(password).toString('base64'),
      Buffer.from(`\0${user}\0${password}`).toString('base64'),
    ];
    for (const form of forms) expect(text.includes(form), `${where} contains the password`).toBe(false);
  }

  async function expectSecretKept(relay: RelayUnderTest): Promise<void> {
    expectNoPassword(relay.serve.lines.join('\n'), 'stdout');
    expectNoPassword(relay.serve.stderr, 'stderr');
    expectNoPassword(await readActivityLog(relay.dataDir), 'the activity log');
    for (const file of await filesUnder(relay.dataDir)) {
      expectNoPassword(await readFile(file, 'latin1'), file);
    }
  }

  it('authenticates with SMARTHOST_PASSWORD', async () => {
    const fake = await startFake({ security: 'starttls', requireTls: true, auth: { user, pass: password } });
    const dataDir = await createTempDir('auth');
    const settingsFile = join(dataDir, 'settings.json');
    // The user name comes from settings.json, the password from the
    // environment only.
    const settingsText = JSON.stringify({ user }, null, 2);
    await writeFile(settingsFile, settingsText);
    const relay = await startRelay({
      fake,
      dataDir,
      args: ['--security', 'starttls', '--smarthost-ca', await caFile(fake)],
      env: { SMARTHOST_PASSWORD: password },
    });

    await submit(relay, 'authenticated@example.test');

    const [relayed] = await fake.waitForMessages(1);
    expect(relayed?.user).toBe(user);
    expect(relayed?.secure).toBe(true);
    expect(fake.authAttempts.map((attempt) => attempt.succeeded)).toEqual([true]);
    expect(await relay.serve.stop()).toBe(0);

    expect(await readFile(settingsFile, 'utf8')).toBe(settingsText);
    expect((await stat(settingsFile)).size).toBe(settingsText.length);
    await expectSecretKept(relay);
  });

  it('never logs a rejected password', async () => {
    const fake = await startFake({
      security: 'starttls',
      requireTls: true,
      auth: { user, pass: 'the-right-one' },
    });
    const relay = await startRelay({
      fake,
      args: ['--user', user, '--security', 'starttls', '--smarthost-ca', await caFile(fake)],
      env: { SMARTHOST_PASSWORD: password },
    });

    const id = await submit(relay, 'rejected@example.test');

    await relay.serve.waitForLine(/535/);
    expect(fake.authAttempts[0]?.succeeded).toBe(false);
    expect(fake.receivedMessages).toHaveLength(0);
    expect(await queueFiles(relay.dataDir)).toContain(`${id}.eml`);
    expect(await relay.serve.stop()).toBe(0);
    await expectSecretKept(relay);
  });
});
