/**
 * Scenarios 1 and 2: 10 senders push 1 KB messages through a relay into
 * smtp-sink, one connection per message (1) or over reused connections
 * (2). The same load goes through the relay, through Postfix, and
 * straight from smtp-source to smtp-sink.
 *
 * For each target, two measured passes:
 *   rate     smtp-source sends all messages. The accept rate is messages
 *            ÷ time until smtp-source exits, the end-to-end rate messages
 *            ÷ time until the sink has counted them all.
 *   latency  The timed client (timed-client.ts) sends fewer messages with
 *            the same concurrency and times each one. Right after, one
 *            sender alone sends ONE_SENDER_MESSAGES, timed the same way,
 *            the way a single device sends, waiting for each reply.
 */
import path from 'node:path';
import type { BenchContext, LoadSample, Target } from '../lib/context.ts';
import type { LoadShape } from '../lib/smtp-source.ts';
import { runSmtpSource } from '../lib/smtp-source.ts';
import { runTimedClient } from '../lib/timed-client.ts';
import { RelayProcess } from '../lib/relay-process.ts';
import { readCpuSeconds, readMachineBusySeconds, readMemory } from '../lib/machine.ts';
import type { MemoryUse } from '../lib/machine.ts';
import { percentile } from '../lib/stats.ts';

/** The relay's limits for these scenarios: high enough not to be the bottleneck. */
export const HIGH_LIMIT_ARGS = ['--max-connections', '20', '--max-messages-per-connection', '1000'];
const SESSIONS = 10;
const ONE_SENDER_MESSAGES = 500;
const BODY_BYTES = 1024;
// The slowest rate that still passes: a run below 5 messages/s has failed.
const MIN_RATE_PER_SECOND = 5;

export interface LatencySummary {
  readonly samples: number;
  readonly failures: number;
  readonly firstFailure: string | null;
  /** DATA command to the reply to the final dot, in ms. */
  readonly acceptP50Ms: number;
  readonly acceptP99Ms: number;
  /** Start of the message (connect, or MAIL when reused) to that reply, in ms. */
  readonly messageP50Ms: number;
  readonly messageP99Ms: number;
}

export interface ThroughputResult {
  readonly target: Target;
  readonly messages: number;
  readonly acceptSeconds: number;
  readonly endToEndSeconds: number;
  readonly acceptPerSecond: number;
  readonly endToEndPerSecond: number;
  readonly rateLoad: LoadSample;
  readonly latency: LatencySummary;
  /** The same for one sender alone. */
  readonly oneSender: LatencySummary;
  readonly latencyLoad: LoadSample;
  readonly command: string;
  /** The relay's memory after both passes (relay target only). */
  readonly memory: MemoryUse | null;
  /**
   * CPU time (user + system) the relay process used in the rate pass, per
   * message, in ms (relay target only). It varies less than the rates when
   * other work shares the machine.
   */
  readonly cpuMsPerMessage: number | null;
  /**
   * CPU time of every process on the machine in the rate pass, per
   * message, in ms: the target, smtp-source, smtp-sink, this benchmark,
   * and whatever else runs, which is why it waits for a quiet machine.
   */
  readonly machineCpuMsPerMessage: number;
}

export interface ThroughputScenario {
  readonly scenario: 1 | 2;
  readonly reuse: boolean;
  readonly results: ThroughputResult[];
}

function timeoutFor(messages: number): number {
  return 60_000 + (messages / MIN_RATE_PER_SECOND) * 1000;
}

