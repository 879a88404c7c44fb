// The web console's HTTP API over real sockets, against an in-process
// relay and a fake smart host: access control, cross-site protection,
// validation errors, secrets, settings storage, queue paging and actions.
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpClient } from '../core/api/http-client.ts';
import { ApiError } from '../core/api/definition.ts';
import type { QueueRecord } from '../core/queue-record.ts';
import { startConsoleHarness, waitFor } from './support/console-harness.ts';
import type { ConsoleHarness } from './support/console-harness.ts';
import { useTempDirs } from './support/tmp.ts';

useTempDirs();

const SMART_HOST_USER = 'office@example.test';
const SMART_HOST_PASSWORD = 'correct horse battery';

async function errorOf(response: Response): Promise<{ code: string; message: string; field?: string; value?: unknown }> {
  const body = (await response.json()) as { error: { code: string; message: string; field?: string } };
  return body.error;
}

describe('console access control', () => {
  let harness: ConsoleHarness;
  beforeAll(async () => {
    harness = await startConsoleHarness();
  });
  afterAll(() => harness.stop());

  it('rejects a request without a token', async () => {
    const response = await fetch(`${harness.base}/api/status`);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer');
    expect((await errorOf(response)).code).toBe('EUNAUTHORIZED');
  });

  it('rejects a wrong token', async () => {
    const response = await harness.request('/api/status', { headers: { Authorization: 'Bearer not-the-token' } });
    expect(response.status).toBe(401);
  });

  it('rejects the event stream without a token', async () => {
    const response = await fetch(`${harness.base}/api/events`);
    expect(response.status).toBe(401);
  });

  it('serves status with the token', async () => {
    const response = await harness.request('/api/status');
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const { value } = (await response.json()) as { value: { queue: { total: number }; smartHosts: { state: string }[] } };
    expect(value.queue.total).toBe(0);
    expect(value.smartHosts[0]?.state).toBe('unconfigured');
  });

  it('keeps the token file private', async () => {
    const stat = await fs.stat(path.join(harness.dataDir, 'console-token'));
    expect(stat.mode & 0o777).toBe(0o600);
  });

  it('refuses a cross-site POST', async () => {
    const response = await harness.post('/api/pause', {}, { Origin: 'http://evil.example' });
    expect(response.status).toBe(403);
    expect((await errorOf(response)).code).toBe('EFORBIDDEN');
    expect(harness.relay.status().smartHosts[0]?.state).toBe('unconfigured');
  });

  it('refuses a request marked cross-site', async () => {
    const response = await harness.post('/api/pause', {}, { 'Sec-Fetch-Site': 'cross-site' });
    expect(response.status).toBe(403);
  });

  it('accepts a same-origin POST', async () => {
    const response = await harness.post('/api/resume', {}, { Origin: harness.base });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ value: { resumed: false } });
  });

  it('refuses a POST that is not JSON', async () => {
    const response = await harness.request('/api/pause', {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain' },
      body: '{}',
    });
    expect(response.status).toBe(403);
    expect((await errorOf(response)).message).toContain('application/json');
  });

  it('refuses a foreign Host header', async () => {
    // fetch() cannot override Host, so this goes through node:http.
    const http = await import('node:http');
    const status = await new Promise<number>((resolve, reject) => {
      const request = http.request(
        `${harness.base}/api/status`,
        { headers: { Host: 'rebind.evil.example', Authorization: `Bearer ${harness.token}` } },
        (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        },
      );
      request.on('error', reject);
      request.end();
    });
    expect(status).toBe(403);
  });

  it('answers a preflight without CORS headers', async () => {
    const response = await fetch(`${harness.base}/api/settings`, {
      method: 'OPTIONS',
      headers: { Origin: 'http://evil.example', 'Access-Control-Request-Method': 'POST' },
    });
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
    expect(response.status).toBeGreaterThanOrEqual(400);
  });

  it('answers a wrong method with 405', async () => {
    const response = await harness.request('/api/pause');
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
  });

  it('sends security headers with the UI', async () => {
    const response = await fetch(`${harness.base}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(response.headers.get('x-frame-options')).toBe('DENY');
  });

  it('keeps static paths inside the UI folder', async () => {
    const response = await fetch(`${harness.base}/..%2f..%2fconsole-token`);
    expect(response.status).toBe(404);
    expect(await response.text()).not.toContain(harness.token);
  });
});

describe('console settings', () => {
  let harness: ConsoleHarness;
  beforeAll(async () => {
    harness = await startConsoleHarness({ fake: { auth: { user: SMART_HOST_USER, pass: SMART_HOST_PASSWORD } } });
  });
  afterAll(() => harness.stop());

  it('names field, value and range for an out-of-range value', async () => {
    const response = await harness.post('/api/settings', { settings: { maxConnections: 25 } });
    expect(response.status).toBe(400);
    const error = await errorOf(response);
    expect(error.code).toBe('ESETTINGS');
    expect(error.field).toBe('maxConnections');
    expect(error.value).toBe(25);
    expect(error.message).toBe('Invalid value for maxConnections: 25. Expected an integer from 1 to 20.');
  });

  it('names the field for a value of the wrong type', async () => {
    const response = await harness.post('/api/settings', { settings: { maxMessagesPerDay: 'lots' } });
    expect(response.status).toBe(400);
    const error = await errorOf(response);
    expect(error.code).toBe('EINVALID');
    expect(error.field).toBe('maxMessagesPerDay');
    expect(error.message).toContain('"lots"');
  });

  it('rejects an unknown setting', async () => {
    const response = await harness.post('/api/settings', { settings: { maxConections: 3 } });
    expect(response.status).toBe(400);
    expect((await errorOf(response)).message).toContain('maxConections');
  });

  it('names the field of a cross-field error', async () => {
    const response = await harness.post('/api/settings', { settings: { retryInitialSeconds: 100, retryMaxSeconds: 10 } });
    expect(response.status).toBe(400);
    expect((await errorOf(response)).field).toBe('retryMaxSeconds');
  });

  it('applies and stores only the keys set', async () => {
    const response = await harness.post('/api/settings', { settings: { maxConnections: 5, maxMessagesPerDay: 800 } });
    expect(response.status).toBe(200);
    expect(harness.relay.settings.maxConnections).toBe(5);
    const stored = JSON.parse(await fs.readFile(path.join(harness.dataDir, 'settings.json'), 'utf8')) as object;
    expect(stored).toEqual({ maxConnections: 5, maxMessagesPerDay: 800 });
  });

  it('stores a smart host as HOST:PORT', async () => {
    const fake = harness.fake;
    if (!fake) throw new Error('The harness has no fake smart host.');
    const response = await harness.post('/api/settings', {
      settings: { smarthost: `${fake.host}:${fake.port}`, user: SMART_HOST_USER },
    });
    expect(response.status).toBe(200);
    const stored = JSON.parse(await fs.readFile(path.join(harness.dataDir, 'settings.json'), 'utf8')) as Record<string, unknown>;
    expect(stored.smarthost).toBe(`${fake.host}:${fake.port}`);
    expect(stored.maxConnections).toBe(5);
  });

  it('never returns the password', async () => {
    const response = await harness.post('/api/settings', { settings: {}, password: SMART_HOST_PASSWORD });
    const text = await response.text();
    expect(response.status).toBe(200);
    expect(text).not.toContain(SMART_HOST_PASSWORD);
    expect((JSON.parse(text) as { value: { passwordSet: boolean } }).value.passwordSet).toBe(true);

    const read = await (await harness.request('/api/settings')).text();
    expect(read).not.toContain(SMART_HOST_PASSWORD);
    expect(read).not.toMatch(/"password":/);
    const settingsFile = await fs.readFile(path.join(harness.dataDir, 'settings.json'), 'utf8');
    expect(settingsFile).not.toContain(SMART_HOST_PASSWORD);
  });

  it('stores the password in a private file', async () => {
    const file = path.join(harness.dataDir, 'smarthost-password');
    expect(await fs.readFile(file, 'utf8')).toBe(SMART_HOST_PASSWORD);
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
  });

  it('lists every setting with its range', async () => {
    const { value } = (await (await harness.request('/api/settings/fields')).json()) as {
      value: { fields: { key: string; kind: { min?: number; max?: number } }[]; presets: { name: string }[] };
    };
    const connections = value.fields.find((field) => field.key === 'maxConnections');
    expect(connections?.kind).toEqual({ type: 'integer', min: 1, max: 20 });
    expect(value.presets.map((preset) => preset.name)).toContain('microsoft365');
  });

  it('tests the saved settings', async () => {
    const response = await harness.post('/api/smarthost/test-connection', {});
    const { value } = (await response.json()) as { value: { ok: boolean; transcript: { text: string }[] } };
    expect(value.ok).toBe(true);
    const transcript = value.transcript.map((line) => line.text).join('\n');
    expect(transcript).toContain('235');
    expect(transcript).not.toContain(SMART_HOST_PASSWORD);
    expect(transcript).not.toContain(Buffer.from(SMART_HOST_PASSWORD).toString('base64'));
  });

  it('explains a wrong password in a test', async () => {
    const fake = harness.fake;
    if (!fake) throw new Error('The harness has no fake smart host.');
    const response = await harness.post('/api/smarthost/test-message', {
      to: 'someone@example.test',
      smartHost: { host: fake.host, port: fake.port, security: 'none', user: SMART_HOST_USER, password: 'wrong' },
    });
    const { value } = (await response.json()) as { value: { ok: boolean; stage: string; reply: string; explanation: string } };
    expect(value.ok).toBe(false);
    expect(value.stage).toBe('auth');
    expect(value.reply).toMatch(/^535/);
    expect(value.explanation).toContain('rejected the user name or password');
  });

  it('sends a test message and returns the reply', async () => {
    const fake = harness.fake;
    if (!fake) throw new Error('The harness has no fake smart host.');
    const before = fake.messages.length;
    const response = await harness.post('/api/smarthost/test-message', { to: 'someone@example.test' });
    const { value } = (await response.json()) as { value: { ok: boolean; reply: string; explanation: string } };
    expect(value.ok).toBe(true);
    expect(value.reply).toMatch(/^250/);
    expect(value.explanation).toContain('accepted the test message');
    expect(fake.messages.length).toBe(before + 1);
    expect(fake.messages.at(-1)?.from).toBe(SMART_HOST_USER);
  });

  it('rejects a test address that is not an address', async () => {
    const response = await harness.post('/api/smarthost/test-message', { to: 'not an address' });
    expect(response.status).toBe(400);
    expect((await errorOf(response)).field).toBe('to');
  });
});

describe('console queue', () => {
  let harness: ConsoleHarness;
  beforeAll(async () => {
    harness = await startConsoleHarness({ fake: {} });
    harness.relay.pause();
    await harness.sendMail(12, (index) => (index % 3 === 0 ? `Invoice ${index}` : `Scan ${index}`));
  });
  afterAll(() => harness.stop());

  async function page(query: string): Promise<{ total: number; offset: number; items: { id: string; subject: string; state: string }[] }> {
    const response = await harness.request(`/api/queue?${query}`);
    expect(response.status).toBe(200);
    return ((await response.json()) as { value: { total: number; offset: number; items: { id: string; subject: string; state: string }[] } }).value;
  }

  it('pages the queue oldest first', async () => {
    const first = await page('offset=0&limit=5');
    const third = await page('offset=10&limit=5');
    expect(first.total).toBe(12);
    expect(first.items.map((item) => item.subject)).toEqual(['Invoice 0', 'Scan 1', 'Scan 2', 'Invoice 3', 'Scan 4']);
    expect(third.items.map((item) => item.subject)).toEqual(['Scan 10', 'Scan 11']);
  });

  it('searches subjects and addresses', async () => {
    expect((await page('search=invoice')).total).toBe(4);
    expect((await page('search=person7%40')).items.map((item) => item.subject)).toEqual(['Scan 7']);
  });

  it('rejects a page size over the maximum', async () => {
    const response = await harness.request('/api/queue?limit=100000');
    expect(response.status).toBe(400);
    expect((await errorOf(response)).field).toBe('limit');
  });

  it('holds, filters and releases a message', async () => {
    const target = (await page('search=Scan%202')).items[0];
    if (!target) throw new Error('Scan 2 is not queued.');
    expect((await harness.post('/api/queue/hold', { id: target.id })).status).toBe(200);
    const held = await page('state=held');
    expect(held.items.map((item) => item.id)).toEqual([target.id]);
    expect((await harness.post('/api/queue/release', { id: target.id })).status).toBe(200);
    expect((await page('state=held')).total).toBe(0);
  });

  it('exports a message as .eml', async () => {
    const target = (await page('search=Invoice%209')).items[0];
    if (!target) throw new Error('Invoice 9 is not queued.');
    const response = await harness.request(`/api/queue/export?id=${target.id}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('message/rfc822');
    expect(response.headers.get('content-disposition')).toBe(`attachment; filename="${target.id}.eml"`);
    const text = await response.text();
    expect(text).toMatch(/^Received: from /);
    expect(text).toContain('Subject: Invoice 9');
  });

  it('deletes a message and reports a missing one', async () => {
    const target = (await page('search=Scan%2011')).items[0];
    if (!target) throw new Error('Scan 11 is not queued.');
    expect((await harness.post('/api/queue/delete', { id: target.id })).status).toBe(200);
    const again = await harness.post('/api/queue/delete', { id: target.id });
    expect(again.status).toBe(404);
    expect((await errorOf(again)).code).toBe('ENOT_FOUND');
  });

  it('rejects a malformed id', async () => {
    const response = await harness.post('/api/queue/retry', { id: '../../etc/passwd' });
    expect(response.status).toBe(400);
    expect((await errorOf(response)).field).toBe('id');
  });

  it('delivers the queue after resume', async () => {
    const fake = harness.fake;
    if (!fake) throw new Error('The harness has no fake smart host.');
    const response = await harness.post('/api/resume', {});
    expect(await response.json()).toEqual({ value: { resumed: true } });
    await waitFor(() => harness.relay.queue.size === 0, 'the queue to empty');
    expect(fake.messages.length).toBe(11);
  });

  it('counts deliveries in the throughput', async () => {
    const { value } = (await (await harness.request('/api/throughput?range=hour')).json()) as {
      value: { bucketMs: number; points: { sent: number; queued: number }[] };
    };
    expect(value.bucketMs).toBe(60_000);
    expect(value.points).toHaveLength(60);
    expect(value.points.reduce((sum, point) => sum + point.sent, 0)).toBe(11);
    expect(value.points.reduce((sum, point) => sum + point.queued, 0)).toBe(12);
  });

  it('searches the activity log', async () => {
    const { value } = (await (await harness.request('/api/log?search=DELETED&limit=10')).json()) as {
      value: { entries: { event: string }[] };
    };
    expect(value.entries.map((entry) => entry.event)).toEqual(['DELETED']);
  });
});

