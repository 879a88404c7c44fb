// A fuzzer against `serve`. 12 workers open SMTP sessions from their own
// loopback addresses and pipeline random and mutated command lines. The
// mutations flip bits, insert NUL, CR, LF and 8-bit bytes, cut and repeat
// parts, and make lines of up to 20,000 bytes. Sessions also carry random
// DATA sections, STARTTLS followed by garbage, and AUTH with random
// base64. Meanwhile two well-formed devices send numbered messages, and a
// probe checks every 500 ms that the relay still replies.
//
// Passes when the relay process is alive at the end, every probe got its
// reply within PROBE_TIMEOUT_MS, and every message the devices got a 250
// for arrived at the fake smart host. The seed is in the annotation, and
// FUZZ_SEED=<seed> repeats a run.
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { hashPassword } from '../core/device-auth.ts';
import { startFakeSmartHost } from './support/fake-smarthost.ts';
import type { FakeSmartHost } from './support/fake-smarthost.ts';
import { killAllServeProcesses } from './support/serve-process.ts';
import { useTempDirs } from './support/tmp.ts';
import { connectToRelay, delay, startRelay, waitUntil } from './support/relay-harness.ts';

const createTempDir = useTempDirs();
afterAll(killAllServeProcesses);

const fakes: FakeSmartHost[] = [];
afterEach(async () => {
  await killAllServeProcesses();
  await Promise.all(fakes.splice(0).map((fake) => fake.stop()));
});

// The run stops at TARGET_REPLIES processed commands or after
// FUZZ_DURATION_MS, whichever comes first; the annotation reports what
// was reached. Replies count what the relay processed: lines written
// after it closed a session are not counted there.
const TARGET_REPLIES = 100_000;
const FUZZ_DURATION_MS = 60_000;
const FUZZ_WORKERS = 12;
const DEVICES = 2;
// Each device sends at least this many, and goes on while fuzzing lasts.
const MIN_MESSAGES_PER_DEVICE = 50;
const DEVICE_PAUSE_MS = 50;
const PROBE_INTERVAL_MS = 500;
const PROBE_TIMEOUT_MS = 5_000;
// A session that neither finishes nor is closed by the relay in this
// time counts as a hang.
const SESSION_TIMEOUT_MS = 15_000;
const CLIENT_TIMEOUT_SECONDS = 5;
const LONG_LINE_BYTES = 20_000;

type Random = () => number;

/** Mulberry32: a small seeded generator, so a failing run can be repeated. */
function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function pick<T>(random: Random, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}

function randomBytes(random: Random, length: number): Buffer {
  const bytes = Buffer.alloc(length);
  for (let index = 0; index < length; index += 1) bytes[index] = Math.floor(random() * 256);
  return bytes;
}

const base64 = (text: string): string => Buffer.from(text, 'latin1').toString('base64');

/** Well-formed lines the mutations start from. */
const CORPUS: readonly string[] = [
  'EHLO client.test',
  'HELO client.test',
  'EHLO [127.0.0.1]',
  'MAIL FROM:<device@office.test>',
  'MAIL FROM:<> BODY=8BITMIME SIZE=1000',
  'MAIL FROM:<dévice@office.test> SMTPUTF8',
  'MAIL FROM:<device@office.test> AUTH=<>',
  'RCPT TO:<someone@example.test>',
  'RCPT TO:<"quoted local"@example.test> NOTIFY=SUCCESS,FAILURE',
  'RCPT TO:<@route.test:someone@example.test>',
  'RCPT TO:<postmaster>',
  'DATA',
  'BDAT 10 LAST',
  'RSET',
  'NOOP',
  'NOOP with an argument',
  'VRFY postmaster',
  'EXPN staff',
  'HELP',
  'STARTTLS',
  `AUTH PLAIN ${base64('\0scanner\0wrong-password')}`,
  'AUTH LOGIN',
  `AUTH LOGIN ${base64('scanner')}`,
  'AUTH CRAM-MD5',
  'AUTH XOAUTH2 dXNlcj1zb21lb25lAWF1dGg9QmVhcmVyIHRva2VuAQE=',
  'XCLIENT ADDR=192.0.2.1 NAME=spoofed.test',
  'XFORWARD NAME=spoofed.test ADDR=192.0.2.1',
  'ETRN example.test',
  'GET / HTTP/1.1',
  'QUIT',
];

