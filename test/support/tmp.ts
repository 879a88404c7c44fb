/**
 * Temporary directories under os.tmpdir() for relay data dirs and stub
 * scripts. Each one is tracked until removeTempDirs() deletes it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve, sep } from 'node:path';
import { afterAll } from 'vitest';

const PREFIX = 'smarthost-relay-test-';

const createdDirs = new Set<string>();

/** Creates an empty directory named after `label` and tracks it for removeTempDirs(). */
export async function createTempDir(label = 'data'): Promise<string> {
  const safeLabel = label.replace(/[^A-Za-z0-9_-]/g, '_');
  const dir = await mkdtemp(join(tmpdir(), `${PREFIX}${safeLabel}-`));
  createdDirs.add(dir);
  return dir;
}

/** Deletes every directory createTempDir() made and has not deleted yet. */
export async function removeTempDirs(): Promise<void> {
  const root = resolve(tmpdir()) + sep;
  const dirs = [...createdDirs];
  createdDirs.clear();

  for (const dir of dirs) {
    // Guards against a tracked path that somehow points outside the temp root.
    if (!resolve(dir).startsWith(root + PREFIX)) {
      throw new Error(
        `Internal error: ${dir} is not a test directory under ${root}, so it was not deleted.`,
      );
    }
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Registers removeTempDirs() to run after the calling test file or describe
 * block, and returns createTempDir for convenience.
 */
export function useTempDirs(): typeof createTempDir {
  afterAll(removeTempDirs);
  return createTempDir;
}
