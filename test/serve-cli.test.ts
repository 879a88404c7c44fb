// The `serve` command as a user runs it. Bad options exit with code 2 and
// a message naming the flag, the value and the allowed range. Flags
// override settings.json, --help documents every option, and the password
// helpers work.
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { verifyPassword } from '../core/device-auth.ts';
import { SETTING_SPECS } from '../core/settings.ts';
import { runProcess } from './support/clients.ts';
import type { ProcessResult } from './support/clients.ts';
import { startFakeSmartHost } from './support/fake-smarthost.ts';
import type { FakeSmartHost } from './support/fake-smarthost.ts';
import { killAllServeProcesses, SERVE_ENTRY } from './support/serve-process.ts';
import { createTempDir, useTempDirs } from './support/tmp.ts';
import { openSmtpDialog, startRelay } from './support/relay-harness.ts';

useTempDirs();
afterAll(killAllServeProcesses);

const fakes: FakeSmartHost[] = [];

afterEach(async () => {
  await Promise.all(fakes.splice(0).map((fake) => fake.stop()));
});

const EXIT_USAGE = 2;

/** Runs serve to completion with `args`, for options that make it exit at once. */
async function runServe(args: string[], input?: string): Promise<ProcessResult> {
  const dataDir = args.includes('--data-dir') ? [] : ['--data-dir', await createTempDir('cli')];
  return runProcess(process.execPath, ['--import', 'tsx', SERVE_ENTRY, ...dataDir, ...args], {
    input,
    timeoutMs: 20_000,
  });
}

describe('invalid options', () => {
  const cases: [string[], string][] = [
    [['--max-connections', '50'], 'Invalid value for --max-connections: "50". Expected an integer from 1 to 20.'],
    [
      ['--listen', 'nonsense'],
      'Invalid value for --listen: "nonsense". Expected HOST:PORT with a port from 0 to 65535',
    ],
    [
      ['--allow', '10.0.0.0/8', '--allow', '300.1.2.3/8'],
      'Invalid value for --allow: "300.1.2.3/8". Expected a network in CIDR notation',
    ],
    [['--security', 'ssl'], 'Invalid value for --security: "ssl". Expected one of starttls, tls, none.'],
    [['--queue-lifetime', '0'], 'Invalid value for --queue-lifetime: "0". Expected a number from 0.0003 to 720.'],
    [
      ['--retry-initial', '10', '--retry-max', '5'],
      'Invalid value for --retry-max: 5. Expected a number of seconds at least --retry-initial (10).',
    ],
  ];

  for (const [args, message] of cases) {
    it(`exits 2 for ${args.join(' ')}`, async () => {
      const result = await runServe(args);
      expect(result.exitCode, result.stderr).toBe(EXIT_USAGE);
      expect(result.stderr).toContain(message);
      expect(result.stdout).not.toMatch(/ STARTED /);
    });
  }

  it('exits 2 for an unknown option', async () => {
    const result = await runServe(['--max-conections', '3']);
    expect(result.exitCode).toBe(EXIT_USAGE);
    expect(result.stderr).toContain("unknown option '--max-conections'");
  });

  it('exits 2 for a missing value', async () => {
    const result = await runServe(['--max-connections']);
    expect(result.exitCode).toBe(EXIT_USAGE);
    expect(result.stderr).toContain("option '--max-connections <N>' argument missing");
  });
});

describe('settings.json', () => {
  it('is overridden by a flag', async () => {
    const dataDir = await createTempDir('cli');
    await writeFile(
      join(dataDir, 'settings.json'),
      JSON.stringify({ hostname: 'from-file.test', security: 'tls', maxMessageSizeMb: 1 }),
    );

    const relay = await startRelay({ fake: null, dataDir, args: ['--security', 'starttls'] });

    // FAST_ARGS sets --hostname too, so the file's value is checked on a
    // setting no flag gives: the size advertised in EHLO.
    const started = relay.serve.events('STARTED')[0];
    expect(started?.fields.security).toBe('starttls');
    const dialog = await openSmtpDialog(relay.serve.host, relay.serve.port);
    try {
      expect(await dialog.command('EHLO client.test')).toMatch(/^250[- ]SIZE 1048576\r$/m);
    } finally {
      dialog.close();
    }
  });

  it('rejects an unknown key by name', async () => {
    const dataDir = await createTempDir('cli');
    await writeFile(join(dataDir, 'settings.json'), JSON.stringify({ maxConnection: 5 }));

    const result = await runServe(['--data-dir', dataDir, '--listen', '127.0.0.1:0']);

    expect(result.exitCode).toBe(EXIT_USAGE);
    expect(result.stderr).toContain('Invalid value for maxConnection in settings.json: 5. Expected a known setting (');
  });

  it('rejects a value out of range by key', async () => {
    const dataDir = await createTempDir('cli');
    await writeFile(join(dataDir, 'settings.json'), JSON.stringify({ maxConnections: 21 }));

    const result = await runServe(['--data-dir', dataDir, '--listen', '127.0.0.1:0']);

    expect(result.exitCode).toBe(EXIT_USAGE);
    expect(result.stderr).toContain(
      'Invalid value for maxConnections in settings.json: 21. Expected an integer from 1 to 20.',
    );
  });
});