const SPECIAL_BYTES = [0x00, 0x0d, 0x0a, 0x09, 0x20, 0x3c, 0x3e, 0x40, 0x22, 0x5c, 0x2e, 0x3a, 0x7f, 0x80, 0xc3, 0xff];

/** Returns one mutated copy of `line`. */
function mutate(random: Random, line: Buffer): Buffer {
  const bytes = Buffer.from(line);
  switch (Math.floor(random() * 10)) {
    case 0: {
      // Flip a few bits.
      for (let count = 1 + Math.floor(random() * 4); count > 0 && bytes.length > 0; count -= 1) {
        const index = Math.floor(random() * bytes.length);
        bytes[index] = bytes[index]! ^ (1 << Math.floor(random() * 8));
      }
      return bytes;
    }
    case 1: {
      // Insert a byte that has a meaning somewhere in SMTP.
      const index = Math.floor(random() * (bytes.length + 1));
      return Buffer.concat([bytes.subarray(0, index), Buffer.from([pick(random, SPECIAL_BYTES)]), bytes.subarray(index)]);
    }
    case 2: {
      // Cut a piece out.
      const start = Math.floor(random() * bytes.length);
      const end = start + Math.floor(random() * (bytes.length - start + 1));
      return Buffer.concat([bytes.subarray(0, start), bytes.subarray(end)]);
    }
    case 3:
      return bytes.subarray(0, Math.floor(random() * bytes.length));
    case 4: {
      // Repeat a piece, sometimes far beyond any line limit.
      const start = Math.floor(random() * bytes.length);
      const piece = bytes.subarray(start, start + 1 + Math.floor(random() * 8));
      const times = random() < 0.2 ? Math.ceil(LONG_LINE_BYTES / Math.max(1, piece.length)) : 1 + Math.floor(random() * 40);
      return Buffer.concat([bytes.subarray(0, start), ...Array.from({ length: times }, () => piece), bytes.subarray(start)]);
    }
    case 5:
      return Buffer.from(bytes.toString('latin1').replace(/[a-z]/gi, (letter) => (random() < 0.5 ? letter.toUpperCase() : letter.toLowerCase())), 'latin1');
    case 6:
      // Glue two lines together.
      return Buffer.concat([bytes, Buffer.from(pick(random, [' ', '', '\r', '\t'])), Buffer.from(pick(random, CORPUS), 'latin1')]);
    case 7:
      return randomBytes(random, Math.floor(random() * 80));
    case 8:
      // A valid line with 8-bit or UTF-8 text spliced in.
      return Buffer.concat([bytes, Buffer.from(pick(random, [' ✉ päckchen', ' \u0000\u0001', ' %s%n', ' ${jndi:x}', ' \uFFFD\uD800']), 'utf8')]);
    default:
      return bytes;
  }
}

// Share of sessions that open a valid transaction first, so the fuzzed
// lines after DATA reach the message store and the smart host.
const VALID_ENVELOPE_SHARE = 0.1;
const VALID_ENVELOPE = 'EHLO fuzz.test\r\nMAIL FROM:<fuzz@office.test>\r\nRCPT TO:<fuzz@example.test>\r\nDATA\r\n';

/** Builds the bytes of one fuzz session and the number of lines in it. */
function fuzzSession(random: Random): { chunks: Buffer[]; lines: number } {
  const parts: Buffer[] = [];
  let lines = 0;
  if (random() < VALID_ENVELOPE_SHARE) {
    parts.push(Buffer.from(VALID_ENVELOPE, 'latin1'));
    lines += 4;
    for (let bodyLine = Math.floor(random() * 30); bodyLine > 0; bodyLine -= 1) {
      parts.push(mutate(random, Buffer.from(pick(random, CORPUS), 'latin1')), Buffer.from(pick(random, ['\r\n', '\n', '\r']), 'latin1'));
      lines += 1;
    }
    parts.push(Buffer.from('\r\n.\r\n'));
  }
  const count = 5 + Math.floor(random() * 40);
  for (let index = 0; index < count; index += 1) {
    let line: Buffer = Buffer.from(pick(random, CORPUS), 'latin1');
    // QUIT ends the session early; keep it rare.
    if (line.toString() === 'QUIT' && random() < 0.9) line = Buffer.from('NOOP');
    if (random() < 0.8) line = mutate(random, line);
    if (random() < 0.3) line = mutate(random, line);
    const ending = random() < 0.9 ? '\r\n' : pick(random, ['\n', '\r', '\r\r\n', '']);
    parts.push(line, Buffer.from(ending, 'latin1'));
    lines += 1;

    if (random() < 0.05) {
      // A message body: random lines, dots, bare CR and LF, maybe no end.
      for (let bodyLine = Math.floor(random() * 20); bodyLine > 0; bodyLine -= 1) {
        const bodyText = pick(random, ['Subject: fuzz', '.', '..', 'body text', '', '.\r', 'From: <x@y>']);
        parts.push(mutate(random, Buffer.from(bodyText, 'latin1')), Buffer.from('\r\n'));
        lines += 1;
      }
      if (random() < 0.7) parts.push(Buffer.from('.\r\n'));
    }
  }
  // Split the bytes at random points, so lines straddle TCP writes.
  const bytes = Buffer.concat(parts);
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < bytes.length; ) {
    const size = 1 + Math.floor(random() * (random() < 0.5 ? 64 : 4096));
    chunks.push(bytes.subarray(offset, offset + size));
    offset += size;
  }
  return { chunks, lines };
}

