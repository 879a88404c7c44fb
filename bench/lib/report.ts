/** Renders a run's results as Markdown tables, the form docs/benchmarks.md uses. */
import type { MachineInfo } from './machine.ts';
import type { LoadSample, Target } from './context.ts';
import type { ThroughputResult, ThroughputScenario } from '../scenarios/throughput.ts';
import type { BigQueueResult, PageTiming } from '../scenarios/big-queue.ts';
import type { IdleResult } from '../scenarios/idle.ts';
import { round } from './stats.ts';

export interface RunReport {
  readonly date: string;
  readonly command: string;
  readonly revision: string;
  /** The checkout measured, when --relay-root named another one. */
  readonly relayRoot: string | null;
  readonly machine: MachineInfo;
  readonly quick: boolean;
  readonly loadThreshold: number;
  readonly waitBudgetLeftMs: number;
  readonly durationSeconds: number;
  readonly systemPostfixUnchanged: boolean | null;
  readonly throughput: ThroughputScenario[];
  readonly bigQueue: BigQueueResult | null;
  readonly idle: IdleResult[] | null;
  readonly errors: string[];
}

function load(sample: LoadSample | undefined): string {
  if (!sample) return '';
  return sample.loadAverage.map((value) => value.toFixed(2)).join(' ');
}

function ratio(ours: number | undefined, theirs: number | undefined): string {
  if (ours === undefined || theirs === undefined || !Number.isFinite(ours) || !theirs) return '';
  return `${round(ours / theirs, 2)}×`;
}

function mb(kb: number): string {
  return `${round(kb / 1024)} MB`;
}

function throughputTable(scenario: ThroughputScenario): string[] {
  const by = (target: Target): ThroughputResult | undefined => scenario.results.find((r) => r.target === target);
  const relay = by('relay');
  const postfix = by('postfix');
  const direct = by('direct');
  const row = (name: string, pick: (result: ThroughputResult) => number): string => {
    const cells = [relay, postfix, direct].map((result) => (result ? String(round(pick(result))) : ''));
    const ours = relay ? pick(relay) : undefined;
    return `| ${name} | ${cells.join(' | ')} | ${ratio(ours, postfix && pick(postfix))} | ${ratio(ours, direct && pick(direct))} |`;
  };
  const loadRow = (name: string, pick: (result: ThroughputResult) => LoadSample): string =>
    `| ${name} | ${[relay, postfix, direct].map((result) => (result ? load(pick(result)) : '')).join(' | ')} | | |`;

  const title = scenario.reuse
    ? 'Scenario 2: 10 senders, reused connections (smtp-source -d)'
    : 'Scenario 1: 10 senders, one connection per message';
  const messages = scenario.results[0]?.messages ?? 0;
  const samples = scenario.results[0]?.latency.samples ?? 0;
  const lines = [
    `### ${title}`,
    '',
    `${messages} messages of 1 KB for the rates; ${samples} timed messages from 10 senders for the latencies, then ${scenario.results[0]?.oneSender.samples ?? 0} from one sender.`,
    '',
    '| figure | relay | Postfix | direct | relay ÷ Postfix | relay ÷ direct |',
    '| --- | --- | --- | --- | --- | --- |',
    row('accept rate (messages/s)', (r) => r.acceptPerSecond),
    row('end-to-end rate (messages/s)', (r) => r.endToEndPerSecond),
    row('accept latency p50 (ms)', (r) => r.latency.acceptP50Ms),
    row('accept latency p99 (ms)', (r) => r.latency.acceptP99Ms),
    row('message latency p50 (ms)', (r) => r.latency.messageP50Ms),
    row('message latency p99 (ms)', (r) => r.latency.messageP99Ms),
    row('accept latency p50, one sender (ms)', (r) => r.oneSender.acceptP50Ms),
    row('accept latency p99, one sender (ms)', (r) => r.oneSender.acceptP99Ms),
    row('machine CPU per message, all processes (ms)', (r) => r.machineCpuMsPerMessage),
    loadRow('load average at start, rate pass', (r) => r.rateLoad),
    loadRow('load average at start, latency pass', (r) => r.latencyLoad),
    '',
  ];
  for (const result of scenario.results) {
    for (const summary of [result.latency, result.oneSender]) {
      if (summary.failures === 0) continue;
      lines.push(`${result.target}: ${summary.failures} timed messages failed, first: ${summary.firstFailure}`, '');
    }
  }
  if (relay?.memory && relay.cpuMsPerMessage !== null) {
    lines.push(
      `Relay: ${round(relay.cpuMsPerMessage)} ms of CPU per message in the rate pass; ` +
        `VmRSS ${mb(relay.memory.rssKb)}, VmHWM ${mb(relay.memory.hwmKb)} after the runs.`,
      '',
    );
  }
  if (relay) lines.push(`Load command: \`${relay.command}\``, '');
  return lines;
}

