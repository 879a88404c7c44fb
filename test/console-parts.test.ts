// The web console's parts on their own: the activity-log reader, the
// throughput buckets, the token and settings files, and the smart-host
// test's plain-language explanations against scripted fake smart hosts.
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readLogPage, SCAN_MAX_BYTES } from '../core/console/log-reader.ts';
import { ThroughputRecorder } from '../core/console/throughput.ts';
import { loadOrCreateConsoleToken } from '../core/console/token.ts';
import { createFileSettingsStore } from '../core/console/settings-file.ts';
import { EventBus } from '../core/events.ts';
import { SettingsError } from '../core/errors.ts';
import { testSmartHost } from '../core/test-message.ts';
import type { SmartHostConfig } from '../core/smart-host-session.ts';
import { startFakeSmartHost } from './support/fake-smarthost.ts';
import type { FakeSmartHost } from './support/fake-smarthost.ts';
import { createTempDir, useTempDirs } from './support/tmp.ts';

useTempDirs();

function logLine(index: number, event = 'SENT'): string {
  const time = new Date(Date.UTC(2026, 11, 4, 9, 0, index)).toISOString();
  return `${time} ${event} id=MSG${String(index).padStart(6, '0')} to=<person${index}@example.test> reply="250 OK"`;
}

async function writeLog(lines: string[]): Promise<string> {
  const dir = await createTempDir('log');
  const file = path.join(dir, 'activity.log');
  await fs.writeFile(file, lines.map((line) => `${line}\n`).join(''));
  return file;
}

describe('activity log reader', () => {
  it('returns the newest lines first', async () => {
    const file = await writeLog([logLine(1), logLine(2), logLine(3)]);
    const page = await readLogPage(file, { limit: 2 });
    expect(page.entries.map((entry) => entry.line)).toEqual([logLine(3), logLine(2)]);
    expect(page.entries[0]?.event).toBe('SENT');
    expect(page.entries[0]?.time).toBe(Date.UTC(2026, 11, 4, 9, 0, 3));
  });

  it('pages across chunk boundaries without losing a line', async () => {
    const lines = Array.from({ length: 3000 }, (_, index) => logLine(index));
    const file = await writeLog(lines);
    const seen: string[] = [];
    let before: number | undefined;
    for (let pageIndex = 0; pageIndex < 20; pageIndex += 1) {
      const page = await readLogPage(file, { limit: 400, before });
      seen.push(...page.entries.map((entry) => entry.line));
      if (page.nextBefore === null) break;
      before = page.nextBefore;
    }
    expect(seen).toEqual([...lines].reverse());
  });

  it('searches case-insensitively', async () => {
    const file = await writeLog([logLine(1), logLine(2, 'DEFERRED'), logLine(3)]);
    const page = await readLogPage(file, { limit: 10, search: 'deferred' });
    expect(page.entries.map((entry) => entry.event)).toEqual(['DEFERRED']);
    expect(page.nextBefore).toBeNull();
  });

  it('stops a fruitless search at the scan limit', async () => {
    const line = logLine(1);
    const count = Math.ceil((SCAN_MAX_BYTES * 1.5) / (line.length + 1));
    const file = await writeLog(Array.from({ length: count }, () => line));
    const page = await readLogPage(file, { limit: 10, search: 'no such text' });
    expect(page.entries).toEqual([]);
    expect(page.nextBefore).not.toBeNull();
    const rest = await readLogPage(file, { limit: 10, search: 'no such text', before: page.nextBefore ?? 0 });
    expect(rest.nextBefore).toBeNull();
  });

  it('treats a missing log as empty', async () => {
    const dir = await createTempDir('log');
    expect(await readLogPage(path.join(dir, 'activity.log'), { limit: 5 })).toEqual({ entries: [], nextBefore: null });
  });
});

