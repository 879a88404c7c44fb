/**
 * A private Postfix instance, the reference relay: its own
 * config_directory, queue_directory and data_directory under the run
 * folder, an smtpd on a high loopback port (master.cf), and the sink as
 * relayhost. It is started with `postfix -c DIR start` and stopped with
 * `postfix -c DIR stop` when the run ends, failed or not (RunDir.onClose).
 *
 * The system's own Postfix (/etc/postfix, /var/spool/postfix,
 * /var/lib/postfix) is never read for configuration nor written:
 * meta_directory points at copies of the two files Postfix needs from it
 * (postfix-files, dynamicmaps.cf), and logs go to maillog_file in the run
 * folder. fingerprintSystemConfig() lets the run check that afterwards.
 *
 * Durability stays at Postfix's default: cleanup fsyncs each queue file
 * before smtpd sends 250 (Postfix does not fsync the queue directory).
 * Every service runs unchrooted, which changes no durability or speed.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { POSTFIX_CONFIG_SUBDIR } from './run-dir.ts';
import type { RunDir } from './run-dir.ts';
import { LOOPBACK, freePort, waitForGreeting } from './net.ts';

const SYSTEM_CONFIG_DIR = '/etc/postfix';
// Files of the meta_directory that `postfix start` reads.
const META_FILES = ['postfix-files', 'postfix-files.d', 'dynamicmaps.cf', 'dynamicmaps.cf.d'];
const COMMAND_TIMEOUT_MS = 60_000;
const STOP_WAIT_MS = 15_000;

/** Builds master.cf: the services of Debian's default that a relay uses, none chrooted, and smtpd on `port`. */
function masterCf(port: number): string {
  const services = [
    `${LOOPBACK}:${port} inet n - n - - smtpd`,
    'pickup unix n - n 60 1 pickup',
    'cleanup unix n - n - 0 cleanup',
    'qmgr unix n - n 300 1 qmgr',
    'tlsmgr unix - - n 1000? 1 tlsmgr',
    'rewrite unix - - n - - trivial-rewrite',
    'bounce unix - - n - 0 bounce',
    'defer unix - - n - 0 bounce',
    'trace unix - - n - 0 bounce',
    'verify unix - - n - 1 verify',
    'flush unix n - n 1000? 0 flush',
    'proxymap unix - - n - - proxymap',
    'proxywrite unix - - n - 1 proxymap',
    'smtp unix - - n - - smtp',
    'relay unix - - n - - smtp',
    'showq unix n - n - - showq',
    'error unix - - n - - error',
    'retry unix - - n - - error',
    'discard unix - - n - - discard',
    'local unix - n n - - local',
    'anvil unix - - n - 1 anvil',
    'scache unix - - n - 1 scache',
    'postlog unix-dgram n - n - 1 postlogd',
  ];
  return services.join('\n') + '\n';
}

/** Builds main.cf: a loopback relay to the sink, with everything else at its default. */
function mainCf(root: string, relayPort: number): string {
  const settings: [string, string][] = [
    ['compatibility_level', '3.7'],
    ['config_directory', path.join(root, 'etc')],
    ['meta_directory', path.join(root, 'etc')],
    ['queue_directory', path.join(root, 'spool')],
    ['data_directory', path.join(root, 'data')],
    ['maillog_file', path.join(root, 'maillog')],
    ['maillog_file_prefixes', root],
    ['syslog_name', 'postfix-bench'],
    ['inet_interfaces', LOOPBACK],
    ['inet_protocols', 'ipv4'],
    ['myhostname', 'postfix-bench.example'],
    // Nothing is delivered locally: every recipient goes to the relayhost.
    ['mydestination', ''],
    ['local_recipient_maps', ''],
    ['alias_maps', ''],
    ['alias_database', ''],
    ['mynetworks', '127.0.0.0/8'],
    ['smtpd_relay_restrictions', 'permit_mynetworks, reject'],
    ['relayhost', `[${LOOPBACK}]:${relayPort}`],
  ];
  return settings.map(([key, value]) => `${key} = ${value}`).join('\n') + '\n';
}

