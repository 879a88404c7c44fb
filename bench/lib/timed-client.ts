/**
 * A small concurrent SMTP client that times every message, for the accept
 * latency that smtp-source cannot report. It speaks like smtp-source:
 * HELO, one recipient and no pipelining. `sessions` workers share
 * `messages` messages. Each message gets its own connection, or with
 * `reuse` each worker keeps one connection and sends MAIL after MAIL.
 *
 * Per message it records:
 *   acceptMs   from writing `DATA` to reading the reply to the final dot
 *              (354 round trip, body, and the server's store-and-reply);
 *   messageMs  from the start of the message to that reply: from the
 *              connect for a new connection (greeting included), from
 *              MAIL on a reused one.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { BENCH_HELO, BENCH_RECIPIENT, BENCH_SENDER } from './smtp-source.ts';
import type { LoadShape } from './smtp-source.ts';
import { LOOPBACK } from './net.ts';

const REPLY_TIMEOUT_MS = 60_000;
const BODY_LINE = 'x'.repeat(76);

export interface MessageTiming {
  readonly acceptMs: number;
  readonly messageMs: number;
}

export interface TimedRun {
  readonly timings: MessageTiming[];
  readonly failures: string[];
  readonly elapsedMs: number;
}

interface Reply {
  readonly code: number;
  readonly text: string;
}

/** One SMTP connection that reads whole replies, multi-line ones included. */
class ReplyReader {
  readonly #socket: net.Socket;
  #buffer = '';
  #lines: string[] = [];
  #waiter: ((reply: Reply | Error) => void) | null = null;
  #failure: Error | null = null;

  constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => this.#onData(chunk));
    socket.on('error', (error) => this.#fail(error));
    socket.on('close', () => this.#fail(new Error('connection closed')));
  }

  #onData(chunk: string): void {
    this.#buffer += chunk;
    for (let end = this.#buffer.indexOf('\n'); end !== -1; end = this.#buffer.indexOf('\n')) {
      const line = this.#buffer.slice(0, end).replace(/\r$/, '');
      this.#buffer = this.#buffer.slice(end + 1);
      this.#lines.push(line);
      // "250-..." continues a reply, "250 ..." ends it (RFC 5321 4.2.1).
      if (line.charAt(3) !== '-') this.#deliver({ code: Number(line.slice(0, 3)), text: this.#lines.join('\n') });
    }
  }

  #deliver(reply: Reply): void {
    this.#lines = [];
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.(reply);
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.(error);
  }

  /** Writes `data` (if any) and waits for the next reply. */
  exchange(data: string | Buffer | null): Promise<Reply> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.#fail(new Error(`no reply within ${REPLY_TIMEOUT_MS} ms`)), REPLY_TIMEOUT_MS);
      this.#waiter = (result) => {
        clearTimeout(timer);
        if (result instanceof Error) reject(result);
        else resolve(result);
      };
      if (data !== null) this.#socket.write(data);
    });
  }

  close(): void {
    this.#socket.destroy();
  }
}

/** Builds a message like smtp-source's: a few headers and `bodyBytes` of text. */
export function buildMessage(bodyBytes: number): Buffer {
  const headers = [
    `From: <${BENCH_SENDER}>`,
    `To: <${BENCH_RECIPIENT}>`,
    `Date: ${new Date().toUTCString()}`,
    `Message-Id: <bench.${Date.now()}@${BENCH_HELO}>`,
    'Subject: benchmark',
    '',
  ];
  const lines: string[] = [];
  for (let size = 0; size < bodyBytes; size += BODY_LINE.length + 2) lines.push(BODY_LINE);
  return Buffer.from([...headers, ...lines, '.', ''].join('\r\n'), 'latin1');
}

async function expect(reader: ReplyReader, data: string | Buffer | null, code: number): Promise<void> {
  const reply = await reader.exchange(data);
  if (reply.code !== code) throw new Error(`expected ${code}, got: ${reply.text}`);
}

async function connect(port: number): Promise<ReplyReader> {
  const socket = net.connect({ host: LOOPBACK, port });
  socket.setNoDelay(true);
  const reader = new ReplyReader(socket);
  await expect(reader, null, 220);
  await expect(reader, `HELO ${BENCH_HELO}\r\n`, 250);
  return reader;
}

async function sendOne(reader: ReplyReader, message: Buffer, startedAt: number): Promise<MessageTiming> {
  await expect(reader, `MAIL FROM:<${BENCH_SENDER}>\r\n`, 250);
  await expect(reader, `RCPT TO:<${BENCH_RECIPIENT}>\r\n`, 250);
  const dataAt = performance.now();
  await expect(reader, 'DATA\r\n', 354);
  await expect(reader, message, 250);
  const doneAt = performance.now();
  return { acceptMs: doneAt - dataAt, messageMs: doneAt - startedAt };
}

/** Sends `load.messages` messages and times each one. */
export async function runTimedClient(load: LoadShape, port: number): Promise<TimedRun> {
  const message = buildMessage(load.bodyBytes);
  const timings: MessageTiming[] = [];
  const failures: string[] = [];
  let next = 0;
  const start = performance.now();

  const worker = async (): Promise<void> => {
    let reader: ReplyReader | null = null;
    // Each pass takes one message number, so the loop ends after
    // load.messages passes over all workers together.
    while (next < load.messages) {
      next += 1;
      const startedAt = performance.now();
      try {
        reader ??= await connect(port);
        timings.push(await sendOne(reader, message, startedAt));
        if (!load.reuse) {
          await expect(reader, 'QUIT\r\n', 221);
          reader.close();
          reader = null;
        }
      } catch (error) {
        failures.push((error as Error).message);
        reader?.close();
        reader = null;
      }
    }
    if (reader) {
      await expect(reader, 'QUIT\r\n', 221).catch(() => undefined);
      reader.close();
    }
  };

  await Promise.all(Array.from({ length: load.sessions }, () => worker()));
  return { timings, failures, elapsedMs: performance.now() - start };
}