interface FuzzStats {
  sessions: number;
  /** Lines written, counted whether or not the relay had closed by then. */
  lines: number;
  /** Final reply lines the relay sent after its greeting: commands it processed. */
  replies: number;
  bytes: number;
  /** Sessions that got no greeting, or were neither finished nor closed in time. */
  hung: number;
}

/** Runs one fuzz session; resolves when the relay or the client closes. */
function runFuzzSession(port: number, localAddress: string, random: Random, stats: FuzzStats): Promise<void> {
  const { chunks, lines } = fuzzSession(random);
  const socket: Socket = connect({ host: '127.0.0.1', port, localAddress });
  socket.setNoDelay(true);
  socket.on('error', () => undefined);
  let greeted = false;

  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      stats.hung += 1;
      socket.destroy();
    }, SESSION_TIMEOUT_MS);
    socket.once('close', () => {
      clearTimeout(timer);
      stats.sessions += 1;
      resolve();
    });
    // Replies are read as they come, so the relay is never held up by a
    // client that does not read.
    let pending = '';
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1');
      const complete = pending.lastIndexOf('\n') + 1;
      stats.replies += (pending.slice(0, complete).match(/^\d{3} /gm) ?? []).length;
      pending = pending.slice(complete);
      if (greeted) return;
      greeted = true;
      // The greeting is no reply to a fuzzed command.
      stats.replies -= 1;
      void (async () => {
        for (const chunk of chunks) {
          if (socket.destroyed || !socket.writable) break;
          socket.write(chunk);
          stats.bytes += chunk.length;
          if (random() < 0.1) await delay(1);
        }
        stats.lines += lines;
        // Half-close; the relay closes its side after QUIT, 421 or its timeout.
        socket.end();
      })();
    });
  });
}

interface DeviceStats {
  /** Labels of messages that got a 250. */
  readonly acknowledged: string[];
  readonly errors: string[];
}

/**
 * Sends numbered messages as a well-formed device, one connection each,
 * until `done()` and at least MIN_MESSAGES_PER_DEVICE, or until `stopAt`.
 */
async function runDevice(
  port: number,
  device: number,
  done: () => boolean,
  stopAt: number,
  stats: DeviceStats,
): Promise<void> {
  for (let index = 0; (index < MIN_MESSAGES_PER_DEVICE || !done()) && Date.now() < stopAt; index += 1) {
    const label = `device${device}-${index}`;
    try {
      const client = await connectToRelay({ host: '127.0.0.1', port });
      await client.send(
        { from: `device${device}@office.test`, to: [`${label}@example.test`] },
        `Subject: ${label}\r\nMessage-ID: <${label}@office.test>\r\n\r\nbody of ${label}\r\n`,
      );
      stats.acknowledged.push(label);
      await client.quit();
    } catch (error) {
      stats.errors.push(`${label}: ${(error as Error).message}`);
    }
    await delay(DEVICE_PAUSE_MS);
  }
}

