/**
 * Starts the relay's headless `serve` command as a child process
 * (`node --import tsx core/cli/serve.ts`) and reads its activity log.
 *
 * The contract this helper relies on: serve prints one event per stdout line,
 * `<ISO timestamp> EVENT key=value key="quoted value" …`, prints a STARTED
 * line with `listen=HOST:PORT` (the real port when given port 0) once it
 * accepts connections, and exits with code 0 on SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SERVE_ENTRY = resolve(PROJECT_ROOT, 'core', 'cli', 'serve.ts');

const DEFAULT_START_TIMEOUT_MS = 40_000;
const DEFAULT_WAIT_TIMEOUT_MS = 20_000;
const DEFAULT_STOP_TIMEOUT_MS = 10_000;
// Lines of output quoted in error messages.
const OUTPUT_TAIL_LINES = 40;

/** One parsed activity-log line. */
export interface LogEvent {
  timestamp: string;
  event: string;
  fields: Record<string, string>;
  line: string;
}

const LINE_HEAD = /^(\d{4}-\d{2}-\d{2}T\S+) ([A-Z][A-Z0-9_]*)(?= |$)/;
const KEY = /[A-Za-z_][A-Za-z0-9_.-]*/y;

/**
 * Parses `<ISO timestamp> EVENT key=value key="quoted value" …`. A quoted
 * value is decoded as a JSON string, so `\"`, `\\`, `\n` and `\uXXXX` work.
 * If it is not valid JSON, only `\"` and `\\` are decoded. Returns undefined
 * for a line that does not have this format.
 */
export function parseLogLine(line: string): LogEvent | undefined {
  const text = line.replace(/\r?\n$/, '');
  const head = LINE_HEAD.exec(text);
  if (!head) {
    return undefined;
  }

  const fields: Record<string, string> = {};
  let position = head[0].length;
  while (position < text.length) {
    if (text[position] === ' ') {
      position += 1;
      continue;
    }

    KEY.lastIndex = position;
    const key = KEY.exec(text);
    if (!key || text[position + key[0].length] !== '=') {
      return undefined;
    }
    position += key[0].length + 1;

    const value = readValue(text, position);
    if (!value) {
      return undefined;
    }
    fields[key[0]] = value.value;
    position = value.end;
  }

  return { timestamp: head[1] ?? '', event: head[2] ?? '', fields, line: text };
}

function readValue(text: string, start: number): { value: string; end: number } | undefined {
  if (text[start] !== '"') {
    const space = text.indexOf(' ', start);
    const end = space === -1 ? text.length : space;
    return { value: text.slice(start, end), end };
  }

  let position = start + 1;
  while (position < text.length && text[position] !== '"') {
    position += text[position] === '\\' ? 2 : 1;
  }
  if (position >= text.length) {
    return undefined;
  }

  const quoted = text.slice(start, position + 1);
  return { value: decodeQuoted(quoted), end: position + 1 };
}

function decodeQuoted(quoted: string): string {
  try {
    return JSON.parse(quoted) as string;
  } catch {
    return quoted.slice(1, -1).replace(/\\(["\\])/g, '$1');
  }
}

export interface StartServeOptions {
  dataDir: string;
  /** Options after `--data-dir DIR`, e.g. ['--listen', '127.0.0.1:0']. */
  args: string[];
  /**
   * Added to this process's environment, e.g. SMARTHOST_PASSWORD. An
   * inherited SMARTHOST_PASSWORD is removed first.
   */
  env?: Record<string, string>;
  /** Time allowed until the STARTED line, in ms. */
  startTimeoutMs?: number;
  /** Script to run instead of core/cli/serve.ts, for testing this helper. */
  entry?: string;
}

export interface ServeProcess {
  host: string;
  port: number;
  pid: number;
  /** Every complete stdout line so far. */
  lines: string[];
  /** All stderr output so far. */
  readonly stderr: string;
  /** Exit code, or null while running or after a signal. */
  readonly exitCode: number | null;
  /**
   * Resolves with the first line at index `fromLine` or later that matches,
   * waiting for new output if needed. Pass `lines.length` to skip old lines.
   */
  waitForLine(pattern: RegExp, timeoutMs?: number, fromLine?: number): Promise<string>;
  /** Parsed lines whose event word is `event`. */
  events(event: string): LogEvent[];
  /** Waits for an `event` line whose fields pass `match`, from line index `fromLine` on. */
  waitForEvent(
    event: string,
    match?: (fields: Record<string, string>) => boolean,
    timeoutMs?: number,
    fromLine?: number,
  ): Promise<LogEvent>;
  /**
   * Sends SIGTERM and resolves with the exit code. If the process is still
   * running after `timeoutMs`, sends SIGKILL and rejects.
   */
  stop(timeoutMs?: number): Promise<number | null>;
  /** Sends SIGKILL and resolves once the process has exited. */
  kill9(): Promise<void>;
}

interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

interface LineWaiter {
  check: () => boolean;
  fail: (reason: string) => void;
}

const runningChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Kills every serve process that is still running, with SIGKILL. Call it from afterAll. */
export async function killAllServeProcesses(): Promise<void> {
  const children = [...runningChildren];
  await Promise.all(children.map((child) => killAndWait(child)));
}

function killAndWait(child: ChildProcess): Promise<void> {
  const neverStarted = child.pid === undefined;
  if (neverStarted || child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve();
  }
  const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
  child.kill('SIGKILL');
  return exited;
}

// A test worker that exits without afterAll (a crash or a timeout) must not
// leave relays running, so every child still known is killed synchronously.
function installExitHook(): void {
  if (exitHookInstalled) {
    return;
  }
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of runningChildren) {
      child.kill('SIGKILL');
    }
  });
}

