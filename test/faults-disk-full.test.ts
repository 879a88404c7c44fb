// A full disk under a running `serve`: its data dir is a 4 MB tmpfs that
// the test fills up. A device then gets 452 4.3.1 and nothing half
// written stays behind, the relay keeps running with mail already queued
// (whose state updates now fail too), and once space returns it accepts
// new mail and delivers everything it had accepted.
// Mounting needs root; without it the test is skipped, and the full disk
// is then covered only through the spool's injected file system.
import { spawnSync } from 'node:child_process';
import { open, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { rawSession, SMTP_REPLY_LINE } from './support/clients.ts';
import type { RawStep } from './support/clients.ts';
import { startFakeSmartHost } from './support/fake-smarthost.ts';
import type { FakeSmartHost } from './support/fake-smarthost.ts';
import { killAllServeProcesses } from './support/serve-process.ts';
import { useTempDirs } from './support/tmp.ts';
import { delay, queueFiles, receivedQueueId, startRelay, tmpFiles, waitUntil } from './support/relay-harness.ts';

const createTempDir = useTempDirs();
afterAll(killAllServeProcesses);

const TMPFS_SIZE = '4m';
const FILL_CHUNK_BYTES = 64 * 1024;
// 4 MB in 64 KB chunks is 64 writes; the bound only stops a runaway loop.
const MAX_FILL_CHUNKS = 1_000;

const mounts: string[] = [];
const fakes: FakeSmartHost[] = [];

afterEach(async () => {
  await killAllServeProcesses();
  await Promise.all(fakes.splice(0).map((fake) => fake.stop()));
  for (const dir of mounts.splice(0)) spawnSync('umount', ['-l', dir]);
});

/** Mounts a small tmpfs on a new temp dir; returns null when not permitted. */
async function mountTmpfs(): Promise<string | null> {
  const dir = await createTempDir('tmpfs');
  const result = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_SIZE}`, 'tmpfs', dir], { encoding: 'utf8' });
  if (result.status !== 0) return null;
  mounts.push(dir);
  return dir;
}

/** Writes to `file` until the disk is full, and returns the bytes written. */
async function fillDisk(file: string): Promise<number> {
  const handle = await open(file, 'w');
  const chunk = Buffer.alloc(FILL_CHUNK_BYTES, 0x78);
  let written = 0;
  try {
    for (let index = 0; index < MAX_FILL_CHUNKS; index += 1) {
      try {
        const { bytesWritten } = await handle.write(chunk);
        written += bytesWritten;
        if (bytesWritten < chunk.length) break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
        break;
      }
    }
    // Whatever space is left is smaller than one chunk: take it too.
    for (let size = FILL_CHUNK_BYTES / 2; size >= 1; size = Math.floor(size / 2)) {
      try {
        written += (await handle.write(chunk.subarray(0, size))).bytesWritten;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
      }
    }
  } finally {
    await handle.close();
  }
  return written;
}

function transaction(to: string, body: string): RawStep[] {
  return [
    { send: 'EHLO client.test\r\n', expect: /^250 /m },
    { send: 'MAIL FROM:<device@office.test>\r\n', expect: SMTP_REPLY_LINE },
    { send: `RCPT TO:<${to}>\r\n`, expect: SMTP_REPLY_LINE },
    { send: 'DATA\r\n', expect: SMTP_REPLY_LINE },
    { send: `Subject: ${to}\r\n\r\n${body}\r\n.\r\n`, expect: SMTP_REPLY_LINE },
    { send: 'QUIT\r\n', expect: SMTP_REPLY_LINE },
  ];
}

describe('full disk', () => {
  it('452 4.3.1, nothing partial, then service', async (context) => {
    const dataDir = await mountTmpfs();
    context.skip(dataDir === null, 'mounting a tmpfs is not permitted here (it needs root)');
    if (dataDir === null) return;

    let refusing = true;
    const fake = await startFakeSmartHost({
      onRcptTo: () => (refusing ? { code: 451, message: '4.3.0 Try again later' } : undefined),
    });
    fakes.push(fake);
    const { serve } = await startRelay({ fake, dataDir });
    const address = { host: serve.host, port: serve.port };

    // Accepted before the disk fills, then deferred again and again.
    const before = await rawSession(address.host, address.port, transaction('before@example.test', 'queued first'));
    expect(before.replies[4]).toMatch(/^250 /);
    await serve.waitForEvent('DEFERRED');

    const filler = join(dataDir, 'filler');
    const filled = await fillDisk(filler);
    expect(filled).toBeGreaterThan(1_000_000);

    const lost = await rawSession(address.host, address.port, transaction('full@example.test', 'y'.repeat(100_000)));
    expect(lost.replies[4], lost.transcript).toMatch(/^452 4\.3\.1 /);
    // Meanwhile the queued message keeps being tried, with its record
    // updates failing for want of space.
    await delay(2_000);
    expect(serve.exitCode, serve.stderr).toBeNull();
    const probe = await rawSession(address.host, address.port, [{ send: 'NOOP\r\n', expect: SMTP_REPLY_LINE }, 'QUIT\r\n']);
    expect(probe.replies[0]).toMatch(/^250 /);

    expect(await tmpFiles(dataDir)).toEqual([]);
    const stored = await queueFiles(dataDir);
    expect(stored).toHaveLength(2);
    expect(stored.filter((name) => name.endsWith('.eml'))).toHaveLength(1);

    // Space again, and the smart host accepts.
    await rm(filler);
    refusing = false;
    const after = await rawSession(address.host, address.port, transaction('after@example.test', 'queued last'));
    expect(after.replies[4]).toMatch(/^250 /);

    await fake.waitForMessages(2, 20_000);
    await waitUntil(async () => (await queueFiles(dataDir)).length === 0, 'an empty queue', 20_000);
    const recipients = fake.messages.map((message) => message.to[0]).sort();
    expect(recipients).toEqual(['after@example.test', 'before@example.test']);
    expect(new Set(fake.messages.map((message) => receivedQueueId(message.raw))).size).toBe(2);
    expect(await readdir(join(dataDir, 'corrupt'))).toEqual([]);
    expect(serve.exitCode, serve.stderr).toBeNull();
  });
});