export class PostfixInstance {
  readonly port: number;
  readonly #root: string;
  readonly #configDir: string;
  #running = false;

  private constructor(root: string, port: number) {
    this.#root = root;
    this.#configDir = path.join(root, 'etc');
    this.port = port;
  }

  /** Writes the configuration and starts Postfix, which is stopped when the run closes. */
  static async start(run: RunDir, relayPort: number): Promise<PostfixInstance> {
    const configDir = path.join(run.path, POSTFIX_CONFIG_SUBDIR);
    const root = path.dirname(configDir);
    fs.mkdirSync(configDir, { recursive: true });
    fs.mkdirSync(path.join(root, 'spool'));
    fs.mkdirSync(path.join(root, 'data'));
    execFileSync('chown', ['postfix', path.join(root, 'data')]);
    for (const name of META_FILES) {
      const source = path.join(SYSTEM_CONFIG_DIR, name);
      if (fs.existsSync(source)) fs.cpSync(source, path.join(configDir, name), { recursive: true });
    }

    const port = await freePort();
    fs.writeFileSync(path.join(configDir, 'main.cf'), mainCf(root, relayPort));
    fs.writeFileSync(path.join(configDir, 'master.cf'), masterCf(port));

    const instance = new PostfixInstance(root, port);
    run.onClose(() => instance.stopSync());
    instance.#running = true;
    instance.#postfix('start');
    await waitForGreeting(port, COMMAND_TIMEOUT_MS);
    return instance;
  }

  #postfix(command: 'start' | 'stop'): void {
    try {
      execFileSync('postfix', ['-c', this.#configDir, command], { stdio: 'pipe', timeout: COMMAND_TIMEOUT_MS });
    } catch (error) {
      // postfix(1) logs its reason to maillog_file, not to stderr.
      throw new Error(`postfix -c ${this.#configDir} ${command} failed. Its log:\n${this.logTail()}`, {
        cause: error,
      });
    }
  }

  logTail(lines = 20): string {
    try {
      return fs.readFileSync(path.join(this.#root, 'maillog'), 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no maillog)';
    }
  }

  /**
   * Stops Postfix and waits for its master process to exit. If it is still
   * running after STOP_WAIT_MS, kills it by its pid. Synchronous, so that
   * it also works in an 'exit' handler.
   */
  stopSync(): void {
    if (!this.#running) return;
    this.#running = false;
    const pid = this.#masterPid();
    try {
      this.#postfix('stop');
    } catch (error) {
      process.stderr.write(`bench: ${(error as Error).message}\n`);
    }
    if (pid === null) return;
    const deadline = Date.now() + STOP_WAIT_MS;
    while (isAlive(pid) && Date.now() < deadline) sleepSync(100);
    if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  }

  #masterPid(): number | null {
    try {
      const pid = Number(fs.readFileSync(path.join(this.#root, 'spool', 'pid', 'master.pid'), 'utf8').trim());
      return pid > 0 ? pid : null;
    } catch {
      return null;
    }
  }
}

/** Returns true while `pid` runs. A zombie, waiting for init to reap it, has exited. */
function isAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Hashes every path, mode, size, time and content under /etc/postfix. */
export function fingerprintSystemConfig(): string {
  const hash = crypto.createHash('sha256');
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const file = path.join(dir, entry.name);
      const stat = fs.lstatSync(file);
      hash.update(`${file} ${stat.mode} ${stat.size} ${stat.mtimeMs}\n`);
      if (entry.isDirectory()) walk(file);
      else if (entry.isFile()) hash.update(fs.readFileSync(file));
    }
  };
  if (fs.existsSync(SYSTEM_CONFIG_DIR)) walk(SYSTEM_CONFIG_DIR);
  return hash.digest('hex');
}
