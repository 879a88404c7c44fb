// The listener on its own worker thread, as `serve` runs it. The relay
// runs in process here, so the test reads its event bus and queue: every
// message accepted on the worker reaches the main thread's queue, is
// logged with the relay's clock and delivered; stop() ends the worker;
// and a port in use fails the start with the listener's own error.
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { RelayEvent } from '../core/events.ts';
import { Relay } from '../core/relay.ts';
import { startFakeSmartHost } from './support/fake-smarthost.ts';
import type { FakeSmartHost } from './support/fake-smarthost.ts';
import { connectToRelay, queueFiles, receivedQueueId, submitMessage, waitUntil } from './support/relay-harness.ts';
import { testSettings } from './support/throttling-harness.ts';
import { useTempDirs } from './support/tmp.ts';

const createTempDir = useTempDirs();
const relays: Relay[] = [];
const fakes: FakeSmartHost[] = [];

afterEach(async () => {
  await Promise.all(relays.splice(0).map((relay) => relay.stop()));
  await Promise.all(fakes.splice(0).map((fake) => fake.stop()));
});

async function startThreadedRelay(fake: FakeSmartHost | null, port = 0) {
  const dataDir = await createTempDir('accept-thread');
  const settings = await testSettings(dataDir, fake, { listen: { host: '127.0.0.1', port } });
  const relay = await Relay.start({ dataDir, settings, password: null, acceptThread: true });
  relays.push(relay);
  const events: RelayEvent[] = [];
  relay.bus.subscribe((event) => events.push(event));
  return { relay, dataDir, events, listen: relay.listenAddress! };
}

describe('the accept thread', () => {
  it('queues, logs and delivers what its listener accepts', async () => {
    const fake = await startFakeSmartHost();
    fakes.push(fake);
    const { relay, dataDir, events, listen } = await startThreadedRelay(fake);
    expect(listen.port).toBeGreaterThan(0);

    const before = Date.now();
    const ids = await Promise.all(
      Array.from({ length: 20 }, (_, index) =>
        submitMessage(
          listen,
          { from: 'printer@office.test', to: [`user${index}@example.test`] },
          `Subject: scan ${index}\r\n\r\npage ${index}\r\n`,
        ),
      ),
    );
    const after = Date.now();

    const delivered = await fake.waitForMessages(20);
    expect(delivered.map((message) => receivedQueueId(message.raw)).sort()).toEqual([...ids].sort());
    for (const message of delivered) {
      const index = /page (\d+)/.exec(message.raw.toString())?.[1];
      expect(message.to).toEqual([`user${index}@example.test`]);
    }

    // Each QUEUED line crossed from the worker with a time on the relay's
    // clock, and came before the SENT line of its message.
    const queued = events.filter((event) => event.event === 'QUEUED');
    expect(queued.map((event) => event.fields.id).sort()).toEqual([...ids].sort());
    for (const event of queued) {
      expect(event.time).toBeGreaterThanOrEqual(before - 50);
      expect(event.time).toBeLessThanOrEqual(after + 50);
    }
    await waitUntil(() => events.filter((event) => event.event === 'SENT').length === 20, '20 SENT events');
    for (const id of ids) {
      const queuedAt = events.findIndex((event) => event.event === 'QUEUED' && event.fields.id === id);
      const sentAt = events.findIndex((event) => event.event === 'SENT' && event.fields.id === id);
      expect(queuedAt).toBeGreaterThanOrEqual(0);
      expect(sentAt).toBeGreaterThan(queuedAt);
    }
    await waitUntil(async () => (await queueFiles(dataDir)).length === 0, 'an empty queue');
    expect(relay.status().queue.total).toBe(0);
  });

  it('holds mail in the main thread queue and stops its listener on stop()', async () => {
    const { relay, dataDir, listen } = await startThreadedRelay(null);
    const id = await submitMessage(listen, { from: 'a@office.test', to: ['b@example.test'] }, 'Subject: held\r\n\r\nx\r\n');

    await waitUntil(() => relay.listQueue({ offset: 0, limit: 10 }).items.length === 1, 'the message in the queue view');
    expect(relay.listQueue({ offset: 0, limit: 10 }).items[0]?.id).toBe(id);
    expect(await queueFiles(dataDir)).toEqual([`${id}.eml`]);

    await relay.stop();
    await expect(connectToRelay(listen)).rejects.toThrow(/ECONNREFUSED/);
  });

  it('fails the start with the listener error when the port is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as AddressInfo).port;
    try {
      await expect(startThreadedRelay(null, port)).rejects.toMatchObject({
        code: 'EADDRINUSE',
        message: expect.stringContaining(`127.0.0.1:${port}`) as unknown,
      });
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});