/** Sends NOOP on a new connection; returns the time to the reply, or null on failure. */
function probe(port: number): Promise<number | null> {
  const startedAt = Date.now();
  const socket = connect({ host: '127.0.0.1', port, localAddress: '127.0.0.2' });
  socket.on('error', () => undefined);
  let received = '';
  let noopSent = false;
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(null);
    }, PROBE_TIMEOUT_MS);
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      if (/^220 /m.test(received) && !noopSent) {
        noopSent = true;
        socket.write('NOOP\r\n');
      }
      if (/^250 /m.test(received)) {
        clearTimeout(timer);
        socket.end('QUIT\r\n');
        resolve(Date.now() - startedAt);
      }
    });
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(/^250 /m.test(received) ? Date.now() - startedAt : null);
    });
  });
}

describe('SMTP fuzzing', () => {
  it('keeps serving under mutated sessions', async (context) => {
    const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
    const fake = await startFakeSmartHost();
    fakes.push(fake);
    const dataDir = await createTempDir('fuzz');
    // A device account, so the AUTH code paths are fuzzed too.
    await writeFile(
      join(dataDir, 'settings.json'),
      JSON.stringify({ deviceUsers: [{ username: 'scanner', passwordHash: await hashPassword('right-password') }] }),
    );
    const { serve } = await startRelay({
      fake,
      dataDir,
      args: ['--client-timeout', String(CLIENT_TIMEOUT_SECONDS), '--allow-plaintext-auth'],
    });
    const port = serve.port;
    const startedAt = Date.now();
    const stopAt = startedAt + FUZZ_DURATION_MS;

    const stats: FuzzStats = { sessions: 0, lines: 0, replies: 0, bytes: 0, hung: 0 };
    const fuzzing = (): boolean => Date.now() < stopAt && stats.replies < TARGET_REPLIES;
    const fuzzers = Array.from({ length: FUZZ_WORKERS }, async (_, worker) => {
      // Each worker gets its own address, under the per-address limit.
      const localAddress = `127.0.1.${worker + 1}`;
      const workerRandom = seededRandom(seed * 31 + worker);
      while (fuzzing()) await runFuzzSession(port, localAddress, workerRandom, stats);
    });

    const devices: DeviceStats = { acknowledged: [], errors: [] };
    let fuzzDone = false;
    const deviceRuns = Array.from({ length: DEVICES }, (_, device) =>
      runDevice(port, device, () => fuzzDone, stopAt + 30_000, devices),
    );

    const probeTimes: (number | null)[] = [];
    const probing = (async () => {
      while (fuzzing()) {
        probeTimes.push(await probe(port));
        await delay(PROBE_INTERVAL_MS);
      }
    })();

    await Promise.all([...fuzzers, probing]);
    const fuzzedAt = Date.now();
    fuzzDone = true;
    await Promise.all(deviceRuns);

    // The relay is alive and still replies.
    expect(serve.exitCode, serve.stderr).toBeNull();
    expect(await probe(port), 'a probe after the run').not.toBeNull();
    expect(probeTimes.length).toBeGreaterThan(0);
    expect(probeTimes.filter((time) => time === null), 'probes without a reply').toEqual([]);
    expect(stats.hung, 'fuzz sessions the relay left hanging').toBe(0);
    expect(serve.stderr).not.toMatch(/TypeError|RangeError|Unhandled|uncaught/i);

    // Every message a device got a 250 for arrived.
    expect(devices.errors, 'device sends that failed').toEqual([]);
    expect(devices.acknowledged.length).toBeGreaterThanOrEqual(DEVICES * MIN_MESSAGES_PER_DEVICE);
    const arrived = (): Set<string> =>
      new Set(fake.messages.map((message) => /^Subject: (\S+)/m.exec(message.raw.toString('latin1'))?.[1] ?? ''));
    await waitUntil(() => devices.acknowledged.every((label) => arrived().has(label)), 'every device message to arrive', 60_000);

    const maxProbeMs = Math.max(...probeTimes.map((time) => time ?? Infinity));
    const errors = serve.events('ERROR').length;
    context.annotate(
      `seed ${seed}: ${stats.replies} fuzzed commands answered (${stats.lines} lines, ` +
        `${(stats.bytes / 1e6).toFixed(1)} MB written) in ${stats.sessions} sessions ` +
        `over ${fuzzedAt - startedAt} ms; ${probeTimes.length} probes, slowest ${maxProbeMs} ms; ` +
        `${devices.acknowledged.length} device messages all arrived; ${fake.messages.length} messages relayed in total; ` +
        `${errors} ERROR lines logged`,
    );
  }, 150_000);
});
