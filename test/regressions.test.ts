// Regressions found by trying `serve` as a new user would: each error names
// the option and the value, and the help text states what a value means.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runProcess } from './support/clients.ts';
import type { ProcessResult } from './support/clients.ts';
import { SERVE_ENTRY } from './support/serve-process.ts';
import { createTempDir, useTempDirs } from './support/tmp.ts';
import { SETTING_SPECS, parseSettingValue } from '../core/settings.ts';

useTempDirs();

const EXIT_USAGE = 2;

/** Runs serve to completion. Every case here makes it exit before it listens. */
async function runServe(args: string[]): Promise<ProcessResult> {
  const dataDir = await createTempDir('regressions');
  return runProcess(process.execPath, ['--import', 'tsx', SERVE_ENTRY, '--data-dir', dataDir, ...args], {
    timeoutMs: 20_000,
  });
}

describe('--password-file errors', () => {
  it('names the option for a missing file', async () => {
    const missing = join(await createTempDir('no-password'), 'missing');
    const result = await runServe(['--listen', '127.0.0.1:0', '--password-file', missing]);

    expect(result.timedOut).toBe(false);
    expect(result.exitCode).toBe(EXIT_USAGE);
    expect(result.stderr).toContain(`Invalid value for --password-file: "${missing}"`);
    expect(result.stderr).toContain('ENOENT');
    expect(result.stderr).not.toContain('cannot start');
  });

  it('names the option for a directory', async () => {
    const directory = await createTempDir('password-dir');
    const result = await runServe(['--listen', '127.0.0.1:0', '--password-file', directory]);

    expect(result.timedOut).toBe(false);
    expect(result.exitCode).toBe(EXIT_USAGE);
    expect(result.stderr).toContain(`Invalid value for --password-file: "${directory}". Expected a regular file.`);
  });
});

describe('help for rolling budgets', () => {
  it('says that 0 means no budget', async () => {
    const result = await runServe(['--help']);

    expect(result.exitCode).toBe(0);
    // commander wraps the text, so compare it with the line breaks removed.
    const help = result.stdout.replace(/\s+/g, ' ');
    expect(help).toContain('--max-messages-per-minute <N> messages per rolling minute');
    expect(help).toContain('none (or 0) or 1-10000000');
  });
});

describe('open-relay and number checks', () => {
  it('rejects --allow 0.0.0.0/0', async () => {
    const result = await runServe(['--listen', '127.0.0.1:0', '--allow', '0.0.0.0/0']);

    expect(result.exitCode).toBe(EXIT_USAGE);
    expect(result.stderr).toContain('Invalid value for --allow: "0.0.0.0/0"');
    expect(result.stderr).toContain('open relay');
  });

  it('rejects ::/0 in the settings file', () => {
    const spec = SETTING_SPECS.find((candidate) => candidate.key === 'allow')!;

    expect(() => parseSettingValue(spec, ['::/0'], 'file')).toThrow(/allow in settings.json: \["::\/0"\]|"::\/0"/);
  });

  it('rejects numbers that are not plain decimals', async () => {
    for (const value of ['1e1', '0x5', ' 3']) {
      const result = await runServe(['--listen', '127.0.0.1:0', '--max-connections', value]);

      expect(result.exitCode, value).toBe(EXIT_USAGE);
      expect(result.stderr, value).toContain('Invalid value for --max-connections');
    }
  });

  it('names --smarthost-ca for a missing file', async () => {
    const missing = join(await createTempDir('no-ca'), 'ca.pem');
    const result = await runServe(['--listen', '127.0.0.1:0', '--smarthost-ca', missing]);

    expect(result.exitCode).toBe(EXIT_USAGE);
    expect(result.stderr).toContain(`Invalid value for --smarthost-ca: "${missing}"`);
  });
});
