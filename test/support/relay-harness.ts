/**
 * Helpers for the end-to-end relay tests: starts `serve` in front of a fake
 * smart host with fast retry settings, lists the spool, splits the one
 * Received: header the relay adds from the rest of a relayed message,
 * records what an SMTP client put on the wire through a loopback tap,
 * and injects a full disk into the spool's file-system calls.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { connect as connectTcp, createConnection, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { asyncFileSystem } from '../../core/spool.ts';
import type { SpoolFile, SpoolFileSystem } from '../../core/spool.ts';
import { connectWithNodemailer } from './clients.ts';
import type { NodemailerClient } from './clients.ts';
import { testCertificateAuthority } from './fake-smarthost.ts';
import type { FakeSmartHost } from './fake-smarthost.ts';
import { startServe } from './serve-process.ts';
import type { ServeProcess } from './serve-process.ts';
import { createTempDir } from './tmp.ts';

export const SWAKS_PATH = '/usr/bin/swaks';
export const SMTP_SOURCE_PATH = '/usr/sbin/smtp-source';
export const RELAY_HOSTNAME = 'relay.test';

/** Returns whether an external client binary is installed, so tests that need it can skip. */
export function hasBinary(path: string): boolean {
  return existsSync(path);
}

/**
 * Options every end-to-end test starts from: loopback port 0, no TLS to the
 * fake, retries after 0.2 s to 1 s, and idle smart-host connections closed
 * after 0.5 s so a test never waits for the 5 s default.
 */
export const FAST_ARGS: readonly string[] = [
  '--listen',
  '127.0.0.1:0',
  '--hostname',
  RELAY_HOSTNAME,
  '--security',
  'none',
  '--retry-initial',
  '0.2',
  '--retry-max',
  '1',
  '--idle-timeout',
  '0.5',
];

/**
 * Writes the test CA's server certificate into `dataDir` and returns the
 * flags that make the listener use it, which saves generating an RSA key
 * at every start. Tests of the generated certificate leave these out.
 */
export async function listenerCertificateArgs(dataDir: string): Promise<string[]> {
  const certificates = await testCertificateAuthority();
  const certFile = join(dataDir, 'listener-cert.pem');
  const keyFile = join(dataDir, 'listener-key.pem');
  await writeFile(certFile, certificates.cert);
  await writeFile(keyFile, certificates.key, { mode: 0o600 });
  return ['--tls-cert', certFile, '--tls-key', keyFile];
}

export interface RelayUnderTest {
  readonly serve: ServeProcess;
  readonly dataDir: string;
}

export interface StartRelayOptions {
  /** The fake smart host to forward to, or null for a relay without one. */
  readonly fake: FakeSmartHost | null;
  /** Flags after FAST_ARGS. A later flag overrides an earlier one. */
  readonly args?: readonly string[];
  readonly env?: Record<string, string>;
  /** Reuse a data dir, e.g. to restart on the same queue. */
  readonly dataDir?: string;
}

/** Starts `serve` with FAST_ARGS, the test listener certificate and `fake` as its smart host. */
export async function startRelay(options: StartRelayOptions): Promise<RelayUnderTest> {
  const dataDir = options.dataDir ?? (await createTempDir('relay'));
  const smarthost = options.fake ? ['--smarthost', `${options.fake.host}:${options.fake.port}`] : [];
  const args = [
    ...FAST_ARGS,
    ...(await listenerCertificateArgs(dataDir)),
    ...smarthost,
    ...(options.args ?? []),
  ];
  const serve = await startServe({ dataDir, args, env: options.env });
  return { serve, dataDir };
}

// Connect and greeting timeout for test clients. The CI machines run two
// test files at once next to browsers and packagers, and a relay under
// that load has been seen to greet after more than 5 s.
const CLIENT_TIMEOUT_MS = 20_000;

/** Opens a plain (no STARTTLS) nodemailer session to a relay's listener. */
export function connectToRelay(address: { host: string; port: number }): Promise<NodemailerClient> {
  return connectWithNodemailer({
    host: address.host,
    port: address.port,
    ignoreTLS: true,
    connectionTimeout: CLIENT_TIMEOUT_MS,
    greetingTimeout: CLIENT_TIMEOUT_MS,
    socketTimeout: CLIENT_TIMEOUT_MS,
  });
}

