/**
 * Benchmark runner: `npm run bench -- [SCENARIO...] [options]`. See
 * bench/README.md for the scenarios and what each figure means.
 *
 * Everything runs on 127.0.0.1 in a temporary folder that is removed at
 * the end, with the Postfix instance in it stopped, also after a failure
 * or Ctrl-C. The results are printed as Markdown and saved to
 * bench/results/<date>.md and .json.
 */
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { RunDir, sweepLeftoverRuns } from './lib/run-dir.ts';
import { SmtpSink } from './lib/smtp-sink.ts';
import { PostfixInstance, fingerprintSystemConfig } from './lib/postfix.ts';
import { QuietGate } from './lib/context.ts';
import type { BenchContext, Target } from './lib/context.ts';
import { describeMachine } from './lib/machine.ts';
import { PROJECT_ROOT } from './lib/relay-process.ts';
import { renderReport } from './lib/report.ts';
import type { RunReport } from './lib/report.ts';
import { runThroughput } from './scenarios/throughput.ts';
import type { ThroughputScenario } from './scenarios/throughput.ts';
import { runBigQueue } from './scenarios/big-queue.ts';
import type { BigQueueResult } from './scenarios/big-queue.ts';
import { runIdle } from './scenarios/idle.ts';
import type { IdleResult } from './scenarios/idle.ts';

const ALL_SCENARIOS = [1, 2, 3, 4] as const;
const ALL_TARGETS: readonly Target[] = ['direct', 'postfix', 'relay'];
const DEFAULT_LOAD_THRESHOLD = 1.0;
const DEFAULT_MAX_WAIT_MINUTES = 30;
const RESULTS_DIR = path.join(PROJECT_ROOT, 'bench', 'results');
const REQUIRED_TOOLS = ['smtp-source', 'smtp-sink', 'postfix', 'du', 'getconf'];

const USAGE = `Usage: npm run bench -- [SCENARIO...] [options]

Scenarios (default: all):
  1  10 senders, one connection per message, 10,000 messages of 1 KB
  2  the same over reused connections
  3  100,000 messages queued without a smart host: memory, disk,
     restart, first queue page, drain
  4  idle with 10,000 paused messages: CPU seconds per minute

Options:
  --quick                 smaller counts (1,000 / 10,000 / 2,000) and a
                          15 s idle window, for a check in a few minutes
  --targets LIST          for 1 and 2: comma-separated relay,postfix,direct
                          (default: all three)
  --load-below N          wait before each measurement until the 1-minute
                          load average is below N (default: ${DEFAULT_LOAD_THRESHOLD})
  --max-wait-minutes M    total time to wait for that in one run, then
                          measure anyway (default: ${DEFAULT_MAX_WAIT_MINUTES}; 0: never wait)
  --relay-root DIR        measure the relay of another checkout of this
                          project, e.g. an older revision (default: this one)
  --keep                  keep the temporary folder (logs, queues)
  -h, --help              show this help
`;

interface RunOptions {
  readonly scenarios: number[];
  readonly quick: boolean;
  readonly targets: Target[];
  readonly loadThreshold: number;
  readonly maxWaitMinutes: number;
  readonly keep: boolean;
  readonly relayRoot: string;
}

function parseOptions(argv: string[]): RunOptions | null {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      quick: { type: 'boolean', default: false },
      targets: { type: 'string', default: ALL_TARGETS.join(',') },
      'load-below': { type: 'string', default: String(DEFAULT_LOAD_THRESHOLD) },
      'max-wait-minutes': { type: 'string', default: String(DEFAULT_MAX_WAIT_MINUTES) },
      keep: { type: 'boolean', default: false },
      'relay-root': { type: 'string', default: PROJECT_ROOT },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return null;

  const scenarios = positionals.length === 0 ? [...ALL_SCENARIOS] : positionals.map(Number);
  for (const [index, scenario] of scenarios.entries()) {
    if (!(ALL_SCENARIOS as readonly number[]).includes(scenario)) {
      throw new Error(`Invalid scenario "${positionals[index]}". Expected one of ${ALL_SCENARIOS.join(', ')}.`);
    }
  }
  const targets = values.targets.split(',').map((name) => name.trim()) as Target[];
  for (const target of targets) {
    if (!ALL_TARGETS.includes(target)) {
      throw new Error(`Invalid target "${target}" in --targets. Expected relay, postfix or direct.`);
    }
  }
  const loadThreshold = Number(values['load-below']);
  const maxWaitMinutes = Number(values['max-wait-minutes']);
  if (!(loadThreshold > 0)) throw new Error(`Invalid --load-below "${values['load-below']}". Expected a number above 0.`);
  if (!(maxWaitMinutes >= 0)) {
    throw new Error(`Invalid --max-wait-minutes "${values['max-wait-minutes']}". Expected 0 or more minutes.`);
  }
  const relayRoot = path.resolve(values['relay-root']);
  if (!fs.existsSync(path.join(relayRoot, 'core', 'cli', 'serve.ts'))) {
    throw new Error(`Invalid --relay-root "${relayRoot}": it has no core/cli/serve.ts.`);
  }
  return { scenarios, quick: values.quick, targets, loadThreshold, maxWaitMinutes, keep: values.keep, relayRoot };
}

