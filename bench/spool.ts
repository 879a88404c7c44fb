/**
 * Spool benchmark: `npm run bench:spool`. Accepts messages of 1 KB with
 * the relay's own Spool class and prints, for each of its two file
 * systems (spool.ts), the accept rate and the process's CPU time per
 * message. Two cases each: one accept at a time, as a lone device sends,
 * and 10 at a time, as in the relay benchmarks' scenario 1. The spool
 * runs on this process's main thread, as the accept thread runs it.
 *
 * Options: --messages N (default 3000), --dir DIR (default: a folder in
 * the system's temporary directory, which must be on the disk to measure).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { asyncFileSystem, newQueueId, Spool, syncStepFileSystem } from '../core/spool.ts';
import type { NewRecord, SpoolFileSystem } from '../core/spool.ts';

const RECEIVED = Buffer.from('Received: from bench.test ([127.0.0.1])\r\n\tby relay.test; Fri, 4 Dec 2026 21:00:00 +0000\r\n');
const MESSAGE = Buffer.from(`Subject: bench\r\n\r\n${'x'.repeat(1000)}\r\n`);

function fields(id: string): NewRecord {
  const now = Date.now();
  return {
    version: 1,
    id,
    from: 'sender@bench.test',
    recipients: [{ address: 'recipient@bench.test', status: 'pending', reply: null }],
    receivedAt: now,
    client: { address: '127.0.0.1', helo: 'bench.test', user: null },
    dsn: false,
    state: 'queued',
    attempts: 0,
    lastReply: null,
    lastAttemptAt: null,
    nextAttemptAt: now,
  };
}

interface CaseResult {
  readonly fileSystem: string;
  readonly concurrency: number;
  readonly ratePerSecond: number;
  readonly cpuMsPerMessage: number;
}

async function runCase(
  root: string,
  name: string,
  fileSystem: SpoolFileSystem,
  concurrency: number,
  messages: number,
): Promise<CaseResult> {
  const dataDir = fs.mkdtempSync(path.join(root, 'spool-'));
  const spool = new Spool({ dataDir, fileSystem });
  await spool.init();
  let next = 0;
  const sender = async (): Promise<void> => {
    while (next < messages) {
      next += 1;
      await spool.accept(fields(newQueueId()), RECEIVED, [MESSAGE]);
    }
  };

  const startedAt = performance.now();
  const cpuBefore = process.cpuUsage();
  await Promise.all(Array.from({ length: concurrency }, sender));
  const cpu = process.cpuUsage(cpuBefore);
  const elapsedMs = performance.now() - startedAt;

  await spool.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
  return {
    fileSystem: name,
    concurrency,
    ratePerSecond: (messages / elapsedMs) * 1000,
    cpuMsPerMessage: (cpu.user + cpu.system) / 1000 / messages,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { messages: { type: 'string', default: '3000' }, dir: { type: 'string' } },
  });
  const messages = Number(values.messages);
  if (!Number.isInteger(messages) || messages < 1) {
    throw new Error(`--messages must be a whole number of at least 1, not ${values.messages}`);
  }
  const root = values.dir ?? os.tmpdir();

  console.log(`${new Date().toISOString()}, ${messages} accepts of ${RECEIVED.length + MESSAGE.length} bytes per case in ${root}, load ${os.loadavg().map((load) => load.toFixed(2)).join(' ')}`);
  console.log('| file system | accepts at once | accepts/s | CPU ms per accept |');
  console.log('| --- | --- | --- | --- |');
  for (const concurrency of [1, 10]) {
    for (const [name, fileSystem] of [
      ['asyncFileSystem', asyncFileSystem],
      ['syncStepFileSystem', syncStepFileSystem],
    ] as const) {
      const result = await runCase(root, name, fileSystem, concurrency, messages);
      console.log(`| ${result.fileSystem} | ${result.concurrency} | ${result.ratePerSecond.toFixed(0)} | ${result.cpuMsPerMessage.toFixed(3)} |`);
    }
  }
}

main().catch((error: unknown) => {
  console.error(`bench:spool: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
