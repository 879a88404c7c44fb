/**
 * The temporary folder of one benchmark run and everything started in it.
 *
 * Every child process is registered here and killed by its pid when the
 * run ends, normally or not, and the folder is removed. A run killed
 * with SIGKILL cannot clean up, so each run first sweeps the folders that
 * earlier runs left behind. It kills their recorded children whose
 * command line is still the recorded one, stops their Postfix instance
 * with `postfix -c <folder> stop`, and removes the folder.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess, SpawnOptions } from 'node:child_process';

const RUN_DIR_PREFIX = 'smarthost-bench-';
const OWNER_FILE = 'owner.pid';
const CHILDREN_FILE = 'children';
/** Folder of a run's Postfix main.cf, relative to the run folder (see postfix.ts). */
export const POSTFIX_CONFIG_SUBDIR = path.join('postfix', 'etc');

export class RunDir {
  readonly path: string;
  readonly #children = new Set<ChildProcess>();
  readonly #cleanups: (() => void)[] = [];
  #closed = false;

  private constructor(dir: string) {
    this.path = dir;
  }

  /** Creates the folder, readable by the postfix user (its queue lives there). */
  static create(): RunDir {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), RUN_DIR_PREFIX));
    fs.chmodSync(dir, 0o755);
    fs.writeFileSync(path.join(dir, OWNER_FILE), `${process.pid}\n`);
    return new RunDir(dir);
  }

  subdir(name: string): string {
    const dir = path.join(this.path, name);
    fs.mkdirSync(dir, { recursive: true });
    return dir;
  }

  /** Spawns a child that is killed, by its pid, when the run ends. */
  spawn(command: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
    const child = spawn(command, args, options);
    if (child.pid === undefined) throw new Error(`Failed to start ${command}: no process id`);
    this.#children.add(child);
    const record = { pid: child.pid, argv: [command, ...args] };
    fs.appendFileSync(path.join(this.path, CHILDREN_FILE), `${JSON.stringify(record)}\n`);
    child.once('exit', () => this.#children.delete(child));
    return child;
  }

  /** Registers a synchronous clean-up step, run in reverse order at close. */
  onClose(step: () => void): void {
    this.#cleanups.push(step);
  }

  /**
   * Kills the children that still run, runs the clean-up steps and removes
   * the folder. Synchronous, so that it also works in an 'exit' handler.
   */
  closeSync(keep = false): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const child of this.#children) child.kill('SIGKILL');
    for (const step of this.#cleanups.reverse()) {
      try {
        step();
      } catch (error) {
        process.stderr.write(`bench: clean-up step failed: ${(error as Error).message}\n`);
      }
    }
    if (!keep) fs.rmSync(this.path, { recursive: true, force: true });
  }
}

/** Returns true when `pid` is a running node process (an owner can only be one). */
function isRunningNode(pid: number): boolean {
  return readOptional(`/proc/${pid}/comm`).trim() === 'node';
}

/**
 * Cleans up after earlier runs that were killed. Returns the folders it
 * removed; throws when another run is still in progress, because two runs
 * at once would disturb each other's figures.
 */
export function sweepLeftoverRuns(): string[] {
  const removed: string[] = [];
  for (const name of fs.readdirSync(os.tmpdir())) {
    if (!name.startsWith(RUN_DIR_PREFIX)) continue;
    const dir = path.join(os.tmpdir(), name);
    const owner = Number(readOptional(path.join(dir, OWNER_FILE)));
    if (owner && owner !== process.pid && isRunningNode(owner)) {
      throw new Error(`Another benchmark run (pid ${owner}, folder ${dir}) is still in progress; wait for it or stop it.`);
    }

    for (const line of readOptional(path.join(dir, CHILDREN_FILE)).split('\n')) {
      if (line === '') continue;
      const { pid, argv } = JSON.parse(line) as { pid: number; argv: string[] };
      // A recycled pid belongs to some other program: kill only a process
      // whose command line is still the one recorded.
      if (readOptional(`/proc/${pid}/cmdline`) === argv.join('\0') + '\0') process.kill(pid, 'SIGKILL');
    }
    const postfixConfig = path.join(dir, POSTFIX_CONFIG_SUBDIR);
    if (fs.existsSync(path.join(postfixConfig, 'main.cf'))) {
      spawnSync('postfix', ['-c', postfixConfig, 'stop'], { stdio: 'ignore', timeout: 30_000 });
    }
    fs.rmSync(dir, { recursive: true, force: true });
    removed.push(dir);
  }
  return removed;
}

function readOptional(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
