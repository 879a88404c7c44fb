/**
 * Scenario 3: a large queue builds up while no smart host is configured,
 * so the relay accepts and holds the mail. Then the relay restarts, and
 * then the smart host comes back. The steps:
 *   load      smtp-source sends the messages over 10 reused connections.
 *   queued    The relay's memory (VmRSS, VmHWM), the data folder's disk
 *             use, and the time of the queue's first page (50 items)
 *             through the web console's API (GET /api/queue).
 *   restart   SIGTERM, then a new serve on the same data folder. The
 *             time from spawn to its STARTED line and to its first SMTP
 *             greeting, its memory once started, and the first page again.
 *   drain     The smart host is set through the API (POST /api/settings).
 *             The time until the sink has every message.
 */
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BenchContext, LoadSample } from '../lib/context.ts';
import { runSmtpSource } from '../lib/smtp-source.ts';
import { RelayProcess } from '../lib/relay-process.ts';
import { readDiskUse, readMemory } from '../lib/machine.ts';
import type { DiskUse, MemoryUse } from '../lib/machine.ts';
import type { RelayApi } from '../../core/api/definition.ts';
import { median } from '../lib/stats.ts';
import { HIGH_LIMIT_ARGS } from './throughput.ts';

const PAGE_SIZE = 50;
const PAGE_REPEATS = 5;
const QUEUE_COUNT_TIMEOUT_MS = 120_000;
// The slowest drain that still passes, in messages per second.
const MIN_DRAIN_RATE_PER_SECOND = 5;

export interface PageTiming {
  /** First call after the relay started or loaded, in ms. */
  readonly firstMs: number;
  /** Median of the next PAGE_REPEATS calls, in ms. */
  readonly medianMs: number;
}

export interface BigQueueResult {
  readonly messages: number;
  readonly load: { readonly seconds: number; readonly perSecond: number; readonly command: string };
  readonly loadLoad: LoadSample;
  readonly queuedMemory: MemoryUse;
  readonly disk: DiskUse;
  readonly queuedPage: PageTiming;
  readonly stopMs: number;
  readonly restart: { readonly startedMs: number; readonly greetingMs: number; readonly memory: MemoryUse };
  readonly restartLoad: LoadSample;
  readonly restartPage: PageTiming;
  readonly drain: { readonly seconds: number; readonly perSecond: number; readonly memory: MemoryUse };
  readonly drainLoad: LoadSample;
  readonly command: string;
}

export async function runBigQueue(context: BenchContext): Promise<BigQueueResult> {
  const messages = context.quick ? 10_000 : 100_000;
  const dataDir = path.join(context.run.path, 'relay-scenario-3');
  const args = [...HIGH_LIMIT_ARGS];
  context.log(`scenario 3: ${messages} messages queued without a smart host`);

  const first = await RelayProcess.start(context.run, { root: context.relayRoot, dataDir, args, admin: true });
  let loaded;
  try {
    loaded = await loadQueue(context, first, messages);
  } catch (error) {
    await first.stop().catch(() => undefined);
    throw error;
  }
  const stopMs = await first.stop();
  context.log(`  loaded at ${loaded.load.perSecond.toFixed(0)}/s, ${(loaded.disk.allocatedKb / 1024).toFixed(0)} MB on disk`);

  const restartLoad = await context.quiet();
  const second = await RelayProcess.start(context.run, { root: context.relayRoot, dataDir, args, admin: true });
  try {
    const restart = { startedMs: second.startedMs, greetingMs: second.greetingMs, memory: readMemory(second.pid) };
    const restartPage = await timeFirstPage(second.api());
    context.log(`  restart: STARTED after ${restart.startedMs.toFixed(0)} ms, greeting after ${restart.greetingMs.toFixed(0)} ms`);

    const drainLoad = await context.quiet();
    const drain = await drainQueue(context, second, messages);
    context.log(`  drained at ${drain.perSecond.toFixed(0)}/s`);
    return {
      messages,
      ...loaded,
      stopMs,
      restart,
      restartLoad,
      restartPage,
      drain,
      drainLoad,
      command: second.command,
    };
  } finally {
    await second.stop();
  }
}

async function loadQueue(context: BenchContext, relay: RelayProcess, messages: number) {
  const loadLoad = await context.quiet();
  const shape = { sessions: 10, messages, bodyBytes: 1024, reuse: true };
  const source = await runSmtpSource(context.run, shape, relay.port, 60_000 + messages * 200);
  const seconds = (source.endedAt - source.startedAt) / 1000;
  await waitForQueueTotal(relay.api(), messages);

  const queuedMemory = readMemory(relay.pid);
  const disk = readDiskUse(path.join(context.run.path, 'relay-scenario-3'));
  const queuedPage = await timeFirstPage(relay.api());
  return {
    load: { seconds, perSecond: messages / seconds, command: source.command },
    loadLoad,
    queuedMemory,
    disk,
    queuedPage,
  };
}

async function waitForQueueTotal(api: RelayApi, total: number): Promise<void> {
  const deadline = Date.now() + QUEUE_COUNT_TIMEOUT_MS;
  for (;;) {
    const status = (await api.getStatus({}));
    if (status.queue.total >= total) return;
    if (Date.now() > deadline) throw new Error(`The relay queued ${status.queue.total} messages, not ${total}`);
    await sleep(200);
  }
}

/** Times GET /api/queue?offset=0&limit=50, once and then PAGE_REPEATS times. */
async function timeFirstPage(api: RelayApi): Promise<PageTiming> {
  const timeOnce = async (): Promise<number> => {
    const start = performance.now();
    const page = await api.listQueue({ offset: 0, limit: PAGE_SIZE });
    const elapsed = performance.now() - start;
    if (page.items.length !== PAGE_SIZE) throw new Error(`The first queue page had ${page.items.length} items`);
    return elapsed;
  };
  const firstMs = await timeOnce();
  const repeats: number[] = [];
  for (let index = 0; index < PAGE_REPEATS; index += 1) repeats.push(await timeOnce());
  return { firstMs, medianMs: median(repeats) };
}

async function drainQueue(context: BenchContext, relay: RelayProcess, messages: number) {
  const baseline = context.sink.messages;
  const start = performance.now();
  await relay.api().updateSettings({
    settings: { smarthost: { host: '127.0.0.1', port: context.sink.port }, security: 'none' },
  });
  const doneAt = await context.sink.waitForCount(
    baseline + messages,
    60_000 + (messages / MIN_DRAIN_RATE_PER_SECOND) * 1000,
  );
  const seconds = (doneAt - start) / 1000;
  return { seconds, perSecond: messages / seconds, memory: readMemory(relay.pid) };
}
