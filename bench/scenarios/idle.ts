/**
 * Scenario 4: an idle relay with paused mail in its queue. The figure is
 * the CPU time (utime + stime from /proc/<pid>/stat) it uses over a
 * window, scaled to seconds per minute. There are two cases:
 *   no-smarthost  No smart host is configured, so the relay holds the mail.
 *   paused        A smart host is configured, and sending is paused
 *                 through the API (POST /api/pause) before the load.
 */
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BenchContext, LoadSample } from '../lib/context.ts';
import { runSmtpSource } from '../lib/smtp-source.ts';
import { RelayProcess } from '../lib/relay-process.ts';
import { readCpuSeconds, readMemory } from '../lib/machine.ts';
import type { MemoryUse } from '../lib/machine.ts';

// Time for the relay to settle after the load (GC, log writes) before the window.
const SETTLE_MS = 5000;

export type IdleCase = 'no-smarthost' | 'paused';

export interface IdleResult {
  readonly case: IdleCase;
  readonly messages: number;
  readonly windowSeconds: number;
  readonly cpuSecondsPerMinute: number;
  readonly memory: MemoryUse;
  readonly load: LoadSample;
  readonly command: string;
}

export async function runIdle(context: BenchContext): Promise<IdleResult[]> {
  const results: IdleResult[] = [];
  for (const idleCase of ['no-smarthost', 'paused'] as const) results.push(await runIdleCase(context, idleCase));
  return results;
}

async function runIdleCase(context: BenchContext, idleCase: IdleCase): Promise<IdleResult> {
  const messages = context.quick ? 2000 : 10_000;
  const windowSeconds = context.quick ? 15 : 60;
  context.log(`scenario 4: ${messages} paused messages (${idleCase}), ${windowSeconds} s window`);
  const smarthost = idleCase === 'paused' ? ['--smarthost', `127.0.0.1:${context.sink.port}`, '--security', 'none'] : [];
  const relay = await RelayProcess.start(context.run, {
    root: context.relayRoot,
    dataDir: path.join(context.run.path, `relay-scenario-4-${idleCase}`),
    args: smarthost,
    admin: true,
  });
  try {
    const api = relay.api();
    if (idleCase === 'paused') await api.pauseSending({});
    const baseline = context.sink.messages;
    const shape = { sessions: 10, messages, bodyBytes: 1024, reuse: true };
    await runSmtpSource(context.run, shape, relay.port, 60_000 + messages * 200);
    const queued = (await api.getStatus({})).queue.total;
    if (queued !== messages) throw new Error(`The relay has ${queued} messages queued, expected ${messages}`);
    await sleep(SETTLE_MS);

    const load = await context.quiet();
    const before = readCpuSeconds(relay.pid);
    await sleep(windowSeconds * 1000);
    const used = readCpuSeconds(relay.pid) - before;
    if (context.sink.messages !== baseline) throw new Error('The paused relay sent mail to the sink');
    const result: IdleResult = {
      case: idleCase,
      messages,
      windowSeconds,
      cpuSecondsPerMinute: (used / windowSeconds) * 60,
      memory: readMemory(relay.pid),
      load,
      command: relay.command,
    };
    context.log(`  ${result.cpuSecondsPerMinute.toFixed(3)} CPU s per minute`);
    return result;
  } finally {
    await relay.stop();
  }
}
