/**
 * Accept thread: the listener and a spool of its own, run on a worker
 * thread, so that SMTP with devices and delivery to the smart host each
 * have a core. On one thread the two take turns, and a relay that both
 * accepts and delivers fell well behind Postfix, which spreads the same
 * work over several processes (docs/benchmarks.md).
 *
 * The worker (accept-thread-worker.ts) makes the same replies and the
 * same files as a listener on the main thread: it runs the same Listener
 * and Spool code. What crosses between the threads:
 *   worker -> main  every event of its EventBus, each accepted record
 *                   (after its 250, for the QueueManager), its address;
 *   main -> worker  "close".
 * Events keep the time the worker gave them. The worker's clock is the
 * relay's clock at spawn plus the monotonic time elapsed since, so the two
 * threads agree (clock.ts). The log can still show a worker's line a few
 * ms after a later line of the main thread. A message's QUEUED line
 * always comes before its SENT line.
 *
 * A worker that fails to start rejects start() with the listener's error
 * (an address in use, say). A worker that dies later takes the process
 * with it, as an uncaught error on the main thread would.
 */
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import type { Settings } from './settings.ts';
import type { TlsCertificate } from './tls-certificate.ts';
import type { EventBus, RelayEvent } from './events.ts';
import type { QueueRecord } from './queue-record.ts';

/** The worker's start-up data (its workerData). */
export interface AcceptThreadData {
  readonly settings: Settings;
  readonly certificate: TlsCertificate;
  readonly dataDir: string;
  /** The relay's clock at spawn, in ms since the epoch. */
  readonly now: number;
  /** performance.timeOrigin + performance.now() at spawn, comparable across threads. */
  readonly spawnedAt: number;
}

/** Messages from the worker to the main thread, posted in arrays of one event-loop turn. */
export type AcceptThreadMessage =
  | { readonly type: 'listening'; readonly address: { host: string; port: number } }
  | { readonly type: 'failed'; readonly message: string; readonly code: string | undefined }
  | { readonly type: 'event'; readonly event: RelayEvent }
  | { readonly type: 'queued'; readonly record: QueueRecord }
  | { readonly type: 'closed' };

export interface AcceptThreadOptions extends Omit<AcceptThreadData, 'spawnedAt'> {
  readonly bus: EventBus;
  readonly onQueued: (record: QueueRecord) => void;
}

/**
 * Builds the worker's source. The entry is TypeScript, so the worker
 * registers tsx's loader before it imports the entry.
 * NOTE: a build that bundles core/ into JavaScript, as the desktop app's
 * does, has no such entry. The desktop app therefore keeps its listener
 * on the main thread (electron/desktop-relay.ts does not request an accept thread).
 */
function workerSource(): string {
  const entry = new URL('./accept-thread-worker.ts', import.meta.url).href;
  // Resolved here, from this file: the worker's own code resolves bare
  // names from the current directory, which need not be the project's.
  const tsx = import.meta.resolve('tsx/esm/api');
  return `import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`;
}

export class AcceptThread {
  readonly address: { host: string; port: number };
  readonly #worker: Worker;
  readonly #closed: Promise<void>;

  private constructor(worker: Worker, address: { host: string; port: number }, closed: Promise<void>) {
    this.#worker = worker;
    this.address = address;
    this.#closed = closed;
  }

  /** Starts the worker and resolves once it listens. */
  static start(options: AcceptThreadOptions): Promise<AcceptThread> {
    const data: AcceptThreadData = {
      settings: options.settings,
      certificate: options.certificate,
      dataDir: options.dataDir,
      now: options.now,
      spawnedAt: performance.timeOrigin + performance.now(),
    };
    const worker = new Worker(workerSource(), { eval: true, workerData: data });
    let closedByRequest = false;
    let markClosed: () => void = () => undefined;
    const closed = new Promise<void>((resolve) => {
      markClosed = resolve;
    });

    return new Promise((resolve, reject) => {
      let started = false;
      const receive = (message: AcceptThreadMessage): void => {
        switch (message.type) {
          case 'event':
            options.bus.publish(message.event);
            break;
          case 'queued':
            options.onQueued(message.record);
            break;
          case 'listening':
            started = true;
            resolve(new AcceptThread(worker, message.address, closed));
            break;
          case 'failed':
            reject(Object.assign(new Error(message.message), { code: message.code }));
            void worker.terminate();
            break;
          case 'closed':
            closedByRequest = true;
            void worker.terminate();
            break;
        }
      };
      worker.on('message', (messages: AcceptThreadMessage[]) => messages.forEach(receive));
      worker.on('error', (error) => {
        if (!started) {
          reject(error);
          return;
        }
        // Without its listener the relay cannot take mail. It must not look
        // healthy, so the error ends the process.
        process.nextTick(() => {
          throw error;
        });
      });
      worker.on('exit', (code) => {
        markClosed();
        if (!started) reject(new Error(`the accept thread exited with code ${code} before it listened`));
        else if (!closedByRequest) {
          process.nextTick(() => {
            throw new Error(`the accept thread exited with code ${code}`);
          });
        }
      });
    });
  }

  /** Stops accepting, and resolves once the worker has finished its sessions and exited. */
  close(): Promise<void> {
    this.#worker.postMessage({ type: 'close' });
    return this.#closed;
  }
}