/** Sends one message on its own session and returns the queue id from the 250 reply. */
export async function submitMessage(
  address: { host: string; port: number },
  envelope: { from: string; to: string[] },
  raw: string | Buffer,
): Promise<string> {
  const client = await connectToRelay(address);
  const info = await client.send(envelope, raw);
  await client.quit();
  const id = /queued as ([A-Z0-9]+)/.exec(info.response)?.[1];
  if (!id) throw new Error(`Queue id not found in the reply: ${info.response}`);
  return id;
}

/** Lists the files in `<dataDir>/queue/`, without the tmp/ folder. */
export async function queueFiles(dataDir: string): Promise<string[]> {
  const names = await readdir(join(dataDir, 'queue'));
  return names.filter((name) => name !== 'tmp').sort();
}

/** Lists the files in `<dataDir>/queue/tmp/`. */
export async function tmpFiles(dataDir: string): Promise<string[]> {
  return (await readdir(join(dataDir, 'queue', 'tmp'))).sort();
}

/** Reads the activity log file the relay keeps in its data dir. */
export function readActivityLog(dataDir: string): Promise<string> {
  return readFile(join(dataDir, 'logs', 'activity.log'), 'utf8');
}

export interface SplitMessage {
  /** The first header field, with its folded lines and final CRLF. */
  readonly received: string;
  /** Everything after it. */
  readonly rest: Buffer;
}

/**
 * Splits the first header field (the relay's Received:) from a relayed
 * message. Throws when the message does not start with a Received: field.
 */
export function splitReceived(raw: Buffer): SplitMessage {
  const text = raw.toString('latin1');
  if (!/^Received:/i.test(text)) {
    throw new Error(`Relayed message does not start with Received: ${JSON.stringify(text.slice(0, 80))}`);
  }
  // The field ends at the first line break not followed by folding white space.
  const end = /\r?\n(?![ \t])/.exec(text);
  if (!end) throw new Error('Relayed message has no line break after its Received: field');
  const length = end.index + end[0].length;
  return { received: text.slice(0, length), rest: raw.subarray(length) };
}

/** Returns the queue id from the relay's Received: header (`id <queue id>`). */
export function receivedQueueId(raw: Buffer): string {
  const id = /\bid ([A-Z0-9]+)\b/.exec(splitReceived(raw).received)?.[1];
  if (!id) throw new Error(`Received: header has no id: ${splitReceived(raw).received}`);
  return id;
}

/** Returns the value of the first header field `name` of a message, unfolded. */
export function headerValue(raw: Buffer, name: string): string | undefined {
  const text = raw.toString('latin1');
  const headerEnd = text.search(/\r?\n\r?\n/);
  const head = headerEnd === -1 ? text : text.slice(0, headerEnd);
  const pattern = new RegExp(`^${name}:[ \\t]*(.*(?:\\r?\\n[ \\t].*)*)`, 'im');
  return pattern.exec(head)?.[1]?.replace(/\r?\n(?=[ \t])/g, '');
}

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `condition` every 20 ms until it is true. Rejects with an error
 * naming `description` after `timeoutMs`.
 */
