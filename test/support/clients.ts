/**
 * Real SMTP clients for tests, each wrapped in an async function: swaks,
 * Python's smtplib, Postfix's smtp-source, nodemailer's SMTPConnection and a
 * raw TCP session for malformed input. Every call is bounded by a timeout
 * and kills or destroys what it started when the timeout expires.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type {
  SMTPConnectionOptions,
  SMTPConnectionSendInfo,
  SMTPEnvelope,
} from 'nodemailer/lib/smtp-connection';

// Paths of the Debian swaks and postfix packages. smtp-source is in sbin,
// which is often missing from PATH.
const SWAKS_PATH = '/usr/bin/swaks';
const SMTP_SOURCE_PATH = '/usr/sbin/smtp-source';
const PYTHON_COMMAND = process.env.PYTHON ?? 'python3';

// Upper bounds, not expected durations: on a loaded two-core CI machine a
// relay under test has been seen to take over 5 s to greet.
const DEFAULT_SWAKS_TIMEOUT_SECONDS = 30;
const DEFAULT_SMTPLIB_TIMEOUT_SECONDS = 30;
const DEFAULT_SMTP_SOURCE_TIMEOUT_MS = 60_000;
const DEFAULT_RAW_SESSION_TIMEOUT_MS = 30_000;
const DEFAULT_NODEMAILER_QUIT_TIMEOUT_MS = 2_000;
// How long rawSession collects output after its last step before it closes
// the socket itself.
const FINAL_CLOSE_WAIT_MS = 2_000;
// Extra time after a tool's own protocol timeout before the process is killed.
const KILL_GRACE_MS = 5_000;

/** A final SMTP reply line (a continuation line has '-' after the code). */
export const SMTP_REPLY_LINE = /^\d{3}(?: [^\r\n]*)?\r?\n/m;

export interface ProcessResult {
  /** null when the process was killed by a signal. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** True when the hard timeout killed the process. */
  timedOut: boolean;
  elapsedMs: number;
}

/**
 * Runs a command to completion and captures its output. Sends SIGKILL after
 * `timeoutMs` and rejects only when the command cannot be started.
 */
export function runProcess(
  command: string,
  args: readonly string[],
  options: { input?: string | Buffer; timeoutMs: number; env?: NodeJS.ProcessEnv },
): Promise<ProcessResult> {
  const startedAt = Date.now();
  const child = spawn(command, args, {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: options.env ?? process.env,
  });
  let stdout = '';
  let stderr = '';
  let timedOut = false;
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });

  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, options.timeoutMs);

  // A child that exits before reading its input closes stdin early.
  child.stdin.on('error', () => undefined);
  child.stdin.end(options.input ?? '');

  return new Promise((resolve, reject) => {
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`Failed to start ${command}: ${error.message}`, { cause: error }));
    });
    child.once('close', (exitCode, signal) => {
      clearTimeout(timer);
      resolve({
        exitCode,
        signal,
        stdout,
        stderr,
        timedOut,
        elapsedMs: Date.now() - startedAt,
      });
    });
  });
}

