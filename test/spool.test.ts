// The on-disk queue on its own: what accept() writes, and that a failed
// write at any step becomes a 452 4.3.1 reply and leaves no file behind.
// Also the group commit of directory fsyncs, and how load() treats
// damaged files.
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SmtpReplyError } from '../core/errors.ts';
import { EventBus } from '../core/events.ts';
import type { RelayEvent } from '../core/events.ts';
import { asyncFileSystem, newQueueId, readSubject, Spool, syncStepFileSystem } from '../core/spool.ts';
import type { NewRecord, SpoolFileSystem } from '../core/spool.ts';
import { faultyFileSystem } from './support/relay-harness.ts';
import type { FileSystemCall } from './support/relay-harness.ts';
import { useTempDirs } from './support/tmp.ts';

const createTempDir = useTempDirs();

// The main thread's spool uses the first; the accept thread's the second.
const FILE_SYSTEMS: [string, SpoolFileSystem][] = [
  ['asyncFileSystem', asyncFileSystem],
  ['syncStepFileSystem', syncStepFileSystem],
];

const RECEIVED = Buffer.from('Received: from client.test ([127.0.0.1])\r\n\tby relay.test; Fri, 4 Dec 2026 16:21:44 +0000\r\n');
const MESSAGE = Buffer.from('Subject: Quarterly\r\n report\r\nFrom: a@office.test\r\n\r\nbody\r\n');

function fields(id: string, receivedAt = Date.now()): NewRecord {
  return {
    version: 1,
    id,
    from: 'a@office.test',
    recipients: [{ address: 'b@example.test', status: 'pending', reply: null }],
    receivedAt,
    client: { address: '127.0.0.1', helo: 'client.test', user: null },
    dsn: false,
    state: 'queued',
    attempts: 0,
    lastReply: null,
    lastAttemptAt: null,
    nextAttemptAt: receivedAt,
  };
}

// Each spool keeps its queue directory open for the fsyncs until closed.
const spools: Spool[] = [];
afterEach(async () => {
  await Promise.all(spools.splice(0).map((spool) => spool.close()));
});

async function newSpool(fileSystem?: SpoolFileSystem) {
  const dataDir = await createTempDir('spool');
  const bus = new EventBus();
  const events: RelayEvent[] = [];
  bus.subscribe((event) => events.push(event));
  const spool = new Spool({ dataDir, fileSystem, bus });
  spools.push(spool);
  await spool.init();
  return { dataDir, spool, events };
}

async function listQueue(spool: Spool): Promise<{ queue: string[]; tmp: string[] }> {
  const queue = (await readdir(spool.queueDir)).filter((name) => name !== 'tmp').sort();
  const tmp = (await readdir(spool.tmpDir)).sort();
  return { queue, tmp };
}