export async function waitUntil(
  condition: () => boolean | Promise<boolean>,
  description: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${description}`);
    await delay(20);
  }
}

// ------------------------------------------------------------ wire tap

/** One mail transaction as a client sent it, read from its side of the connection. */
export interface WireTransaction {
  /** Reverse path between the angle brackets of MAIL FROM. */
  readonly from: string;
  /** Everything after the closing bracket of MAIL FROM, e.g. ` BODY=8BITMIME`. */
  readonly mailParameters: string;
  readonly to: string[];
  /** The message after DATA, dot-unstuffed, with the CRLF before the final dot. */
  readonly data: Buffer;
}

export interface WireTap {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** Bytes each client sent, one entry per connection, in accept order. */
  readonly clientBytes: Buffer[];
  /** Connections whose client has not yet ended its side (sent FIN) or closed. */
  readonly openConnections: number;
  /** Maximum of openConnections since the start. */
  readonly maxOpenConnections: number;
  close(): Promise<void>;
}

/**
 * Listens on 127.0.0.1 port 0 and forwards every connection to
 * `target`, keeping a copy of the bytes the client sends. Works for plain
 * SMTP only: after STARTTLS the copy is ciphertext.
 *
 * It also counts the client's open connections, each from accept until
 * the client's FIN arrives. Node reports a FIN in the same event-loop
 * phase as a new connection, in the order they arrived, whereas a socket's
 * 'close' comes one phase later. So a client that finishes closing one
 * connection before it opens the next is never counted twice here, while
 * a server counting until 'close' may briefly count both.
 */
export async function startWireTap(target: { host: string; port: number }): Promise<WireTap> {
  const clientBytes: Buffer[] = [];
  const sockets = new Set<Socket>();
  let open = 0;
  let maxOpen = 0;
  // Half-open sockets let a FIN pass through on its own, so a client that
  // ends its side and then reads the last replies works as without the tap.
  // No Nagle delay, so the tap adds no 40 ms stalls between small writes.
  const server: Server = createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    const index = clientBytes.push(Buffer.alloc(0)) - 1;
    open += 1;
    maxOpen = Math.max(maxOpen, open);
    let ended = false;
    const markEnded = (): void => {
      if (ended) return;
      ended = true;
      open -= 1;
    };
    client.once('end', markEnded);
    client.once('close', markEnded);

    const upstream = createConnection({
      host: target.host,
      port: target.port,
      allowHalfOpen: true,
      noDelay: true,
    });
    for (const [socket, peer] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      sockets.add(socket);
      // A reset on one side is passed on as a reset of the other, and a
      // clean close as an end, which still delivers what is buffered.
      socket.on('error', () => peer.destroy());
      socket.once('close', (hadError) => {
        sockets.delete(socket);
        if (hadError) peer.destroy();
        else peer.end();
      });
    }
    client.on('data', (chunk: Buffer) => {
      clientBytes[index] = Buffer.concat([clientBytes[index] ?? Buffer.alloc(0), chunk]);
    });
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('Wire tap has no TCP address');

  return {
    host: '127.0.0.1',
    port: address.port,
    clientBytes,
    get openConnections() {
      return open;
    },
    get maxOpenConnections() {
      return maxOpen;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Reads the mail transactions out of what one client sent: MAIL FROM,
 * every RCPT TO, and the dot-unstuffed DATA content. Commands whose reply
 * was negative still count, so compare with the replies the client got.
 */
export function parseClientTransactions(bytes: Buffer): WireTransaction[] {
  const text = bytes.toString('latin1');
  const transactions: WireTransaction[] = [];
  let current: { from: string; mailParameters: string; to: string[] } | null = null;
  let position = 0;

  while (position < text.length) {
    const lineEnd = text.indexOf('\r\n', position);
    if (lineEnd === -1) break;
    const line = text.slice(position, lineEnd);
    position = lineEnd + 2;

    const mail = /^MAIL FROM:\s*<([^>]*)>(.*)$/i.exec(line);
    if (mail) {
      current = { from: mail[1] ?? '', mailParameters: mail[2] ?? '', to: [] };
      continue;
    }
    const rcpt = /^RCPT TO:\s*<([^>]*)>/i.exec(line);
    if (rcpt && current) {
      current.to.push(rcpt[1] ?? '');
      continue;
    }
    if (/^DATA$/i.test(line) && current) {
      const end = text.indexOf('\r\n.\r\n', position - 2);
      if (end === -1) break;
      const stuffed = text.slice(position, end + 2);
      const data = stuffed.replace(/(^|\r\n)\./g, '$1');
      transactions.push({ ...current, data: Buffer.from(data, 'latin1') });
      current = null;
      position = end + 5;
    }
  }
  return transactions;
}

// ------------------------------------------------------ recording peer

/** One transaction as a RecordingSmartHost saw it. */
export interface RecordedTransaction {
  /** The MAIL command line exactly as received, e.g. `MAIL FROM:<> BODY=8BITMIME`. */
  readonly mailCommand: string;
  readonly rcptCommands: string[];
  /** The message after DATA, dot-unstuffed, with the CRLF before the final dot. */
  readonly data: Buffer;
}

export interface RecordingSmartHost {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** Every command line received, in order, over all connections. */
  readonly commands: string[];
  readonly transactions: RecordedTransaction[];
  close(): Promise<void>;
}

/**
 * Starts a minimal SMTP server on 127.0.0.1 port 0 that accepts everything
 * and records command lines verbatim, for the checks the fake smart host
 * cannot make (MAIL parameters such as BODY=8BITMIME, the exact null
 * sender). It offers 8BITMIME, SIZE and ENHANCEDSTATUSCODES, no PIPELINING.
 */
export async function startRecordingSmartHost(): Promise<RecordingSmartHost> {
  const commands: string[] = [];
  const transactions: RecordedTransaction[] = [];
  const sockets = new Set<Socket>();

  const server = createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffer = Buffer.alloc(0);
    let inData = false;
    let mailCommand = '';
    let rcptCommands: string[] = [];

    const reply = (text: string): void => {
      socket.write(`${text}\r\n`);
    };
    const command = (line: string): void => {
      commands.push(line);
      const verb = line.split(' ')[0]?.toUpperCase() ?? '';
      if (verb === 'EHLO') {
        reply('250-recorder.test\r\n250-8BITMIME\r\n250-SIZE 104857600\r\n250 ENHANCEDSTATUSCODES');
      } else if (verb === 'HELO') {
        reply('250 recorder.test');
      } else if (verb === 'MAIL') {
        mailCommand = line;
        rcptCommands = [];
        reply('250 2.1.0 Ok');
      } else if (verb === 'RCPT') {
        rcptCommands.push(line);
        reply('250 2.1.5 Ok');
      } else if (verb === 'DATA') {
        inData = true;
        reply('354 End data with <CR><LF>.<CR><LF>');
      } else if (verb === 'QUIT') {
        reply('221 2.0.0 Bye');
        socket.end();
      } else {
        reply('250 2.0.0 Ok');
      }
    };
    const drain = (): void => {
      for (;;) {
        if (inData) {
          // The terminator is CRLF . CRLF, or . CRLF for an empty message.
          const atStart = buffer.subarray(0, 3).toString('latin1') === '.\r\n';
          const end = atStart ? -2 : buffer.indexOf('\r\n.\r\n');
          if (end === -1 && !atStart) return;
          const stuffed = buffer.subarray(0, end + 2).toString('latin1');
          const data = Buffer.from(stuffed.replace(/(^|\r\n)\./g, '$1'), 'latin1');
          transactions.push({ mailCommand, rcptCommands, data });
          buffer = buffer.subarray(end + 5);
          inData = false;
          reply('250 2.0.0 Ok: queued');
          continue;
        }
        const lineEnd = buffer.indexOf('\r\n');
        if (lineEnd === -1) return;
        const line = buffer.subarray(0, lineEnd).toString('latin1');
        buffer = buffer.subarray(lineEnd + 2);
        command(line);
      }
    };
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      drain();
    });
    reply('220 recorder.test ESMTP');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('Recorder has no TCP address');

  return {
    host: '127.0.0.1',
    port: address.port,
    commands,
    transactions,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// ---------------------------------------------------------- SMTP dialog

/** A command-by-command SMTP client for STARTTLS and AUTH checks. */
export interface SmtpDialog {
  readonly greeting: string;
  /** Sends one line (CRLF added) and resolves with the complete reply. */
  command(line: string): Promise<string>;
  /**
   * Sends STARTTLS and upgrades the connection. Rejects when the server
   * rejects the command or the handshake fails.
   */
  startTls(options: ConnectionOptions): Promise<TLSSocket>;
  close(): void;
}

const DIALOG_TIMEOUT_MS = 10_000;

/**
 * Opens a plain connection to an SMTP server and reads the greeting.
 * Every reply wait is bounded by 10 s.
 */
export async function openSmtpDialog(
  host: string,
  port: number,
  localAddress?: string,
): Promise<SmtpDialog> {
  let socket: Socket | TLSSocket = connectTcp({ host, port, localAddress });
  let buffer = '';
  let waiter: ((reply: string) => void) | null = null;
  let failure: ((error: Error) => void) | null = null;

  const onData = (chunk: Buffer): void => {
    buffer += chunk.toString('latin1');
    // A reply is complete at its final line: code, space or end of line.
    const match = /(^|\n)\d{3}(?: [^\n]*)?\r?\n/.exec(buffer);
    if (!match || !waiter) return;
    const end = match.index + match[0].length;
    const reply = buffer.slice(0, end);
    buffer = buffer.slice(end);
    const resolve = waiter;
    waiter = null;
    failure = null;
    resolve(reply);
  };
  const onClose = (): void => failure?.(new Error(`Connection closed with unread output ${JSON.stringify(buffer)}`));
  const attach = (target: Socket | TLSSocket): void => {
    target.on('data', onData);
    target.on('close', onClose);
    target.on('error', (error) => failure?.(error));
  };
  attach(socket);

  const nextReply = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`SMTP reply timed out after ${DIALOG_TIMEOUT_MS} ms`)), DIALOG_TIMEOUT_MS);
      waiter = (reply) => {
        clearTimeout(timer);
        resolve(reply);
      };
      failure = (error) => {
        clearTimeout(timer);
        waiter = null;
        failure = null;
        reject(error);
      };
      // Output that arrived before anyone waited for it.
      onData(Buffer.alloc(0));
    });

  const greeting = await nextReply();
  const dialog: SmtpDialog = {
    greeting,
    command: (line) => {
      const reply = nextReply();
      socket.write(`${line}\r\n`);
      return reply;
    },
    startTls: async (options) => {
      const reply = await dialog.command('STARTTLS');
      if (!reply.startsWith('220')) throw new Error(`STARTTLS rejected: ${reply.trim()}`);
      const plain = socket;
      plain.removeListener('data', onData);
      plain.removeListener('close', onClose);
      const secure = connectTls({ ...options, socket: plain });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('TLS handshake timed out')), DIALOG_TIMEOUT_MS);
        secure.once('secureConnect', () => {
          clearTimeout(timer);
          resolve();
        });
        secure.once('error', (error) => {
          clearTimeout(timer);
          reject(error);
        });
      });
      socket = secure;
      attach(secure);
      return secure;
    },
    close: () => socket.destroy(),
  };
  return dialog;
}

// ------------------------------------------------- file-system faults

/** One call the spool made through a FaultyFileSystem. */
export interface FileSystemCall {
  /** `open`, `rename`, ... or, on an open file, `write`, `datasync`, `sync`. */
  readonly operation: string;
  /** The path the call is about (for a file handle, the path it was opened with). */
  readonly path: string;
}

export interface FaultyFileSystem extends SpoolFileSystem {
  /** Every call so far, in order. */
  readonly calls: FileSystemCall[];
}

/** Makes the error a full disk gives, with the code Node sets. */
export function diskFullError(syscall: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`ENOSPC: no space left on device, ${syscall}`), {
    code: 'ENOSPC',
    errno: -28,
    syscall,
  });
}

/**
 * A spool file system (asyncFileSystem unless `base` names another),
 * except that a call for which `fails` returns true throws ENOSPC. A
 * failing write first writes half of its bytes, as a disk that fills up
 * mid-message does.
 */
export function faultyFileSystem(
  fails: (call: FileSystemCall) => boolean,
  base: SpoolFileSystem = asyncFileSystem,
): FaultyFileSystem {
  const calls: FileSystemCall[] = [];
  const check = (operation: string, path: string): void => {
    const call = { operation, path };
    calls.push(call);
    if (fails(call)) throw diskFullError(operation);
  };

  const wrapFile = (file: SpoolFile, path: string): SpoolFile => ({
    async write(data) {
      const call = { operation: 'write', path };
      calls.push(call);
      const bytes = typeof data === 'string' ? Buffer.from(data) : data;
      if (fails(call)) {
        await file.write(bytes.subarray(0, Math.floor(bytes.length / 2)));
        throw diskFullError('write');
      }
      return file.write(bytes);
    },
    async datasync() {
      check('datasync', path);
      return file.datasync();
    },
    async sync() {
      check('sync', path);
      return file.sync();
    },
    close: () => file.close(),
  });

  return {
    ...base,
    calls,
    async open(path, flags, mode) {
      check('open', path);
      return wrapFile(await base.open(path, flags, mode), path);
    },
    async rename(from, to) {
      check('rename', from);
      return base.rename(from, to);
    },
    async unlink(path) {
      check('unlink', path);
      return base.unlink(path);
    },
  };
}
