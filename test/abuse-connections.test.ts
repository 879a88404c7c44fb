// Many connections from one address: beyond maxConnectionsPerClient the
// listener replies 421 4.7.0 at connect and closes. Other addresses are
// served as usual, and the refused address gets in again once its
// connections close.
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS } from '../core/settings.ts';
import { startFakeSmartHost } from './support/fake-smarthost.ts';
import type { FakeSmartHost } from './support/fake-smarthost.ts';
import { openSmtpDialog, waitUntil } from './support/relay-harness.ts';
import { buildMessage, startRelay, submitMessages } from './support/throttling-harness.ts';
import type { RelayHarness } from './support/throttling-harness.ts';
import { useTempDirs } from './support/tmp.ts';

const createTempDir = useTempDirs();

const fakes: FakeSmartHost[] = [];
const relays: RelayHarness[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(relays.splice(0).map((harness) => harness.relay.stop()));
  await Promise.all(fakes.splice(0).map((fake) => fake.stop()));
});

const REPLY_TIMEOUT_MS = 10_000;

interface Greeted {
  readonly socket: Socket;
  /** The first reply line, e.g. `220 relay.test ESMTP …`. */
  readonly reply: string;
  /** Resolves once the server has closed the connection. */
  readonly closed: Promise<void>;
}

/** Connects from `localAddress` and resolves with the first reply line. */
function connectFrom(port: number, localAddress: string): Promise<Greeted> {
  const socket = connect({ host: '127.0.0.1', port, localAddress });
  sockets.push(socket);
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  let received = '';

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`No reply from the relay within ${REPLY_TIMEOUT_MS} ms`)), REPLY_TIMEOUT_MS);
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      const end = received.indexOf('\r\n');
      if (end === -1) return;
      clearTimeout(timer);
      resolve({ socket, reply: received.slice(0, end), closed });
    });
    socket.once('close', () => {
      clearTimeout(timer);
      reject(new Error(`Connection closed before a reply; received ${JSON.stringify(received)}`));
    });
  });
}

async function startTestRelay(): Promise<{ harness: RelayHarness; fake: FakeSmartHost }> {
  const fake = await startFakeSmartHost();
  fakes.push(fake);
  const harness = await startRelay({ dataDir: await createTempDir('connections'), fake });
  relays.push(harness);
  return { harness, fake };
}

describe('connections per client address', () => {
  it('refuses the 21st from one address with 421', async () => {
    const limit = DEFAULT_SETTINGS.maxConnectionsPerClient;
    expect(limit).toBe(20);
    const { harness, fake } = await startTestRelay();
    const port = harness.listen.port;

    // One after the other, so the first `limit` are the ones let in.
    const greeted: Greeted[] = [];
    for (let index = 0; index < 50; index += 1) greeted.push(await connectFrom(port, '127.0.0.2'));

    const admitted = greeted.filter((connection) => connection.reply.startsWith('220 '));
    const refused = greeted.filter((connection) => connection.reply.startsWith('421 '));
    expect(admitted).toHaveLength(limit);
    expect(refused).toHaveLength(50 - limit);
    for (const connection of refused) {
      expect(connection.reply).toBe('421 4.7.0 Too many connections from your address, try again later');
    }
    // The relay closes each refused connection itself.
    await Promise.all(refused.map((connection) => connection.closed));

    // Another address is served while 127.0.0.2 has its 20 open.
    const message = buildMessage('other-address', 'scanner@office.test', ['boss@example.test']);
    await submitMessages(harness.listen, [{ from: 'scanner@office.test', to: ['boss@example.test'], raw: message }]);
    const [relayed] = await fake.waitForMessages(1);
    expect(relayed?.to).toEqual(['boss@example.test']);

    // One line per address per minute, however many were refused.
    const rejected = harness.eventsOf('REJECTED');
    expect(rejected).toHaveLength(1);
    expect(rejected[0]?.fields).toMatchObject({ client: '127.0.0.2', reason: 'too many connections', limit });
  });

  it('lets the address in again after it closes', async () => {
    const { harness } = await startTestRelay();
    const port = harness.listen.port;
    const limit = DEFAULT_SETTINGS.maxConnectionsPerClient;

    const held: Greeted[] = [];
    for (let index = 0; index < limit; index += 1) held.push(await connectFrom(port, '127.0.0.2'));
    expect(held.every((connection) => connection.reply.startsWith('220 '))).toBe(true);
    expect((await connectFrom(port, '127.0.0.2')).reply).toMatch(/^421 4\.7\.0 /);

    const first = held[0]!;
    first.socket.destroy();
    await first.closed;
    // The relay reads the close a moment after the client sends it.
    await waitUntil(async () => (await connectFrom(port, '127.0.0.2')).reply.startsWith('220 '), 'a free slot for 127.0.0.2');

    const dialog = await openSmtpDialog('127.0.0.1', port, '127.0.0.3');
    expect(dialog.greeting).toMatch(/^220 /);
    expect(await dialog.command('EHLO client.test')).toMatch(/^250 /m);
    dialog.close();
  });
});
