// Temporary trouble at the smart host through `serve`: a 4xx reply or a
// dropped connection defers the message with growing backoff. Meanwhile
// the record on disk shows the attempts and the last reply, and the
// message arrives once the smart host accepts it.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startFakeSmartHost } from './support/fake-smarthost.ts';
import type { FakeSmartHost, FakeSmartHostOptions } from './support/fake-smarthost.ts';
import { killAllServeProcesses } from './support/serve-process.ts';
import type { LogEvent } from './support/serve-process.ts';
import { useTempDirs } from './support/tmp.ts';
import { queueFiles, startRelay, submitMessage, waitUntil } from './support/relay-harness.ts';
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

function submit(relay: RelayUnderTest, to: string): Promise<string> {
  return submitMessage(relay.serve, { from: 'device@office.test', to: [to] }, 'Subject: retry\r\n\r\nbody\r\n');
}

/** Milliseconds from a DEFERRED line's own time to the next attempt it announces. */
function backoffMs(event: LogEvent): number {
  return Date.parse(event.fields.next ?? '') - Date.parse(event.timestamp);
}

describe('deferral', () => {
  it('defers a 4xx reply with backoff', async () => {
    let rejecting = true;
    const fake = await startFake({
      onRcptTo: () => (rejecting ? { code: 451, message: '4.3.0 Temporary local problem, try again' } : undefined),
    });
    const relay = await startRelay({ fake, args: ['--retry-initial', '0.2', '--retry-max', '10'] });

    const id = await submit(relay, 'later@example.test');

    const first = await relay.serve.waitForEvent('DEFERRED', (fields) => fields.id === id);
    expect(first.fields.attempts).toBe('1');
    expect(first.fields.reply).toBe('451 4.3.0 Temporary local problem, try again');
    expect(first.fields.to).toBe('<later@example.test>');
    expect(Number.isNaN(Date.parse(first.fields.next ?? ''))).toBe(false);

    // The record on disk carries the attempt while the message waits.
    const record = JSON.parse(await readFile(join(relay.dataDir, 'queue', `${id}.json`), 'utf8'));
    expect(record.attempts).toBeGreaterThanOrEqual(1);
    expect(record.lastReply).toContain('451 4.3.0');
    expect(record.recipients[0].status).toBe('pending');
    expect(record.nextAttemptAt).toBeGreaterThan(record.lastAttemptAt);

    const second = await relay.serve.waitForEvent('DEFERRED', (fields) => fields.id === id && fields.attempts === '2');
    const third = await relay.serve.waitForEvent('DEFERRED', (fields) => fields.id === id && fields.attempts === '3');
    // 0.2 s, then 0.4 s, then 0.8 s, each shortened by up to a quarter.
    expect(backoffMs(first)).toBeGreaterThanOrEqual(140);
    expect(backoffMs(first)).toBeLessThanOrEqual(210);
    expect(backoffMs(second)).toBeGreaterThanOrEqual(290);
    expect(backoffMs(second)).toBeLessThanOrEqual(410);
    expect(backoffMs(third)).toBeGreaterThanOrEqual(590);
    expect(backoffMs(third)).toBeLessThanOrEqual(810);

    rejecting = false;
    const [relayed] = await fake.waitForMessages(1, 10_000);
    expect(relayed?.to).toEqual(['later@example.test']);
    const sent = await relay.serve.waitForEvent('SENT', (fields) => fields.id === id);
    expect(Number(sent.fields.attempts)).toBeGreaterThanOrEqual(4);
    await waitUntil(async () => (await queueFiles(relay.dataDir)).length === 0, 'an empty queue');
    expect(fake.messages).toHaveLength(1);
  });

  it('retries after a dropped connection', async () => {
    let drops = 2;
    const fake = await startFake({
      onMailFrom: () => {
        if (drops === 0) return undefined;
        drops -= 1;
        return { action: 'close' };
      },
    });
    const relay = await startRelay({ fake });

    const id = await submit(relay, 'flaky@example.test');

    const deferred = await relay.serve.waitForEvent('DEFERRED', (fields) => fields.id === id);
    expect(deferred.fields.attempts).toBe('1');
    expect(deferred.fields.next).toBeDefined();
    const [relayed] = await fake.waitForMessages(1, 10_000);
    expect(relayed?.to).toEqual(['flaky@example.test']);
    await relay.serve.waitForEvent('SENT', (fields) => fields.id === id);
    await waitUntil(async () => (await queueFiles(relay.dataDir)).length === 0, 'an empty queue');
    expect(fake.messages).toHaveLength(1);
  });

  it('retries a 4xx reply to the final dot', async () => {
    let rejections = 1;
    const fake = await startFake({
      onData: () => {
        if (rejections === 0) return undefined;
        rejections -= 1;
        return { code: 451, message: '4.3.0 Queue file write error' };
      },
    });
    const relay = await startRelay({ fake });

    const id = await submit(relay, 'dot@example.test');

    const deferred = await relay.serve.waitForEvent('DEFERRED', (fields) => fields.id === id);
    expect(deferred.fields.reply).toBe('451 4.3.0 Queue file write error');
    await relay.serve.waitForEvent('SENT', (fields) => fields.id === id);
    // The rejected copy reached the fake too, but only the second got a 250.
    expect(fake.receivedMessages.map((message) => message.outcome)).toEqual(['rejected', 'accepted']);
  });
});