/** Splits `--help` output into one text per option, continuation lines joined. */
function helpEntries(help: string): Map<string, string> {
  const entries = new Map<string, string>();
  let current: string | null = null;
  for (const line of help.split('\n')) {
    const option = /^\s{2}(--[a-z0-9-]+)/.exec(line);
    if (option?.[1]) {
      current = option[1];
      entries.set(current, line.trim());
    } else if (current && /^\s{10,}\S/.test(line)) {
      entries.set(current, `${entries.get(current)} ${line.trim()}`);
    } else {
      current = null;
    }
  }
  return entries;
}

describe('--help', () => {
  it('lists every option with unit and default', async () => {
    const result = await runServe(['--help']);
    expect(result.exitCode).toBe(0);
    const entries = helpEntries(result.stdout);

    for (const spec of SETTING_SPECS) {
      if (spec.flag === null) continue;
      const negated = spec.kind.type === 'boolean' && entries.has(`--no-${spec.flag}`);
      const flag = negated ? `--no-${spec.flag}` : `--${spec.flag}`;
      const entry = entries.get(flag);
      expect(entry, `${flag} in --help`).toBeDefined();
      expect(entry, flag).toMatch(/\(default: [^)]+\)/);
      if (spec.kind.type !== 'boolean') {
        // The placeholder names the unit: SECONDS, MB, HOURS, N, ...
        expect(entry, flag).toContain(`${flag} <${spec.argument}>`);
      }
      if (spec.kind.type === 'integer' || spec.kind.type === 'number') {
        expect(entry, flag).toContain(`${spec.kind.min}-${spec.kind.max}`);
      }
    }
    for (const flag of ['--data-dir', '--password-file', '--hash-password']) {
      expect(entries.has(flag), flag).toBe(true);
    }
  });
});

describe('passwords', () => {
  it('hashes a device password', async () => {
    const result = await runServe(['--hash-password'], 'Sc@nner-pass\n');
    expect(result.exitCode, result.stderr).toBe(0);
    const hash = result.stdout.trim();
    expect(hash).toMatch(/^scrypt\$[0-9a-f]{32}\$[0-9a-f]{64}$/);
    expect(await verifyPassword('Sc@nner-pass', hash)).toBe(true);
    expect(await verifyPassword('other', hash)).toBe(false);
  });

  it('rejects any password for a malformed hash', async () => {
    const salt = 'ab'.repeat(16);
    // Without the format check, a key part that is not hex decodes to zero
    // bytes and matched every password.
    for (const hash of [`scrypt$${salt}$zz`, `scrypt$${salt}$a`, `scrypt$${salt}$`, 'scrypt$$', 'md5$00$11']) {
      expect(await verifyPassword('anything', hash), hash).toBe(false);
    }
  });

  it('rejects an empty device password', async () => {
    const result = await runServe(['--hash-password'], '\n');
    expect(result.exitCode).toBe(EXIT_USAGE);
    expect(result.stderr).toContain('Expected a password on standard input');
  });

  it('reads the smart-host password from a private file', async () => {
    const fake = await startFakeSmartHost({ auth: { user: 'office', pass: 'from-a-file' }, allowInsecureAuth: true });
    fakes.push(fake);
    const dir = await createTempDir('password');
    const passwordFile = join(dir, 'password');
    await writeFile(passwordFile, 'from-a-file\n', { mode: 0o600 });
    const relay = await startRelay({
      fake,
      args: ['--user', 'office', '--password-file', passwordFile],
    });
    const dialog = await openSmtpDialog(relay.serve.host, relay.serve.port);
    try {
      await dialog.command('EHLO client.test');
      await dialog.command('MAIL FROM:<a@office.test>');
      await dialog.command('RCPT TO:<b@example.test>');
      await dialog.command('DATA');
      expect(await dialog.command('Subject: file\r\n\r\nbody\r\n.')).toMatch(/^250 /);
    } finally {
      dialog.close();
    }
    const [relayed] = await fake.waitForMessages(1);
    expect(relayed?.user).toBe('office');
  });

  it('rejects a password file others can read', async () => {
    const dir = await createTempDir('password');
    const passwordFile = join(dir, 'password');
    await writeFile(passwordFile, 'secret\n');
    await chmod(passwordFile, 0o644);

    const result = await runServe(['--password-file', passwordFile, '--listen', '127.0.0.1:0']);

    expect(result.exitCode).toBe(EXIT_USAGE);
    expect(result.stderr).toContain('--password-file');
    expect(result.stderr).toContain('mode 644');
    expect(result.stderr).toContain('chmod 600');
    expect(result.stderr).not.toContain('secret');
  });
});