describe.each(FILE_SYSTEMS)('Spool.accept with %s', (_name, base) => {
  it('stores the message and its record', async () => {
    const { spool } = await newSpool(base);
    const id = newQueueId();

    const { record } = await spool.accept(fields(id), RECEIVED, [MESSAGE.subarray(0, 10), MESSAGE.subarray(10)]);

    const message = Buffer.concat([RECEIVED, MESSAGE]);
    const eml = await readFile(spool.emlPath(id));
    expect(record.size).toBe(message.length);
    expect(eml.subarray(0, record.size).equals(message)).toBe(true);
    expect((await spool.readMessage(id, record.size)).equals(message)).toBe(true);
    expect(record.subject).toBe('Quarterly report');
    expect(record.eightBit).toBe(false);
    // One file: the record follows the message, then the footer with its length.
    const json = JSON.stringify(record);
    expect(eml.subarray(record.size).toString()).toBe(`${json}\nrecord-length:${String(json.length).padStart(10, '0')}\n`);
    expect(await listQueue(spool)).toEqual({ queue: [`${id}.eml`], tmp: [] });
    // Only the owner may read queued mail.
    expect((await stat(spool.emlPath(id))).mode & 0o777).toBe(0o600);

    const loaded = await spool.load();
    expect(loaded.records).toEqual([record]);
  });

  it('flags 8-bit content', async () => {
    const { spool } = await newSpool(base);
    const { record } = await spool.accept(fields(newQueueId()), RECEIVED, [
      Buffer.from('Subject: Grüße\r\n\r\nbody\r\n', 'utf8'),
    ]);
    expect(record.eightBit).toBe(true);
    expect(record.subject).toBe('Grüße');
  });

  // Every step of an accept, in order, with the call that fails in it.
  const failurePoints: [string, (call: FileSystemCall) => boolean][] = [
    ['opening the message file', (call) => call.operation === 'open' && call.path.endsWith('.eml')],
    ['writing the message file', (call) => call.operation === 'write' && call.path.endsWith('.eml')],
    ['syncing the message file', (call) => call.operation === 'datasync' && call.path.endsWith('.eml')],
    ['renaming the message file', (call) => call.operation === 'rename' && call.path.endsWith('.eml')],
    ['syncing the directory', (call) => call.operation === 'sync'],
  ];

  for (const [step, fails] of failurePoints) {
    it(`replies 452 4.3.1 when ${step} fails`, async () => {
      let full = true;
      const fileSystem = faultyFileSystem((call) => full && fails(call), base);
      const { spool } = await newSpool(fileSystem);
      const id = newQueueId();

      const error = await spool.accept(fields(id), RECEIVED, [MESSAGE]).then(
        () => null,
        (caught: unknown) => caught,
      );

      expect(error).toBeInstanceOf(SmtpReplyError);
      const reply = error as SmtpReplyError;
      expect(reply.responseCode).toBe(452);
      expect(reply.enhancedCode).toBe('4.3.1');
      expect(reply.code).toBe('ESPOOL_WRITE');
      expect((reply.cause as NodeJS.ErrnoException).code).toBe('ENOSPC');
      expect(fileSystem.calls.some(fails), `the fault at ${step} was reached`).toBe(true);
      // Nothing half-written is left, in the queue or in tmp/.
      expect(await listQueue(spool)).toEqual({ queue: [], tmp: [] });
      expect((await spool.load()).records).toEqual([]);

      // Once there is space again, the same spool accepts mail.
      full = false;
      await spool.accept(fields(newQueueId()), RECEIVED, [MESSAGE]);
      expect((await spool.load()).records).toHaveLength(1);
    });
  }

  it('keeps a reply chosen by the body stream', async () => {
    const { spool } = await newSpool(base);
    const tooBig = new SmtpReplyError('ETOO_LARGE', 552, '5.3.4', 'Message too big');
    async function* body(): AsyncGenerator<Buffer> {
      yield MESSAGE;
      throw tooBig;
    }

    await expect(spool.accept(fields(newQueueId()), RECEIVED, body())).rejects.toBe(tooBig);
    expect(await listQueue(spool)).toEqual({ queue: [], tmp: [] });
  });

  it('shares directory fsyncs between concurrent accepts', async () => {
    const order: string[] = [];
    const logOrder = (call: FileSystemCall): boolean => {
      if (call.operation === 'sync') order.push('sync');
      if (call.operation === 'rename' && call.path.endsWith('.eml')) order.push(`commit ${call.path}`);
      return false;
    };
    const fileSystem = faultyFileSystem(logOrder, base);
    const { spool } = await newSpool(fileSystem);
    const ids = Array.from({ length: 20 }, () => newQueueId());

    const resolvedAfter = new Map<string, number>();
    await Promise.all(
      ids.map(async (id) => {
        await spool.accept(fields(id), RECEIVED, [MESSAGE]);
        resolvedAfter.set(id, order.length);
      }),
    );

    const syncs = order.filter((entry) => entry === 'sync').length;
    expect(syncs).toBeGreaterThanOrEqual(1);
    expect(syncs).toBeLessThan(ids.length);
    for (const id of ids) {
      // Some fsync started after this record's rename and before the
      // accept resolved. The fsync started then also finished first,
      // because the accept waits for it.
      const committedAt = order.findIndex((entry) => entry.startsWith('commit') && entry.includes(id));
      const syncAfterCommit = order.indexOf('sync', committedAt);
      expect(syncAfterCommit, `fsync after the commit of ${id}`).toBeGreaterThan(committedAt);
      expect(syncAfterCommit).toBeLessThan(resolvedAfter.get(id) ?? -1);
    }
    expect((await spool.load()).records).toHaveLength(20);
  });
});

describe.each(FILE_SYSTEMS)('Spool.update and remove with %s', (_name, base) => {
  it('rewrites a record atomically', async () => {
    const { spool } = await newSpool(base);
    const id = newQueueId();
    const { record } = await spool.accept(fields(id), RECEIVED, [MESSAGE]);

    await spool.update({ ...record, attempts: 2, lastReply: '451 4.3.0 try later' });

    const stored = JSON.parse(await readFile(spool.jsonPath(id), 'utf8'));
    expect(stored.attempts).toBe(2);
    expect(stored.lastReply).toBe('451 4.3.0 try later');
    expect((await listQueue(spool)).tmp).toEqual([]);
  });

  it('keeps the old record when an update fails', async () => {
    let full = false;
    const { spool } = await newSpool(
      faultyFileSystem((call) => full && call.operation === 'rename', base),
    );
    const id = newQueueId();
    const { record } = await spool.accept(fields(id), RECEIVED, [MESSAGE]);

    await spool.update({ ...record, attempts: 1 });
    full = true;
    await expect(spool.update({ ...record, attempts: 5 })).rejects.toMatchObject({ code: 'ENOSPC' });

    expect(JSON.parse(await readFile(spool.jsonPath(id), 'utf8'))).toEqual({ ...record, attempts: 1 });
    expect((await listQueue(spool)).tmp).toEqual([]);
    expect((await spool.load()).records).toEqual([{ ...record, attempts: 1 }]);
  });

  it('removes the message and its state file', async () => {
    const { spool } = await newSpool(base);
    const updated = newQueueId();
    const { record } = await spool.accept(fields(updated), RECEIVED, [MESSAGE]);
    await spool.update({ ...record, attempts: 1 });
    const fresh = newQueueId();
    await spool.accept(fields(fresh), RECEIVED, [MESSAGE]);
    expect((await listQueue(spool)).queue).toEqual([`${updated}.eml`, `${updated}.json`, `${fresh}.eml`].sort());

    await spool.remove(updated);
    await spool.remove(fresh);

    expect(await listQueue(spool)).toEqual({ queue: [], tmp: [] });
  });

  it('prefers the state file to the accepted record', async () => {
    const { spool } = await newSpool(base);
    const id = newQueueId();
    const { record } = await spool.accept(fields(id), RECEIVED, [MESSAGE]);

    await spool.update({ ...record, attempts: 3, state: 'held' });

    expect((await spool.load()).records).toEqual([{ ...record, attempts: 3, state: 'held' }]);
  });
});