describe('console with 100,000 queued messages', () => {
  let harness: ConsoleHarness;
  const COUNT = 100_000;
  beforeAll(async () => {
    harness = await startConsoleHarness();
    // Held records are never scheduled, so they need no message file.
    const base: Omit<QueueRecord, 'id' | 'subject' | 'from'> = {
      version: 1,
      recipients: [{ address: 'someone@example.test', status: 'pending', reply: null }],
      size: 2048,
      receivedAt: Date.now(),
      client: { address: '127.0.0.1', helo: 'scanner', user: null },
      eightBit: false,
      dsn: false,
      state: 'held',
      attempts: 0,
      lastReply: null,
      lastAttemptAt: null,
      nextAttemptAt: Date.now(),
    };
    for (let index = 0; index < COUNT; index += 1) {
      const id = `TEST${String(index).padStart(15, '0')}`;
      harness.relay.queue.add({ ...base, id, from: `device${index % 50}@office.test`, subject: `Report ${index}` });
    }
  });
  afterAll(() => harness.stop());

  it('pages the last page quickly', async () => {
    const started = performance.now();
    const response = await harness.request(`/api/queue?offset=${COUNT - 50}&limit=50`);
    const elapsedMs = performance.now() - started;
    const { value } = (await response.json()) as { value: { total: number; items: { subject: string }[] } };
    expect(value.total).toBe(COUNT);
    expect(value.items[49]?.subject).toBe(`Report ${COUNT - 1}`);
    // One pass over the records; about 20 ms on the 2-core CI machine.
    expect(elapsedMs).toBeLessThan(1000);
  });

  it('searches all messages quickly', async () => {
    const started = performance.now();
    const { value } = (await (await harness.request('/api/queue?search=device7%40&limit=50')).json()) as {
      value: { total: number };
    };
    expect(performance.now() - started).toBeLessThan(1000);
    expect(value.total).toBe(COUNT / 50);
  });
});

