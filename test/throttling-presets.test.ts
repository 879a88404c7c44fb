// Smart-host presets as the relay applies them: the values a preset fills
// in, what the relay reports while running with one, the serve command's
// help, and a flag that overrides a preset value.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { PRESET_NAMES } from '../core/presets.ts';
import { Relay } from '../core/relay.ts';
import { mergeSettings } from '../core/settings.ts';
import { runProcess } from './support/clients.ts';
import { startFakeSmartHost } from './support/fake-smarthost.ts';
import type { FakeSmartHost } from './support/fake-smarthost.ts';
import { killAllServeProcesses, SERVE_ENTRY, startServe } from './support/serve-process.ts';
import { numberedMessages, submitMessages, testSettings } from './support/throttling-harness.ts';
import { useTempDirs } from './support/tmp.ts';

const createTempDir = useTempDirs();
afterAll(killAllServeProcesses);

let fake: FakeSmartHost | null = null;

afterEach(async () => {
  await fake?.stop();
  fake = null;
});

describe('preset settings', () => {
  it('microsoft365 fills host and limits', () => {
    const settings = mergeSettings({ preset: 'microsoft365' });

    expect(settings.smarthost).toEqual({ host: 'smtp.office365.com', port: 587 });
    expect(settings.security).toBe('starttls');
    expect(settings.maxConnections).toBe(3);
    expect(settings.maxMessagesPerMinute).toBe(30);
  });

  it('flag overrides a preset value', () => {
    const fromFile = { preset: 'microsoft365' };
    const fromFlags = { maxConnections: 1, maxMessagesPerMinute: 10 };

    const settings = mergeSettings(fromFile, fromFlags);

    expect(settings.maxConnections).toBe(1);
    expect(settings.maxMessagesPerMinute).toBe(10);
    expect(settings.smarthost).toEqual({ host: 'smtp.office365.com', port: 587 });
  });

  it('preset flag over a file value', () => {
    // Precedence is defaults, preset, settings.json, flags: the file's own
    // value stays even when the preset comes from a flag.
    const settings = mergeSettings({ maxConnections: 2 }, { preset: 'microsoft365' });

    expect(settings.maxConnections).toBe(2);
    expect(settings.maxMessagesPerMinute).toBe(30);
  });
});

describe('relay with a preset', () => {
  it('status shows the preset values', async () => {
    const dataDir = await createTempDir('preset');
    // The queue stays empty, so the relay never connects to the preset's host.
    const base = await testSettings(dataDir, null);
    const settings = mergeSettings(
      { listen: base.listen, hostname: base.hostname, tlsCert: base.tlsCert, tlsKey: base.tlsKey },
      { preset: 'microsoft365' },
    );
    const relay = await Relay.start({ dataDir, settings, password: null });
    try {
      const status = relay.status();
      const smartHost = status.smartHosts[0];

      expect(relay.settings.preset).toBe('microsoft365');
      expect(relay.settings.security).toBe('starttls');
      expect(relay.settings.maxMessagesPerMinute).toBe(30);
      expect(smartHost?.name).toBe('smtp.office365.com:587');
      expect(smartHost?.maxConnections).toBe(3);
      expect(smartHost?.connectionLimit).toBe(3);
      expect(status.queue.total).toBe(0);
      expect(status.openConnections).toBe(0);
    } finally {
      await relay.stop();
    }
  });
});

describe('serve and presets', () => {
  it('--help lists every preset', async () => {
    const result = await runProcess('node', ['--import', 'tsx', SERVE_ENTRY, '--help'], {
      timeoutMs: 20_000,
    });

    expect(result.exitCode, result.stderr).toBe(0);
    const presetHelp = result.stdout.slice(result.stdout.indexOf('--preset'));
    for (const name of PRESET_NAMES) expect(presetHelp).toContain(name);
  });

  it('flags override the preset in serve', async () => {
    fake = await startFakeSmartHost();
    const dataDir = await createTempDir('preset-serve');
    const serve = await startServe({
      dataDir,
      args: [
        '--preset',
        'microsoft365',
        '--smarthost',
        `${fake.host}:${fake.port}`,
        '--security',
        'none',
        '--max-connections',
        '1',
        '--listen',
        '127.0.0.1:0',
      ],
    });
    try {
      const started = serve.events('STARTED')[0];
      expect(started?.fields.smarthost).toBe(`${fake.host}:${fake.port}`);
      expect(started?.fields.security).toBe('none');

      await submitMessages({ host: serve.host, port: serve.port }, numberedMessages('preset', 4));
      await fake.waitForMessages(4, 10_000);

      expect(fake.maxOpenConnections).toBe(1);
    } finally {
      expect(await serve.stop()).toBe(0);
    }
  });
});