describe('throughput recorder', () => {
  const start = Date.UTC(2026, 11, 4, 9, 0);

  it('counts events per minute for the last hour', () => {
    let now = start;
    const bus = new EventBus(() => now);
    const recorder = new ThroughputRecorder(bus, { now: () => now });
    bus.emit('QUEUED', { id: 'A' });
    bus.emit('SENT', { id: 'A' });
    now += 61_000;
    bus.emit('DEFERRED', { id: 'B' });
    bus.emit('BOUNCED', { id: 'C' });
    bus.emit('PAUSED', {});

    const series = recorder.series('hour');
    expect(series.points).toHaveLength(60);
    expect(series.points.at(-2)).toEqual({ at: start, sent: 1, deferred: 0, bounced: 0, queued: 1 });
    expect(series.points.at(-1)).toEqual({ at: start + 60_000, sent: 0, deferred: 1, bounced: 1, queued: 0 });
    recorder.close();
  });

  it('adds minutes up per quarter hour for the day', () => {
    let now = start;
    const bus = new EventBus(() => now);
    const recorder = new ThroughputRecorder(bus, { now: () => now });
    for (let minute = 0; minute < 15; minute += 1) {
      now = start + minute * 60_000;
      bus.emit('SENT', { id: String(minute) });
    }
    const series = recorder.series('day');
    expect(series.points).toHaveLength(96);
    expect(series.bucketMs).toBe(15 * 60_000);
    expect(series.points.at(-1)?.sent).toBe(15);
    recorder.close();
  });

  it('restores the last day from the log', async () => {
    const now = start + 30 * 60_000;
    const old = new Date(now - 25 * 3_600_000).toISOString();
    const file = await writeLog([`${old} SENT id=OLD`, logLine(5), logLine(6), logLine(7, 'QUEUED')]);
    const recorder = new ThroughputRecorder(new EventBus(() => now), { now: () => now, logFile: file });
    const day = recorder.series('day').points;
    expect(day.reduce((sum, point) => sum + point.sent, 0)).toBe(2);
    expect(day.reduce((sum, point) => sum + point.queued, 0)).toBe(1);
    recorder.close();
  });
});