describe('HTTP client', () => {
  let harness: ConsoleHarness;
  beforeAll(async () => {
    harness = await startConsoleHarness({ fake: {} });
  });
  afterAll(() => harness.stop());

  it('calls methods and throws ApiError', async () => {
    const api = createHttpClient({ baseUrl: harness.base, token: harness.token });
    const status = await api.getStatus({});
    expect(status.smartHosts[0]?.state).toBe('active');
    const failure = await api.updateSettings({ settings: { maxConnections: 0 } }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ApiError);
    expect((failure as ApiError).field).toBe('maxConnections');
  });

  it('receives live events', async () => {
    const api = createHttpClient({ baseUrl: harness.base, token: harness.token });
    const words: string[] = [];
    const states: string[] = [];
    const client = createHttpClient({
      baseUrl: harness.base,
      token: harness.token,
      onConnectionChange: (state) => states.push(state),
    });
    const unsubscribe = client.subscribe((event) => words.push(event.event));
    await waitFor(() => states.includes('connected'), 'the event stream');
    await api.pauseSending({});
    await api.resumeSending({});
    await waitFor(() => words.includes('RESUMED'), 'a RESUMED event');
    unsubscribe();
    expect(words).toEqual(['PAUSED', 'RESUMED']);
  });

  it('reports a rejected token on the event stream', async () => {
    const states: string[] = [];
    const client = createHttpClient({ baseUrl: harness.base, token: 'wrong', onConnectionChange: (state) => states.push(state) });
    const unsubscribe = client.subscribe(() => {});
    await waitFor(() => states.includes('unauthorized'), 'the 401');
    unsubscribe();
  });
});