function page(timing: PageTiming): string {
  return `${round(timing.firstMs)} ms first, ${round(timing.medianMs)} ms median of the next 5`;
}

function bigQueueTable(result: BigQueueResult): string[] {
  return [
    `### Scenario 3: ${result.messages} messages queued without a smart host`,
    '',
    '| figure | value | load average at start |',
    '| --- | --- | --- |',
    `| loading: accept rate over 10 reused connections | ${round(result.load.perSecond)} messages/s | ${load(result.loadLoad)} |`,
    `| memory with the queue loaded | VmRSS ${mb(result.queuedMemory.rssKb)}, VmHWM ${mb(result.queuedMemory.hwmKb)} | |`,
    `| data folder on disk | ${mb(result.disk.allocatedKb)} allocated, ${mb(result.disk.apparentBytes / 1024)} in ${result.disk.files} files | |`,
    `| first queue page (50) via GET /api/queue | ${page(result.queuedPage)} | |`,
    `| stop (SIGTERM to exit) | ${round(result.stopMs)} ms | |`,
    `| restart: spawn to STARTED line | ${round(result.restart.startedMs)} ms | ${load(result.restartLoad)} |`,
    `| restart: spawn to first SMTP greeting | ${round(result.restart.greetingMs)} ms | |`,
    `| memory after the restart | VmRSS ${mb(result.restart.memory.rssKb)}, VmHWM ${mb(result.restart.memory.hwmKb)} | |`,
    `| first queue page after the restart | ${page(result.restartPage)} | |`,
    `| drain once the smart host is set | ${round(result.drain.seconds)} s, ${round(result.drain.perSecond)} messages/s | ${load(result.drainLoad)} |`,
    `| memory after the drain | VmRSS ${mb(result.drain.memory.rssKb)}, VmHWM ${mb(result.drain.memory.hwmKb)} | |`,
    '',
    `Relay command: \`${result.command}\``,
    '',
  ];
}

function idleTable(results: IdleResult[]): string[] {
  const lines = [
    `### Scenario 4: idle with ${results[0]?.messages ?? 0} paused messages`,
    '',
    '| case | CPU seconds per minute | window | VmRSS | load average at start |',
    '| --- | --- | --- | --- | --- |',
  ];
  for (const result of results) {
    lines.push(
      `| ${result.case} | ${round(result.cpuSecondsPerMinute)} | ${result.windowSeconds} s | ${mb(result.memory.rssKb)} | ${load(result.load)} |`,
    );
  }
  lines.push('');
  return lines;
}

export function renderReport(report: RunReport): string {
  const { machine } = report;
  const lines = [
    `## Run of ${report.date}${report.quick ? ' (quick mode)' : ''}`,
    '',
    `- Command: \`${report.command}\` (${round(report.durationSeconds / 60)} minutes)`,
    `- Revision: ${report.revision}`,
    ...(report.relayRoot ? [`- Relay measured from: ${report.relayRoot}`] : []),
    `- Machine: ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memoryGb} GB RAM, Linux ${machine.kernel}, Node ${machine.node}, Postfix ${machine.postfix}`,
    `- Load average (1, 5, 15 min) is shown at the start of each measurement; the run waited for the 1-minute figure to drop below ${report.loadThreshold}, with ${round(report.waitBudgetLeftMs / 60_000)} minutes of its waiting budget left at the end.`,
  ];
  if (report.systemPostfixUnchanged !== null) {
    lines.push(`- /etc/postfix ${report.systemPostfixUnchanged ? 'unchanged' : 'CHANGED during the run'} (hash of paths, modes, sizes, times and contents).`);
  }
  lines.push('');
  for (const scenario of report.throughput) lines.push(...throughputTable(scenario));
  if (report.bigQueue) lines.push(...bigQueueTable(report.bigQueue));
  if (report.idle) lines.push(...idleTable(report.idle));
  for (const error of report.errors) lines.push(`**Failed:** ${error}`, '');
  return lines.join('\n');
}