describe('console files', () => {
  it('reuses the token across starts', async () => {
    const dir = await createTempDir('token');
    const token = loadOrCreateConsoleToken(dir);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(loadOrCreateConsoleToken(dir)).toBe(token);
  });

  it('rejects a token file others can read', async () => {
    const dir = await createTempDir('token');
    loadOrCreateConsoleToken(dir);
    await fs.chmod(path.join(dir, 'console-token'), 0o644);
    expect(() => loadOrCreateConsoleToken(dir)).toThrow(SettingsError);
    expect(() => loadOrCreateConsoleToken(dir)).toThrow(/chmod 600/);
  });

  it('keeps hand-written settings keys', async () => {
    const dir = await createTempDir('settings');
    await fs.writeFile(path.join(dir, 'settings.json'), JSON.stringify({ allow: ['192.168.1.0/24'] }));
    const store = createFileSettingsStore(dir);
    await Promise.all([
      store.saveSettings({ maxConnections: 4 }),
      store.saveSettings({ smarthost: { host: 'smtp.example.com', port: 587 } }),
    ]);
    const stored = JSON.parse(await fs.readFile(path.join(dir, 'settings.json'), 'utf8')) as object;
    expect(stored).toEqual({ allow: ['192.168.1.0/24'], maxConnections: 4, smarthost: 'smtp.example.com:587' });
    expect((await fs.readdir(dir)).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('removes the password file for null', async () => {
    const dir = await createTempDir('settings');
    const store = createFileSettingsStore(dir);
    await store.savePassword('secret');
    await store.savePassword(null);
    await expect(fs.stat(path.join(dir, 'smarthost-password'))).rejects.toThrow(/ENOENT/);
  });
});

describe('smart-host test explanations', () => {
  const fakes: FakeSmartHost[] = [];
  const servers: net.Server[] = [];
  afterAll(async () => {
    await Promise.all(fakes.map((fake) => fake.stop()));
    for (const server of servers) server.close();
  });

  function config(port: number, changes: Partial<SmartHostConfig> = {}): SmartHostConfig {
    return {
      host: '127.0.0.1',
      port,
      security: 'none',
      user: null,
      password: null,
      tlsVerify: true,
      ca: null,
      clientName: 'relay.test',
      replyTimeoutMs: 10_000,
      authMethod: 'password',
      tokens: null,
      ...changes,
    };
  }

  async function fake(options: Parameters<typeof startFakeSmartHost>[0] = {}): Promise<FakeSmartHost> {
    const started = await startFakeSmartHost(options);
    fakes.push(started);
    return started;
  }

  /** Returns a port on which nothing listens, by closing a listener on it. */
  async function closedPort(): Promise<number> {
    const server = net.createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const port = (server.address() as net.AddressInfo).port;
    await new Promise((resolve) => server.close(resolve));
    return port;
  }

  it('explains a refused connection', async () => {
    const result = await testSmartHost({ config: config(await closedPort()) });
    expect(result.ok).toBe(false);
    expect(result.stage).toBe('connect');
    expect(result.explanation).toContain('the connection was refused');
    expect(result.advice).toContain('587');
  });

  it('explains TLS against a plain port', async () => {
    const plain = await fake();
    const result = await testSmartHost({ config: config(plain.port, { security: 'tls' }) });
    expect(result.ok).toBe(false);
    expect(result.explanation).toContain('disagree about encryption');
  });

  it('explains STARTTLS that is not offered', async () => {
    const plain = await fake();
    const result = await testSmartHost({ config: config(plain.port, { security: 'starttls' }) });
    expect(result.ok).toBe(false);
    expect(result.stage).toBe('starttls');
    expect(result.explanation).toContain('does not offer STARTTLS');
  });

  it('explains a port that never greets', async () => {
    const server = net.createServer(() => {}).listen(0, '127.0.0.1');
    servers.push(server);
    await new Promise((resolve) => server.once('listening', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const result = await testSmartHost({ config: config(port), greetingTimeoutMs: 300 });
    expect(result.ok).toBe(false);
    expect(result.explanation).toContain('sent no greeting');
    expect(result.advice).toContain('TLS');
  });

  it('explains an untrusted certificate', async () => {
    const tls = await fake({ security: 'tls' });
    const result = await testSmartHost({ config: config(tls.port, { security: 'tls' }) });
    expect(result.ok).toBe(false);
    expect(result.explanation).toContain('not trusted');
  });

  it('explains a sender the account may not use', async () => {
    const strict = await fake({
      onMailFrom: () => ({ code: 550, message: '5.7.60 SMTP; Client does not have permissions to send as this sender' }),
    });
    const result = await testSmartHost({
      config: config(strict.port),
      message: { from: 'boss@example.test', to: 'anna@example.test' },
    });
    expect(result.ok).toBe(false);
    expect(result.stage).toBe('mail');
    expect(result.explanation).toContain('does not allow boss@example.test as the sender');
  });

  it('quotes a blocklist reply with its advice', async () => {
    const listed = await fake({
      onData: () => ({ code: 554, message: '5.7.1 Service unavailable; Client host [203.0.113.7] blocked using zen.spamhaus.org' }),
    });
    const result = await testSmartHost({ config: config(listed.port), message: { from: 'a@example.test', to: 'b@example.test' } });
    expect(result.kind).toBe('blacklisted');
    expect(result.reply).toContain('zen.spamhaus.org');
    expect(result.advice).toContain('Spamhaus');
  });

  it('records the dialogue of a delivery', async () => {
    const open = await fake();
    const result = await testSmartHost({ config: config(open.port), message: { from: 'a@example.test', to: 'b@example.test' } });
    expect(result.ok).toBe(true);
    expect(result.transcript.map((line) => `${line.direction} ${line.text.split('\n')[0]}`)).toContain('client MAIL FROM:<a@example.test>');
    expect(open.messages[0]?.raw.toString()).toContain('Subject: Smarthost Relay test message');
  });
});
