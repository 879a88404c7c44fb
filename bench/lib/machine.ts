/**
 * Facts about the machine and about one process, read from /proc (Linux
 * only): the hardware line of a report, the load average, a process's
 * memory and CPU time, and the disk use of a folder.
 */
import fs from 'node:fs';
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

export interface MachineInfo {
  readonly cpus: number;
  readonly cpuModel: string;
  readonly memoryGb: number;
  readonly kernel: string;
  readonly node: string;
  readonly postfix: string;
}

export function describeMachine(): MachineInfo {
  const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown';
  return {
    cpus: Number(execFileSync('nproc', { encoding: 'utf8' }).trim()),
    cpuModel: model,
    memoryGb: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: os.release(),
    node: process.version,
    postfix: readPostfixVersion(),
  };
}

function readPostfixVersion(): string {
  try {
    return execFileSync('postconf', ['-d', '-h', 'mail_version'], { encoding: 'utf8' }).trim();
  } catch {
    return 'not installed';
  }
}

/** Reads the 1-, 5- and 15-minute load averages. */
export function loadAverage(): [number, number, number] {
  const [one, five, fifteen] = fs.readFileSync('/proc/loadavg', 'utf8').split(' ').map(Number);
  return [one ?? NaN, five ?? NaN, fifteen ?? NaN];
}

/**
 * Waits until the 1-minute load average is below `threshold`, polling
 * every `pollMs`, for at most `budgetMs`. Returns the time waited.
 */
export async function waitForQuietMachine(
  threshold: number,
  budgetMs: number,
  pollMs = 5000,
): Promise<number> {
  const start = Date.now();
  while (loadAverage()[0] >= threshold && Date.now() - start < budgetMs) {
    await sleep(Math.min(pollMs, budgetMs - (Date.now() - start)));
  }
  return Date.now() - start;
}

export interface MemoryUse {
  /** Resident set size now, in KiB (VmRSS). */
  readonly rssKb: number;
  /** Peak resident set size since the process started, in KiB (VmHWM). */
  readonly hwmKb: number;
}

export function readMemory(pid: number): MemoryUse {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssKb: field('VmRSS'), hwmKb: field('VmHWM') };
}

const CLOCK_TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

/** CPU time a process has used so far (user + system), in seconds. */
export function readCpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may contain spaces, so count fields from
  // the last ')'. utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / CLOCK_TICKS_PER_SECOND;
}

/**
 * Reads the CPU time all processes on the machine have used since boot
 * (user, nice, system, irq, softirq and steal in /proc/stat), in seconds.
 */
export function readMachineBusySeconds(): number {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  const [user, nice, system, _idle, _iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  const busy = [user, nice, system, irq, softirq, steal].reduce((sum: number, ticks) => sum + (ticks ?? 0), 0);
  return busy / CLOCK_TICKS_PER_SECOND;
}

export interface DiskUse {
  /** Blocks allocated, in KiB (`du -sk`). */
  readonly allocatedKb: number;
  /** Sum of file sizes, in bytes (`du -sb`). */
  readonly apparentBytes: number;
  readonly files: number;
}

export function readDiskUse(dir: string): DiskUse {
  const allocated = execFileSync('du', ['-sk', dir], { encoding: 'utf8' });
  const apparent = execFileSync('du', ['-sb', dir], { encoding: 'utf8' });
  const files = execFileSync('find', [dir, '-type', 'f', '-printf', '.'], { encoding: 'utf8', maxBuffer: 2 ** 26 });
  return {
    allocatedKb: Number(allocated.split('\t')[0]),
    apparentBytes: Number(apparent.split('\t')[0]),
    files: files.length,
  };
}
