/**
 * The relay under test, run the way users run it headless:
 * `node --import tsx core/cli/serve.ts --data-dir DIR ...` in a checkout
 * (this one unless --relay-root names another). Its output, one
 * activity-log line per event, goes straight to the file DIR.out beside
 * DIR. A pipe to this process would put the benchmark in the relay's way:
 * serve writes to a pipe synchronously, so it would wait whenever this
 * process is slow to read.
 *
 * start() measures two start-up times from the spawn: until serve prints
 * its STARTED line, and until its listener sends an SMTP greeting.
 * With `admin`, the web console listens on a loopback port and api()
 * returns the typed client of core/api over it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import type { ChildProcess } from 'node:child_process';
import { createHttpClient } from '../../core/api/http-client.ts';
import type { RelayApi } from '../../core/api/definition.ts';
import type { RunDir } from './run-dir.ts';
import { LOOPBACK, freePort, waitForGreeting } from './net.ts';

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const SERVE_ENTRY = path.join('core', 'cli', 'serve.ts');
const START_TIMEOUT_MS = 300_000;
const STOP_TIMEOUT_MS = 60_000;
const STARTED_LINE = /^\S+ STARTED /m;
const CONSOLE_LINE = /^Web console: (http:\/\/\S+)$/m;

export interface RelayStartOptions {
  /** Checkout whose core/cli/serve.ts runs. */
  readonly root: string;
  readonly dataDir: string;
  /** Options after --data-dir and --listen. */
  readonly args: readonly string[];
  readonly admin?: boolean;
}

export class RelayProcess {
  readonly pid: number;
  readonly port: number;
  /** From spawn to the STARTED line, and to the first SMTP greeting, in ms. */
  readonly startedMs: number;
  readonly greetingMs: number;
  readonly command: string;
  readonly #child: ChildProcess;
  readonly #api: RelayApi | null;

  private constructor(fields: {
    child: ChildProcess;
    port: number;
    startedMs: number;
    greetingMs: number;
    command: string;
    api: RelayApi | null;
  }) {
    this.#child = fields.child;
    this.pid = fields.child.pid ?? 0;
    this.port = fields.port;
    this.startedMs = fields.startedMs;
    this.greetingMs = fields.greetingMs;
    this.command = fields.command;
    this.#api = fields.api;
  }

  static async start(run: RunDir, options: RelayStartOptions): Promise<RelayProcess> {
    const port = await freePort();
    const args = [
      SERVE_ENTRY,
      '--data-dir', options.dataDir,
      '--listen', `${LOOPBACK}:${port}`,
      ...(options.admin ? ['--admin', `${LOOPBACK}:0`] : []),
      ...options.args,
    ];
    const { SMARTHOST_PASSWORD: _ignored, ...env } = process.env;
    const outputFile = path.join(path.dirname(options.dataDir), `${path.basename(options.dataDir)}.out`);
    // A restart appends to the same file, so only what follows counts.
    const outputFd = fs.openSync(outputFile, 'a');
    const outputStart = fs.fstatSync(outputFd).size;
    const spawnedAt = performance.now();
    const child = run.spawn(process.execPath, ['--import', 'tsx', ...args], {
      cwd: options.root,
      env,
      stdio: ['ignore', outputFd, outputFd],
    });
    fs.closeSync(outputFd);
    const output = new OutputWatch(child, outputFile, outputStart);

    const [startedAt, greetedAt] = await Promise.all([
      output.waitFor(STARTED_LINE, START_TIMEOUT_MS).then(() => performance.now()),
      waitForGreeting(port, START_TIMEOUT_MS).then(() => performance.now()),
    ]);
    let api: RelayApi | null = null;
    if (options.admin) {
      const url = new URL((await output.waitFor(CONSOLE_LINE, START_TIMEOUT_MS))[1] ?? '');
      const token = new URLSearchParams(url.hash.slice(1)).get('token') ?? '';
      api = createHttpClient({ baseUrl: url.origin, token });
    }
    return new RelayProcess({
      child,
      port,
      startedMs: startedAt - spawnedAt,
      greetingMs: greetedAt - spawnedAt,
      command: `node --import tsx ${args.join(' ')}`,
      api,
    });
  }

  api(): RelayApi {
    if (!this.#api) throw new Error('This relay was started without --admin');
    return this.#api;
  }

  /** Sends SIGTERM and resolves with the time it took to exit, in ms. */
  async stop(): Promise<number> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return 0;
    const start = performance.now();
    const exited = once(this.#child, 'exit');
    this.#child.kill('SIGTERM');
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    const [code, signal] = (await exited) as [number | null, NodeJS.Signals | null];
    clearTimeout(timer);
    if (code !== 0) throw new Error(`serve exited with ${code ?? signal} after SIGTERM`);
    return performance.now() - start;
  }
}

/**
 * Finds lines in a child's output file by reading it again every POLL_MS
 * from where the child began writing. Only the first 64 KB count: the
 * lines looked for come at start-up, and a relay logs a line per message
 * afterwards.
 */
class OutputWatch {
  static readonly #KEEP_BYTES = 64 * 1024;
  static readonly #POLL_MS = 5;
  readonly #file: string;
  readonly #start: number;
  #exit: string | null = null;

  constructor(child: ChildProcess, file: string, start: number) {
    this.#file = file;
    this.#start = start;
    child.once('exit', (code, signal) => {
      this.#exit = `serve exited with ${code ?? signal}; its output is in ${file}:\n${this.#head().slice(-2000)}`;
    });
  }

  #head(): string {
    const buffer = Buffer.alloc(OutputWatch.#KEEP_BYTES);
    const fd = fs.openSync(this.#file, 'r');
    try {
      return buffer.subarray(0, fs.readSync(fd, buffer, 0, buffer.length, this.#start)).toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  }

  async waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = pattern.exec(this.#head());
      if (match) return match;
      if (this.#exit) throw new Error(this.#exit);
      if (Date.now() > deadline) throw new Error(`serve printed no line matching ${pattern} within ${timeoutMs} ms`);
      await sleep(OutputWatch.#POLL_MS);
    }
  }
}
