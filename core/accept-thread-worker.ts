/**
 * The accept thread's worker (see accept-thread.ts): a Listener with its
 * own Spool, reporting to the main thread.
 *
 * Its spool makes the short file calls synchronously (syncStepFileSystem
 * in spool.ts): this thread has nothing else to keep responsive, and a
 * thread-pool round trip per call cost more than the call itself.
 */
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import type { AcceptThreadData, AcceptThreadMessage } from './accept-thread.ts';
import { EventBus } from './events.ts';
import { Spool, syncStepFileSystem } from './spool.ts';
import { Listener } from './listener.ts';
import { AllowedNetworks } from './networks.ts';

const port = parentPort;
if (!port) throw new Error('accept-thread-worker.ts runs only as a worker thread');
const data = workerData as AcceptThreadData;

// Messages of one event-loop turn go in one postMessage, because under
// load several accepts finish per turn and each post has a fixed cost.
let outbox: AcceptThreadMessage[] = [];

function send(message: AcceptThreadMessage): void {
  outbox.push(message);
  if (outbox.length > 1) return;
  queueMicrotask(() => {
    const messages = outbox;
    outbox = [];
    port!.postMessage(messages);
  });
}

// Started from the relay's clock at spawn, not at this line: loading the
// worker takes a few hundred ms.
const now = (): number => Math.round(data.now + (performance.timeOrigin + performance.now() - data.spawnedAt));
const bus = new EventBus(now);
bus.subscribe((event) => send({ type: 'event', event }));
// The main thread's spool has emptied tmp/ and loaded the queue already.
const spool = new Spool({ dataDir: data.dataDir, fileSystem: syncStepFileSystem, bus });
const listener = new Listener({
  settings: data.settings,
  networks: AllowedNetworks.fromSettings(data.settings),
  certificate: data.certificate,
  spool,
  bus,
  now,
  onQueued: (record) => send({ type: 'queued', record }),
});

port.on('message', (message: { type: string }) => {
  if (message.type !== 'close') return;
  void listener
    .close()
    .then(() => spool.close())
    .then(() => send({ type: 'closed' }));
});

listener.listen().then(
  (address) => send({ type: 'listening', address }),
  (error: NodeJS.ErrnoException) => send({ type: 'failed', message: error.message, code: error.code }),
);