describe('Spool.load', () => {
  it('empties tmp/ at start-up', async () => {
    const { dataDir, spool } = await newSpool();
    await writeFile(join(spool.tmpDir, 'ABC0000000000.eml'), 'never got a 250');

    await new Spool({ dataDir }).init();

    expect(await readdir(spool.tmpDir)).toEqual([]);
  });

  it('moves damaged records to corrupt/', async () => {
    const { spool, dataDir } = await newSpool();
    const accepted = [];
    for (let index = 0; index < 6; index += 1) {
      const { record } = await spool.accept(fields(newQueueId(Date.now() + index)), RECEIVED, [MESSAGE]);
      accepted.push(record);
    }
    const [garbage, invalid, renamed, truncated, footless, good] = accepted.map((record) => record.id) as [
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    // State files (.json) that are damaged, or that no longer fit their message.
    await writeFile(spool.jsonPath(garbage), 'not json at all');
    await writeFile(spool.jsonPath(invalid), JSON.stringify({ ...accepted[1], state: 'lost' }));
    await writeFile(spool.jsonPath(renamed), JSON.stringify({ ...accepted[2], id: 'OTHER000000000' }));
    await writeFile(spool.jsonPath(truncated), JSON.stringify(accepted[3]));
    await writeFile(spool.emlPath(truncated), 'Subject: cut');
    // A message file whose end, with the record, is gone.
    const eml = await readFile(spool.emlPath(footless));
    await writeFile(spool.emlPath(footless), eml.subarray(0, eml.length - 5));
    // A state file without its message is a removal that was cut short.
    await writeFile(spool.jsonPath('ORPHAN00000000'), JSON.stringify(accepted[5]));

    const loaded = await spool.load();

    expect(loaded.records.map((record) => record.id)).toEqual([good]);
    const reasons = Object.fromEntries(loaded.corrupt.map((item) => [item.id, item.reason]));
    expect(Object.keys(reasons).sort()).toEqual([garbage, invalid, renamed, truncated, footless].sort());
    expect(reasons[garbage]).toMatch(/^unreadable record/);
    expect(reasons[invalid]).toMatch(/^invalid record: state/);
    expect(reasons[renamed]).toMatch(/does not match its file name/);
    expect(reasons[truncated]).toMatch(/message file is 12 bytes/);
    expect(reasons[footless]).toMatch(/^unreadable record: no record footer/);
    expect(loaded.orphans).toEqual(['ORPHAN00000000']);

    expect((await listQueue(spool)).queue).toEqual([`${good}.eml`]);
    const corrupt = (await readdir(join(dataDir, 'corrupt'))).sort();
    expect(corrupt).toEqual(
      [
        `${garbage}.eml`,
        `${garbage}.json`,
        `${invalid}.eml`,
        `${invalid}.json`,
        `${renamed}.eml`,
        `${renamed}.json`,
        `${truncated}.eml`,
        `${truncated}.json`,
        `${footless}.eml`,
      ].sort(),
    );
  });

  it('returns records oldest first', async () => {
    const { spool } = await newSpool();
    const later = newQueueId(2_000_000_000_000);
    const earlier = newQueueId(1_000_000_000_000);
    await spool.accept(fields(later, 2_000_000_000_000), RECEIVED, [MESSAGE]);
    await spool.accept(fields(earlier, 1_000_000_000_000), RECEIVED, [MESSAGE]);

    expect((await spool.load()).records.map((record) => record.id)).toEqual([earlier, later]);
  });
});

describe('queue ids and subjects', () => {
  it('makes ids that sort by time', () => {
    const ids = [1, 1_000, 1_700_000_000_000, 4_000_000_000_000].map((time) => newQueueId(time));
    expect([...ids].sort()).toEqual(ids);
    for (const id of ids) expect(id).toMatch(/^[0-9A-Z]{9}[0-9A-F]{10}$/);
  });

  it('reads a folded subject', () => {
    expect(readSubject(Buffer.from('From: a\r\nSubject: one\r\n\ttwo\r\n\r\nSubject: body'))).toBe('one\ttwo');
    expect(readSubject(Buffer.from('From: a\nsubject:  lower case\n\n'))).toBe('lower case');
    expect(readSubject(Buffer.from('From: a\r\n\r\nSubject: only in the body\r\n'))).toBe('');
  });
});
