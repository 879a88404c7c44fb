/**
 * Data-folder lock: one relay per data folder. Two relays on one queue
 * would each deliver the same messages, and each would empty the other's
 * tmp/ at start.
 *
 * `<data-dir>/relay.lock` contains the owner's process id. A lock whose
 * process has ended (a crash, kill -9) is taken over. So is one with this
 * process's own id, left by a relay of this process that was not stopped.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { RelayError } from './errors.ts';

export const LOCK_FILE_NAME = 'relay.lock';

export class DataDirLock {
  readonly file: string;

  private constructor(file: string) {
    this.file = file;
  }

  /** Takes the lock, or throws EDATA_DIR_IN_USE naming the process that has it. */
  static async acquire(dataDir: string): Promise<DataDirLock> {
    const file = path.join(dataDir, LOCK_FILE_NAME);
    // Two tries: the second follows the removal of a stale lock.
    for (let attempt = 0; attempt < 2; attempt += 1) {
      try {
        await fs.writeFile(file, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
        return new DataDirLock(file);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const owner = await readOwner(file);
      if (owner !== null && owner !== process.pid && isRunning(owner)) {
        throw new RelayError(
          'EDATA_DIR_IN_USE',
          `another relay (process ${owner}) is using the data folder ${dataDir}. Stop it, or start this one with another --data-dir. If no relay is running, delete ${file}.`,
        );
      }
      await fs.rm(file, { force: true });
    }
    throw new RelayError(
      'EDATA_DIR_IN_USE',
      `another relay took the data folder ${dataDir} while this one was starting. Stop it, or start this one with another --data-dir.`,
    );
  }

  /** Removes the lock file if it is still this process's. */
  async release(): Promise<void> {
    if ((await readOwner(this.file)) === process.pid) await fs.rm(this.file, { force: true });
  }
}

async function readOwner(file: string): Promise<number | null> {
  const text = await fs.readFile(file, 'utf8').catch(() => '');
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

/** Tells whether a process with this id exists (EPERM: it does, owned by another user). */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