function checkTools(): void {
  const missing = REQUIRED_TOOLS.filter((tool) => {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore', env: withSbin() });
      return false;
    } catch {
      return true;
    }
  });
  if (process.platform !== 'linux') throw new Error('The benchmarks read /proc and run only on Linux.');
  if (missing.length > 0) {
    throw new Error(`Missing tools: ${missing.join(', ')}. On Debian or Ubuntu: sudo apt-get install postfix`);
  }
}

/** PATH with /usr/sbin, where Debian installs smtp-source, smtp-sink and postfix. */
function withSbin(): NodeJS.ProcessEnv {
  const entries = (process.env.PATH ?? '').split(':');
  const extra = ['/usr/sbin', '/sbin'].filter((dir) => !entries.includes(dir));
  return { ...process.env, PATH: [...entries, ...extra].join(':') };
}

/** Returns the checkout's commit, read without changing anything in .git. */
function revision(root: string): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['--no-optional-locks', 'status', '--porcelain'], {
      cwd: root,
      encoding: 'utf8',
    }).trim();
    return dirty ? `${head} with uncommitted changes` : head;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

function log(line: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  if (options === null) {
    process.stdout.write(USAGE);
    return 0;
  }
  process.env.PATH = withSbin().PATH;
  checkTools();
  for (const dir of sweepLeftoverRuns()) log(`removed the leftovers of an interrupted run: ${dir}`);

  const started = performance.now();
  const date = new Date().toISOString();
  const run = RunDir.create();
  process.once('exit', () => run.closeSync(options.keep));
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping the benchmark and cleaning up`);
      process.exit(130);
    });
  }
  log(`run folder ${run.path}`);

  const needsPostfix = options.targets.includes('postfix') && options.scenarios.some((scenario) => scenario <= 2);
  if (needsPostfix && process.getuid?.() !== 0) {
    throw new Error('The Postfix comparison needs root, because `postfix start` does. Run as root, or leave it out with --targets relay,direct.');
  }
  const fingerprintBefore = needsPostfix ? fingerprintSystemConfig() : null;
  const sink = await SmtpSink.start(run);
  const postfix = needsPostfix ? await PostfixInstance.start(run, sink.port) : null;
  const gate = new QuietGate(options.loadThreshold, options.maxWaitMinutes * 60_000);
  const context: BenchContext = {
    run,
    sink,
    postfix,
    quick: options.quick,
    targets: ALL_TARGETS.filter((target) => options.targets.includes(target)),
    relayRoot: options.relayRoot,
    quiet: () => gate.wait(log),
    log,
  };

  const throughput: ThroughputScenario[] = [];
  let bigQueue: BigQueueResult | null = null;
  let idle: IdleResult[] | null = null;
  const errors: string[] = [];
  for (const scenario of options.scenarios) {
    try {
      if (scenario === 1 || scenario === 2) throughput.push(await runThroughput(context, scenario === 2));
      if (scenario === 3) bigQueue = await runBigQueue(context);
      if (scenario === 4) idle = await runIdle(context);
    } catch (error) {
      log(`scenario ${scenario} failed: ${(error as Error).stack ?? String(error)}`);
      errors.push(`scenario ${scenario}: ${(error as Error).message}`);
    }
  }

  postfix?.stopSync();
  sink.stop();
  const report: RunReport = {
    date,
    command: ['npm run bench --', ...process.argv.slice(2)].join(' '),
    revision: revision(PROJECT_ROOT),
    relayRoot: options.relayRoot === PROJECT_ROOT ? null : `${options.relayRoot} (${revision(options.relayRoot)})`,
    machine: describeMachine(),
    quick: options.quick,
    loadThreshold: options.loadThreshold,
    waitBudgetLeftMs: gate.budgetLeftMs,
    durationSeconds: (performance.now() - started) / 1000,
    systemPostfixUnchanged: fingerprintBefore === null ? null : fingerprintBefore === fingerprintSystemConfig(),
    throughput,
    bigQueue,
    idle,
    errors,
  };
  const markdown = renderReport(report);
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const name = date.replace(/[:.]/g, '-');
  fs.writeFileSync(path.join(RESULTS_DIR, `${name}.md`), markdown);
  fs.writeFileSync(path.join(RESULTS_DIR, `${name}.json`), JSON.stringify(report, null, 2));
  process.stdout.write(markdown);
  log(`results saved to bench/results/${name}.md and .json`);
  return errors.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench: ${(error as Error).message ?? String(error)}\n`);
    process.exit(1);
  },
);