/**
 * Spawns serve with `--data-dir dataDir` and `args`, and resolves once it
 * prints STARTED. Rejects with the captured output if it exits first or
 * does not start within `startTimeoutMs` (it is killed then).
 */
export async function startServe(options: StartServeOptions): Promise<ServeProcess> {
  installExitHook();
  const entry = options.entry ?? SERVE_ENTRY;
  // A password set in the developer's shell must not reach a test relay
  // unless the test passes one.
  const { SMARTHOST_PASSWORD: _inherited, ...inheritedEnv } = process.env;
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', entry, '--data-dir', options.dataDir, ...options.args],
    {
      cwd: PROJECT_ROOT,
      env: { ...inheritedEnv, NO_COLOR: '1', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  if (child.pid === undefined) {
    // spawn() reports a failure such as ENOENT only as an 'error' event.
    const [error] = (await once(child, 'error')) as [Error];
    throw new Error(`Failed to spawn serve with ${process.execPath}: ${error.message}`, {
      cause: error,
    });
  }
  runningChildren.add(child);

  const handle = new ServeProcessHandle(child, child.pid);
  const startTimeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  let started: string;
  try {
    started = await handle.waitForLine(/^\S+ STARTED(?: |$)/, startTimeoutMs);
  } catch (error) {
    await killAndWait(child);
    throw new Error(
      `serve did not start: ${(error as Error).message}\n` +
        `command: node --import tsx ${entry} --data-dir ${options.dataDir} ` +
        `${options.args.join(' ')}`,
      { cause: error },
    );
  }

  const listen = parseLogLine(started)?.fields.listen;
  const address = listen === undefined ? undefined : parseHostPort(listen);
  if (!address) {
    await killAndWait(child);
    throw new Error(`serve printed a STARTED line without a valid listen=HOST:PORT: ${started}`);
  }
  handle.host = address.host;
  handle.port = address.port;
  return handle;
}

/** Parses `127.0.0.1:25` or `[::1]:25`. */
function parseHostPort(value: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value);
  if (!match) {
    return undefined;
  }
  return { host: match[1] ?? match[2] ?? '', port: Number(match[3]) };
}

class ServeProcessHandle implements ServeProcess {
  host = '';
  port = 0;
  readonly pid: number;
  readonly lines: string[] = [];
  private stderrText = '';
  private partialLine = '';
  private exitStatus: ExitStatus | undefined;
  private outputClosed = false;
  private readonly exited: Promise<ExitStatus>;
  private waiters: LineWaiter[] = [];

  constructor(
    private readonly child: ChildProcess,
    pid: number,
  ) {
    this.pid = pid;

    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => this.onStdout(chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderrText += chunk;
    });

    this.exited = new Promise((resolveExit) => {
      child.once('exit', (code, signal) => {
        runningChildren.delete(child);
        this.exitStatus = { code, signal };
        resolveExit(this.exitStatus);
      });
    });
    // 'close' comes after the last stdout data, so waiters fail only once
    // every line has been seen.
    child.once('close', () => {
      this.outputClosed = true;
      if (this.partialLine !== '') {
        this.addLine(this.partialLine);
        this.partialLine = '';
      }
      const status = this.exitStatus;
      const exitDescription = status?.signal
        ? `signal ${status.signal}`
        : `exit code ${status?.code}`;
      this.failWaiters(`serve exited with ${exitDescription}`);
    });
    child.once('error', (error) => this.failWaiters(`serve failed: ${error.message}`));
  }

  get stderr(): string {
    return this.stderrText;
  }

  get exitCode(): number | null {
    return this.exitStatus?.code ?? null;
  }

  waitForLine(
    pattern: RegExp,
    timeoutMs = DEFAULT_WAIT_TIMEOUT_MS,
    fromLine = 0,
  ): Promise<string> {
    return this.waitForMatch((line) => pattern.test(line), String(pattern), timeoutMs, fromLine);
  }

  events(event: string): LogEvent[] {
    return this.lines
      .map((line) => parseLogLine(line))
      .filter((parsed): parsed is LogEvent => parsed?.event === event);
  }

  async waitForEvent(
    event: string,
    match: (fields: Record<string, string>) => boolean = () => true,
    timeoutMs = DEFAULT_WAIT_TIMEOUT_MS,
    fromLine = 0,
  ): Promise<LogEvent> {
    let found: LogEvent | undefined;
    await this.waitForMatch(
      (line) => {
        const parsed = parseLogLine(line);
        if (parsed?.event === event && match(parsed.fields)) {
          found = parsed;
          return true;
        }
        return false;
      },
      `a matching ${event} event`,
      timeoutMs,
      fromLine,
    );
    if (!found) {
      throw new Error(`Internal error: waitForEvent resolved without a ${event} event.`);
    }
    return found;
  }

  private waitForMatch(
    test: (line: string) => boolean,
    description: string,
    timeoutMs: number,
    fromLine: number,
  ): Promise<string> {
    return new Promise((resolveLine, reject) => {
      let nextIndex = fromLine;
      const timer = setTimeout(() => {
        this.removeWaiter(waiter);
        const reason = `timed out after ${timeoutMs} ms waiting for ${description}`;
        reject(new Error(this.describe(reason)));
      }, timeoutMs);

      const waiter: LineWaiter = {
        check: () => {
          for (; nextIndex < this.lines.length; nextIndex += 1) {
            const line = this.lines[nextIndex] ?? '';
            if (test(line)) {
              clearTimeout(timer);
              resolveLine(line);
              return true;
            }
          }
          return false;
        },
        fail: (reason) => {
          clearTimeout(timer);
          reject(new Error(this.describe(`${reason} while waiting for ${description}`)));
        },
      };

      if (waiter.check()) {
        return;
      }
      if (this.outputClosed) {
        waiter.fail('serve had already exited');
        return;
      }
      this.waiters.push(waiter);
    });
  }

  async stop(timeoutMs = DEFAULT_STOP_TIMEOUT_MS): Promise<number | null> {
    if (this.exitStatus) {
      return this.exitStatus.code;
    }

    this.child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolveTimeout) => {
      timer = setTimeout(() => resolveTimeout('timeout'), timeoutMs);
    });
    const outcome = await Promise.race([this.exited, timeout]);
    clearTimeout(timer);

    if (outcome === 'timeout') {
      await killAndWait(this.child);
      throw new Error(this.describe(`serve did not exit within ${timeoutMs} ms of SIGTERM`));
    }
    return outcome.code;
  }

  async kill9(): Promise<void> {
    await killAndWait(this.child);
  }

  private onStdout(chunk: string): void {
    const parts = (this.partialLine + chunk).split('\n');
    this.partialLine = parts.pop() ?? '';
    for (const part of parts) {
      this.addLine(part.replace(/\r$/, ''));
    }
  }

  private addLine(line: string): void {
    this.lines.push(line);
    this.waiters = this.waiters.filter((waiter) => !waiter.check());
  }

  private failWaiters(reason: string): void {
    const waiters = this.waiters;
    this.waiters = [];
    waiters.forEach((waiter) => waiter.fail(reason));
  }

  private removeWaiter(waiter: LineWaiter): void {
    this.waiters = this.waiters.filter((entry) => entry !== waiter);
  }

  private describe(message: string): string {
    const stdoutTail = this.lines.slice(-OUTPUT_TAIL_LINES).join('\n');
    const stderrTail = this.stderrText.split('\n').slice(-OUTPUT_TAIL_LINES).join('\n');
    return `${message}.\n--- stdout (last lines) ---\n${stdoutTail}\n--- stderr ---\n${stderrTail}`;
  }
}