async function withTempDir<T>(action: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'smarthost-relay-client-'));
  try {
    return await action(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- swaks

export interface SwaksOptions {
  host: string;
  port: number;
  from: string;
  to: string[];
  /**
   * Message content. swaks 20201014.0 sends it with CRLF line endings and
   * dot-stuffing, and always ends it with CRLF. This helper drops one
   * trailing line break first, so content that ends with one arrives
   * unchanged. swaks also replaces tokens such as %DATE% and the two
   * characters `\n`, and takes a last line of "." as the end of the data.
   */
  data?: string | Buffer;
  /** Headers set with `--header`, replacing a header of the same name in `data`. */
  headers?: Record<string, string>;
  authUser?: string;
  authPass?: string;
  /** AUTH mechanism, e.g. 'PLAIN'. Without it swaks tries each one the server offers. */
  authMethod?: string;
  /** Require STARTTLS (`--tls`). */
  tls?: boolean;
  /** Implicit TLS (`--tls-on-connect`). */
  tlsOnConnect?: boolean;
  /** PEM CA certificate. When set, swaks verifies the server certificate against it. */
  ca?: string;
  ehloName?: string;
  localAddress?: string;
  /** swaks' own timeout for each SMTP step, in seconds. */
  timeoutSeconds?: number;
  extraArgs?: string[];
}

export interface SwaksResult extends ProcessResult {
  /** Final reply lines from the server, in order. */
  replies: string[];
  /** The last final reply before QUIT, e.g. the reply to the final dot or the reply that failed. */
  lastReply: string | undefined;
}

/** Sends one message with swaks and parses the replies out of its transcript. */
export async function sendWithSwaks(options: SwaksOptions): Promise<SwaksResult> {
  const timeoutSeconds = options.timeoutSeconds ?? DEFAULT_SWAKS_TIMEOUT_SECONDS;

  return withTempDir(async (dir) => {
    const args = [
      '--server',
      options.host,
      '--port',
      String(options.port),
      '--from',
      options.from === '' ? '<>' : options.from,
      '--to',
      options.to.join(','),
      '--timeout',
      `${timeoutSeconds}s`,
    ];

    if (options.data !== undefined) {
      const dataPath = join(dir, 'message.eml');
      await writeFile(dataPath, withoutFinalLineBreak(options.data));
      args.push('--data', `@${dataPath}`);
    }
    for (const [name, value] of Object.entries(options.headers ?? {})) {
      args.push('--header', `${name}: ${value}`);
    }
    if (options.authUser !== undefined) {
      args.push('--auth-user', options.authUser, '--auth-password', options.authPass ?? '');
    }
    if (options.authMethod !== undefined) {
      args.push('--auth', options.authMethod);
    }
    if (options.tls) {
      args.push('--tls');
    }
    if (options.tlsOnConnect) {
      args.push('--tls-on-connect');
    }
    if (options.ca !== undefined) {
      const caPath = join(dir, 'ca.pem');
      await writeFile(caPath, options.ca);
      args.push('--tls-verify', '--tls-ca-path', caPath);
    }
    if (options.ehloName !== undefined) {
      args.push('--ehlo', options.ehloName);
    }
    if (options.localAddress !== undefined) {
      args.push('--local-interface', options.localAddress);
    }
    args.push(...(options.extraArgs ?? []));

    const result = await runProcess(SWAKS_PATH, args, {
      timeoutMs: timeoutSeconds * 1000 + KILL_GRACE_MS,
    });
    return { ...result, ...parseSwaksTranscript(result.stdout) };
  });
}

function withoutFinalLineBreak(data: string | Buffer): Buffer {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  if (bytes.subarray(-2).toString('latin1') === '\r\n') {
    return bytes.subarray(0, -2);
  }
  if (bytes.subarray(-1).toString('latin1') === '\n') {
    return bytes.subarray(0, -1);
  }
  return bytes;
}

// swaks marks the lines it sends with " ->" (" ~>" under TLS) and server
// lines with "<- " ("<~ "). An unexpected line gets "**>" / "*~>" or
// "<**" / "<~*" instead (swaks(1), section on output hints).
function parseSwaksTranscript(stdout: string): Pick<SwaksResult, 'replies' | 'lastReply'> {
  const replies: string[] = [];
  let lastReply: string | undefined;
  let lastCommand = '';

  for (const line of stdout.split('\n')) {
    const command = /^ *[-~*]{1,2}> (.*)$/.exec(line);
    if (command) {
      lastCommand = (command[1] ?? '').trim().toUpperCase();
      continue;
    }

    const reply = /^<[-~*]{1,2}\*? +(\d{3}(?: .*)?)$/.exec(line.trimEnd());
    if (!reply) {
      continue;
    }
    const text = reply[1] ?? '';
    replies.push(text);
    if (lastCommand !== 'QUIT') {
      lastReply = text;
    }
  }
  return { replies, lastReply };
}

// -------------------------------------------------------------- smtplib

export type SmtpReplyPair = [code: number, message: string];

export interface SmtplibOptions {
  host: string;
  port: number;
  from: string;
  to: string[];
  /**
   * Message content. smtplib (Python 3.11) dot-stuffs every line that starts
   * with '.', also after a bare LF, and appends CRLF when the content does
   * not end with one. It sends line endings as given, because this helper
   * passes bytes.
   */
  data: Buffer | string;
  localAddress?: string;
  ehloName?: string;
  /** MAIL parameters, e.g. ['SIZE=1000', 'BODY=8BITMIME']. */
  mailOptions?: string[];
  /** Send DATA even when no recipient was accepted. */
  alwaysSendData?: boolean;
  starttls?: boolean;
  implicitTls?: boolean;
  /** PEM CA certificate for TLS verification (the system store otherwise). */
  ca?: string;
  authUser?: string;
  authPass?: string;
  /** Socket timeout of every SMTP step, in seconds. */
  timeoutSeconds?: number;
}

export interface SmtplibResult {
  exitCode: number | null;
  stderr: string;
  connect?: SmtpReplyPair;
  ehlo?: SmtpReplyPair;
  starttls?: SmtpReplyPair;
  auth?: SmtpReplyPair;
  mail?: SmtpReplyPair;
  rcpt: Record<string, SmtpReplyPair>;
  /** Reply to DATA when it was not 354, otherwise the reply to the final dot. */
  data?: SmtpReplyPair;
  quit?: SmtpReplyPair;
  /** Exception that ended the session early, as "Type: message". */
  error?: string;
  /** The reply carried by that exception, if it was an SMTP reply. */
  errorReply?: SmtpReplyPair;
}

// Reads its parameters as JSON on stdin and prints one JSON line. Uses the
// low-level mail(), rcpt() and data() calls so that a rejected recipient
// still leaves the other replies visible.
const SMTPLIB_SCRIPT = String.raw`
import base64, json, smtplib, ssl, sys

params = json.load(sys.stdin)
result = {"rcpt": {}}

def pair(reply):
    code, message = reply
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    return [code, str(message)]

client = None
try:
    source = (params["localAddress"], 0) if params.get("localAddress") else None
    context = None
    if params.get("ca") is not None:
        context = ssl.create_default_context(cadata=params["ca"])
    if params.get("implicitTls"):
        client = smtplib.SMTP_SSL(
            local_hostname=params.get("ehloName"),
            timeout=params["timeout"],
            source_address=source,
            context=context or ssl.create_default_context(),
        )
    else:
        client = smtplib.SMTP(
            local_hostname=params.get("ehloName"),
            timeout=params["timeout"],
            source_address=source,
        )
    # Passing the host to the constructor would connect there and drop the
    # greeting reply. starttls() and SMTP_SSL check the certificate against
    # _host, which only the constructor sets.
    client._host = params["host"]
    result["connect"] = pair(client.connect(params["host"], params["port"]))
    result["ehlo"] = pair(client.ehlo())
    if params.get("starttls"):
        result["starttls"] = pair(client.starttls(context=context))
        result["ehlo"] = pair(client.ehlo())
    if params.get("authUser") is not None:
        result["auth"] = pair(client.login(params["authUser"], params.get("authPass") or ""))
    result["mail"] = pair(client.mail(params["from"], params.get("mailOptions") or []))
    if result["mail"][0] < 400:
        accepted = 0
        for address in params["to"]:
            reply = pair(client.rcpt(address))
            result["rcpt"][address] = reply
            if reply[0] < 400:
                accepted += 1
        if accepted > 0 or params.get("alwaysSendData"):
            try:
                result["data"] = pair(client.data(base64.b64decode(params["data"])))
            except smtplib.SMTPDataError as error:
                result["data"] = pair((error.smtp_code, error.smtp_error))
    result["quit"] = pair(client.quit())
except Exception as error:
    result["error"] = type(error).__name__ + ": " + str(error)
    if isinstance(error, smtplib.SMTPResponseException):
        result["errorReply"] = pair((error.smtp_code, error.smtp_error))
        if isinstance(error, smtplib.SMTPAuthenticationError):
            result["auth"] = result["errorReply"]
    if client is not None:
        client.close()
print(json.dumps(result))
`;

/**
 * Runs one SMTP session with Python's smtplib (`python3` from PATH, or
 * $PYTHON) and returns the reply to each step.
 */
export async function sendWithSmtplib(options: SmtplibOptions): Promise<SmtplibResult> {
  const timeoutSeconds = options.timeoutSeconds ?? DEFAULT_SMTPLIB_TIMEOUT_SECONDS;
  const data = typeof options.data === 'string' ? Buffer.from(options.data) : options.data;
  const params = {
    host: options.host,
    port: options.port,
    from: options.from,
    to: options.to,
    data: data.toString('base64'),
    localAddress: options.localAddress,
    ehloName: options.ehloName,
    mailOptions: options.mailOptions,
    alwaysSendData: options.alwaysSendData ?? false,
    starttls: options.starttls ?? false,
    implicitTls: options.implicitTls ?? false,
    ca: options.ca,
    authUser: options.authUser,
    authPass: options.authPass,
    timeout: timeoutSeconds,
  };

  // Each step may take up to the socket timeout, so allow a few of them.
  const result = await runProcess(PYTHON_COMMAND, ['-c', SMTPLIB_SCRIPT], {
    input: JSON.stringify(params),
    timeoutMs: timeoutSeconds * 3000 + KILL_GRACE_MS,
  });

  const lastLine = result.stdout.trim().split('\n').pop() ?? '';
  let parsed: Omit<SmtplibResult, 'exitCode' | 'stderr'>;
  try {
    parsed = JSON.parse(lastLine) as Omit<SmtplibResult, 'exitCode' | 'stderr'>;
  } catch {
    throw new Error(
      `smtplib script printed no JSON result (exit code ${result.exitCode}, ` +
        `timed out: ${result.timedOut}).\nstdout: ${result.stdout}\nstderr: ${result.stderr}`,
    );
  }
  return { exitCode: result.exitCode, stderr: result.stderr, ...parsed };
}

// ---------------------------------------------------------- smtp-source

export interface SmtpSourceOptions {
  host: string;
  port: number;
  /** Total number of messages (-m). */
  messages: number;
  /** Number of SMTP sessions run in parallel (-s), default 1. */
  sessions?: number;
  /**
   * Keep each session's connection open for its next message (-d). Without
   * it every message gets its own connection. smtp-source cannot set a
   * number of messages per connection. With -d, each session sends messages
   * until the total is used up.
   */
  reuseConnections?: boolean;
  /** Message body size in bytes (-l), in lines of up to 80 bytes. */
  size?: number;
  from?: string;
  to?: string;
  /** Recipients per message (-r). smtp-source prefixes each `to` address with a number. */
  recipients?: number;
  /** HELO name (-M). smtp-source sends HELO, not EHLO. */
  heloName?: string;
  subject?: string;
  /** Keep going after a negative reply (-A) instead of exiting with an error. */
  continueOnRejection?: boolean;
  timeoutMs?: number;
}

export type SmtpSourceResult = ProcessResult;

/**
 * Runs Postfix's smtp-source. It exits non-zero on the first reply it did
 * not expect (unless `continueOnRejection`) and writes the reason to stderr.
 * It sets SO_LINGER to 0, so each connection ends with an RST after QUIT and
 * the server sees ECONNRESET.
 */
export function runSmtpSource(options: SmtpSourceOptions): Promise<SmtpSourceResult> {
  const args = ['-m', String(options.messages), '-s', String(options.sessions ?? 1)];
  if (options.reuseConnections) {
    args.push('-d');
  }
  if (options.size !== undefined) {
    args.push('-l', String(options.size));
  }
  if (options.recipients !== undefined) {
    args.push('-r', String(options.recipients));
  }
  if (options.continueOnRejection) {
    args.push('-A');
  }
  args.push('-f', options.from ?? 'source@client.test');
  args.push('-t', options.to ?? 'sink@smarthost.test');
  args.push('-M', options.heloName ?? 'client.test');
  if (options.subject !== undefined) {
    args.push('-S', options.subject);
  }

  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  args.push(`inet:${host}:${options.port}`);

  return runProcess(SMTP_SOURCE_PATH, args, {
    timeoutMs: options.timeoutMs ?? DEFAULT_SMTP_SOURCE_TIMEOUT_MS,
  });
}

// ---------------------------------------------------------- raw session

export interface RawStep {
  send: string | Buffer;
  /**
   * Wait until the server output received since this step's write matches.
   * Without it the next step is written at once.
   */
  expect?: RegExp;
}

export interface RawSessionOptions {
  localAddress?: string;
  /** Bound on the whole session, in ms. */
  timeoutMs?: number;
}

export interface RawSessionResult {
  greeting: string;
  /** Server output received after each step's write, one entry per step written. */
  replies: string[];
  /** Everything the server sent, decoded as latin1 so no byte is lost. */
  received: string;
  /** Both directions, '>> ' for the client and '<< ' for the server, JSON-escaped. */
  transcript: string;
  stepsSent: number;
  /** True when the server closed the connection before all steps were written. */
  closedByServer: boolean;
}

/**
 * Opens a plain TCP connection, waits for the greeting, then writes each
 * step, waiting for its `expect` pattern where one is given. A bare string or
 * Buffer is a step without `expect`. After the last step it half-closes the
 * socket and collects output until the server closes too, for at most
 * FINAL_CLOSE_WAIT_MS. Rejects with the transcript so far when the greeting
 * or an `expect` pattern does not arrive within `timeoutMs`.
 */
export function rawSession(
  host: string,
  port: number,
  steps: readonly (RawStep | string | Buffer)[],
  options: RawSessionOptions = {},
): Promise<RawSessionResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_RAW_SESSION_TIMEOUT_MS;
  const socket = connect({ host, port, localAddress: options.localAddress });
  const session = new RawSessionState(socket);

  const deadline = new Promise<never>((_, reject) => {
    const timer = setTimeout(() => {
      reject(
        new Error(
          `rawSession to ${host}:${port} timed out after ${timeoutMs} ms ` +
            `(${session.stepsSent} of ${steps.length} steps written).\n${session.transcript()}`,
        ),
      );
    }, timeoutMs);
    socket.once('close', () => clearTimeout(timer));
  });
  deadline.catch(() => undefined);

  const run = async (): Promise<RawSessionResult> => {
    await Promise.race([session.connected, deadline]);
    const greetingSeen = await Promise.race([session.waitFor(SMTP_REPLY_LINE, 0), deadline]);
    const greeting = session.received;
    const replies: string[] = [];

    if (greetingSeen) {
      for (const entry of steps) {
        const step = typeof entry === 'string' || Buffer.isBuffer(entry) ? { send: entry } : entry;
        if (session.closed) {
          break;
        }
        const offset = session.received.length;
        session.write(step.send);
        if (step.expect) {
          await Promise.race([session.waitFor(step.expect, offset), deadline]);
        }
        replies.push(session.received.slice(offset));
      }
    }

    const closedByServer = session.closed;
    const offset = session.received.length;
    socket.end();
    let lingerTimer: NodeJS.Timeout | undefined;
    const linger = new Promise<void>((resolve) => {
      lingerTimer = setTimeout(resolve, FINAL_CLOSE_WAIT_MS);
    });
    await Promise.race([session.closedPromise, linger, deadline]);
    clearTimeout(lingerTimer);
    const lastIndex = replies.length - 1;
    if (lastIndex >= 0) {
      replies[lastIndex] += session.received.slice(offset);
    }

    return {
      greeting,
      replies,
      received: session.received,
      transcript: session.transcript(),
      stepsSent: session.stepsSent,
      closedByServer,
    };
  };

  return run().finally(() => socket.destroy());
}

class RawSessionState {
  received = '';
  stepsSent = 0;
  closed = false;
  readonly connected: Promise<void>;
  readonly closedPromise: Promise<void>;
  private readonly log: string[] = [];
  private waiters: (() => boolean)[] = [];

  constructor(private readonly socket: Socket) {
    this.connected = new Promise((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    });
    this.connected.catch(() => undefined);
    this.closedPromise = new Promise((resolve) => socket.once('close', () => resolve()));

    // Errors such as ECONNRESET after the server closed show up as 'close'.
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      const text = chunk.toString('latin1');
      this.received += text;
      this.log.push(`<< ${JSON.stringify(text)}`);
      this.notify();
    });
    socket.once('close', () => {
      this.closed = true;
      this.notify();
    });
  }

  write(data: string | Buffer): void {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    this.log.push(`>> ${JSON.stringify(bytes.toString('latin1'))}`);
    this.socket.write(bytes);
    this.stepsSent += 1;
  }

  /**
   * Resolves true once `pattern` matches the output after `offset`, or false
   * if the socket closes first.
   */
  waitFor(pattern: RegExp, offset: number): Promise<boolean> {
    return new Promise((resolve) => {
      const check = (): boolean => {
        if (pattern.test(this.received.slice(offset))) {
          resolve(true);
          return true;
        }
        if (this.closed) {
          resolve(false);
          return true;
        }
        return false;
      };
      if (!check()) {
        this.waiters.push(check);
      }
    });
  }

  transcript(): string {
    return this.log.join('\n');
  }

  private notify(): void {
    this.waiters = this.waiters.filter((check) => !check());
  }
}

