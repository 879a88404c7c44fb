/**
 * Postfix's smtp-sink as the smart host: it accepts every message and
 * throws it away. With -c it prints `sess=N quit=N mesg=N` followed by a
 * carriage return after each session, QUIT and final dot, so the message
 * count, and when it changed, can be read from its output as it runs.
 */
import type { ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import type { RunDir } from './run-dir.ts';
import { LOOPBACK, freePort, waitForGreeting } from './net.ts';

// smtp-sink's listen(2) backlog; larger than any burst of connections here.
const LISTEN_BACKLOG = 1000;
const START_TIMEOUT_MS = 10_000;

interface CountWaiter {
  readonly target: number;
  readonly resolve: (reachedAt: number) => void;
}

export class SmtpSink {
  readonly port: number;
  readonly #child: ChildProcess;
  #messages = 0;
  #pending = '';
  #waiters: CountWaiter[] = [];

  private constructor(port: number, child: ChildProcess) {
    this.port = port;
    this.#child = child;
    child.stdout?.setEncoding('latin1');
    child.stdout?.on('data', (chunk: string) => this.#read(chunk));
  }

  static async start(run: RunDir): Promise<SmtpSink> {
    const port = await freePort();
    // As root, smtp-sink refuses to run without dropping privileges.
    const privileges = process.getuid?.() === 0 ? ['-u', 'postfix'] : [];
    const child = run.spawn('smtp-sink', [...privileges, '-c', `${LOOPBACK}:${port}`, String(LISTEN_BACKLOG)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await waitForGreeting(port, START_TIMEOUT_MS);
    return new SmtpSink(port, child);
  }

  /** Messages received so far (final dots). */
  get messages(): number {
    return this.#messages;
  }

  #read(chunk: string): void {
    const lines = (this.#pending + chunk).split(/[\r\n]/);
    this.#pending = lines.pop() ?? '';
    const last = lines.findLast((line) => line.includes('mesg='));
    if (last === undefined) return;

    this.#messages = Number(/mesg=(\d+)/.exec(last)?.[1] ?? this.#messages);
    const now = performance.now();
    const reached = this.#waiters.filter((waiter) => this.#messages >= waiter.target);
    this.#waiters = this.#waiters.filter((waiter) => this.#messages < waiter.target);
    for (const waiter of reached) waiter.resolve(now);
  }

  /**
   * Resolves with the performance.now() time at which the count reached
   * `target`; rejects after `timeoutMs` with the count reached so far.
   */
  waitForCount(target: number, timeoutMs: number): Promise<number> {
    if (this.#messages >= target) return Promise.resolve(performance.now());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((waiter) => waiter !== entry);
        reject(new Error(`smtp-sink received ${this.#messages} messages, not ${target}, within ${timeoutMs} ms`));
      }, timeoutMs);
      const entry: CountWaiter = {
        target,
        resolve: (reachedAt) => {
          clearTimeout(timer);
          resolve(reachedAt);
        },
      };
      this.#waiters.push(entry);
    });
  }

  stop(): void {
    this.#child.kill('SIGTERM');
  }
}