/** Runs scenario 1 (reuse false) or 2 (reuse true) against every target. */
export async function runThroughput(context: BenchContext, reuse: boolean): Promise<ThroughputScenario> {
  const scenario = reuse ? 2 : 1;
  const messages = context.quick ? 1000 : 10_000;
  const latencyMessages = context.quick ? 300 : 2000;
  const results: ThroughputResult[] = [];

  for (const target of context.targets) {
    context.log(`scenario ${scenario}: ${target}, ${messages} messages${reuse ? ' over reused connections' : ''}`);
    const relay = target === 'relay' ? await startRelay(context, scenario) : null;
    try {
      const port = portOf(context, target, relay);
      const cpuBefore = relay ? readCpuSeconds(relay.pid) : 0;
      const rate = await measureRate(context, { sessions: SESSIONS, messages, bodyBytes: BODY_BYTES, reuse }, port);
      const cpuMsPerMessage = relay ? ((readCpuSeconds(relay.pid) - cpuBefore) * 1000) / messages : null;
      const latency = await measureLatency(
        context,
        { sessions: SESSIONS, messages: latencyMessages, bodyBytes: BODY_BYTES, reuse },
        port,
      );
      const memory = relay ? readMemory(relay.pid) : null;
      results.push({ target, messages, ...rate, ...latency, memory, cpuMsPerMessage, command: rate.command });
      context.log(
        `  accept ${rate.acceptPerSecond.toFixed(0)}/s, end-to-end ${rate.endToEndPerSecond.toFixed(0)}/s, ` +
          `accept p50 ${latency.latency.acceptP50Ms.toFixed(1)} ms, p99 ${latency.latency.acceptP99Ms.toFixed(1)} ms`,
      );
    } finally {
      await relay?.stop();
    }
  }
  return { scenario, reuse, results };
}

async function startRelay(context: BenchContext, scenario: number): Promise<RelayProcess> {
  return RelayProcess.start(context.run, {
    root: context.relayRoot,
    dataDir: path.join(context.run.path, `relay-scenario-${scenario}`),
    args: ['--smarthost', `127.0.0.1:${context.sink.port}`, '--security', 'none', ...HIGH_LIMIT_ARGS],
  });
}

function portOf(context: BenchContext, target: Target, relay: RelayProcess | null): number {
  if (target === 'relay' && relay) return relay.port;
  if (target === 'postfix' && context.postfix) return context.postfix.port;
  return context.sink.port;
}

async function measureRate(context: BenchContext, load: LoadShape, port: number) {
  const rateLoad = await context.quiet();
  const baseline = context.sink.messages;
  const timeoutMs = timeoutFor(load.messages);
  const busyBefore = readMachineBusySeconds();
  const source = await runSmtpSource(context.run, load, port, timeoutMs);
  const deliveredAt = await context.sink.waitForCount(baseline + load.messages, timeoutMs);
  const machineCpuMsPerMessage = ((readMachineBusySeconds() - busyBefore) * 1000) / load.messages;

  const acceptSeconds = (source.endedAt - source.startedAt) / 1000;
  const endToEndSeconds = (Math.max(deliveredAt, source.endedAt) - source.startedAt) / 1000;
  return {
    acceptSeconds,
    endToEndSeconds,
    acceptPerSecond: load.messages / acceptSeconds,
    endToEndPerSecond: load.messages / endToEndSeconds,
    rateLoad,
    machineCpuMsPerMessage,
    command: source.command,
  };
}

async function measureLatency(context: BenchContext, load: LoadShape, port: number) {
  const latencyLoad = await context.quiet();
  const latency = await timeMessages(context, load, port);
  const oneSender = await timeMessages(context, { ...load, sessions: 1, messages: ONE_SENDER_MESSAGES }, port);
  return { latency, oneSender, latencyLoad };
}

async function timeMessages(context: BenchContext, load: LoadShape, port: number): Promise<LatencySummary> {
  const baseline = context.sink.messages;
  const run = await runTimedClient(load, port);
  // Wait for delivery, so that the next measurement starts on an empty queue.
  await context.sink.waitForCount(baseline + run.timings.length, timeoutFor(load.messages));

  const accept = run.timings.map((timing) => timing.acceptMs);
  const message = run.timings.map((timing) => timing.messageMs);
  return {
    samples: run.timings.length,
    failures: run.failures.length,
    firstFailure: run.failures[0] ?? null,
    acceptP50Ms: percentile(accept, 50),
    acceptP99Ms: percentile(accept, 99),
    messageP50Ms: percentile(message, 50),
    messageP99Ms: percentile(message, 99),
  };
}