// ------------------------------------------------------------ nodemailer

export interface NodemailerClient {
  connection: SMTPConnection;
  /** 'error' events the connection emitted, which nodemailer reports besides the callbacks. */
  errors: Error[];
  login(user: string, pass: string): Promise<void>;
  send(envelope: SMTPEnvelope, message: string | Buffer): Promise<SMTPConnectionSendInfo>;
  reset(): Promise<void>;
  /** Sends QUIT and resolves on 'end', or closes the socket after `timeoutMs`. */
  quit(timeoutMs?: number): Promise<void>;
  close(): void;
}

/**
 * Opens a nodemailer SMTPConnection and wraps its callback API in promises.
 * A pending call also rejects when the connection emits 'error' or 'end',
 * because nodemailer reports some failures (a failed STARTTLS handshake, a
 * greeting timeout) only as an 'error' event.
 */
export async function connectWithNodemailer(
  options: SMTPConnectionOptions,
): Promise<NodemailerClient> {
  const connection = new SMTPConnection({
    connectionTimeout: 20_000,
    greetingTimeout: 20_000,
    socketTimeout: 30_000,
    ...options,
  });
  const errors: Error[] = [];
  const pendingCalls = new Set<(error: Error) => void>();
  connection.on('error', (error: Error) => {
    errors.push(error);
    pendingCalls.forEach((fail) => fail(error));
  });
  const ended = new Promise<void>((resolve) => {
    connection.once('end', () => {
      pendingCalls.forEach((fail) => {
        fail(new Error('The SMTP connection ended before the server replied.'));
      });
      resolve();
    });
  });

  const call = <T>(
    invoke: (callback: (error: Error | null | undefined, value?: T) => void) => void,
  ): Promise<T | undefined> =>
    new Promise((resolve, reject) => {
      const fail = (error: Error): void => {
        pendingCalls.delete(fail);
        reject(error);
      };
      pendingCalls.add(fail);
      invoke((error, value) => {
        pendingCalls.delete(fail);
        if (error) {
          reject(error);
        } else {
          resolve(value);
        }
      });
    });

  await call<void>((callback) => connection.connect((error) => callback(error)));

  return {
    connection,
    errors,
    login: async (user, pass) => {
      await call<boolean>((callback) => connection.login({ user, pass }, callback));
    },
    send: async (envelope, message) => {
      // nodemailer 10.6.1 keeps the envelope object it gets and writes its
      // transaction state into it (mailError, rcptQueue, …). A reused object
      // carries a failed MAIL into the next send, so it gets a copy.
      const envelopeCopy = { ...envelope };
      const info = await call<SMTPConnectionSendInfo>((callback) =>
        connection.send(envelopeCopy, message, callback),
      );
      if (!info) {
        throw new Error('nodemailer send returned neither an error nor info.');
      }
      return info;
    },
    reset: async () => {
      await call<boolean>((callback) => connection.reset(callback));
    },
    quit: async (timeoutMs = DEFAULT_NODEMAILER_QUIT_TIMEOUT_MS) => {
      connection.quit();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          connection.close();
          resolve();
        }, timeoutMs);
      });
      await Promise.race([ended, timeout]);
      clearTimeout(timer);
    },
    close: () => connection.close(),
  };
}
