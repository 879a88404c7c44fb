/**
 * Runs Postfix's smtp-source, the load generator: `sessions` SMTP sessions
 * in parallel send `messages` messages of `bodyBytes` bytes each (plus
 * smtp-source's few header lines), with HELO and without pipelining.
 * Without `reuse`, every message gets its own connection, as scanners and
 * printers send; with it, a session sends message after message (-d).
 */
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { RunDir } from './run-dir.ts';
import { LOOPBACK } from './net.ts';

export const BENCH_SENDER = 'bench-sender@example.com';
export const BENCH_RECIPIENT = 'bench-recipient@example.com';
export const BENCH_HELO = 'bench-client.example';

export interface LoadShape {
  readonly sessions: number;
  readonly messages: number;
  readonly bodyBytes: number;
  readonly reuse: boolean;
}

export interface SourceRun {
  /** performance.now() when smtp-source was spawned and when it exited. */
  readonly startedAt: number;
  readonly endedAt: number;
  readonly command: string;
}

export function smtpSourceArgs(load: LoadShape, port: number): string[] {
  return [
    '-s', String(load.sessions),
    '-m', String(load.messages),
    '-l', String(load.bodyBytes),
    '-f', BENCH_SENDER,
    '-t', BENCH_RECIPIENT,
    '-M', BENCH_HELO,
    ...(load.reuse ? ['-d'] : []),
    `${LOOPBACK}:${port}`,
  ];
}

/**
 * Runs smtp-source to completion. Rejects when it exits with an error
 * (smtp-source stops at the first unexpected reply) or runs longer than
 * `timeoutMs`.
 */
export async function runSmtpSource(run: RunDir, load: LoadShape, port: number, timeoutMs: number): Promise<SourceRun> {
  const args = smtpSourceArgs(load, port);
  const startedAt = performance.now();
  const child = run.spawn('smtp-source', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr += chunk;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  const endedAt = performance.now();
  clearTimeout(timer);

  const command = `smtp-source ${args.join(' ')}`;
  if (code !== 0) {
    const how = signal === 'SIGKILL' ? `was stopped after ${timeoutMs} ms` : `exited with ${code ?? signal}`;
    throw new Error(`${command} ${how}: ${stderr.trim()}`);
  }
  return { startedAt, endedAt, command };
}
