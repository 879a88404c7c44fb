/**
 * `serve`: runs the relay headless, for a spare Linux box or a server.
 *
 *   npm run serve -- --smarthost smtp.example.com:587 --user office@example.com
 *
 * Every relay setting has a flag (made from the table in settings.ts);
 * flags override `<data-dir>/settings.json`, which overrides the defaults.
 * The smart-host password comes from SMARTHOST_PASSWORD or from
 * --password-file (a file only its owner can read), never from argv; when
 * neither is given, from `<data-dir>/smarthost-password`, which the web
 * console (--admin) writes.
 *
 * Exit codes: 0 after a graceful stop (SIGTERM or SIGINT), 2 for invalid
 * options or settings, 1 when the relay cannot start.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import {
  DEFAULT_SETTINGS,
  SETTING_SPECS,
  mergeSettings,
  parseSettingValue,
  readSettingsFile,
  formatHostPort,
  parseHostPort,
} from '../settings.ts';
import type { Settings, SettingSpec } from '../settings.ts';
import { RelayError, SettingsError } from '../errors.ts';
import { Relay } from '../relay.ts';
import { hashPassword } from '../device-auth.ts';
import { createConsoleSignIn, setUpOAuth } from './oauth-setup.ts';
import { startWebConsole } from '../console/web-console.ts';
import { savedPasswordFile } from '../console/settings-file.ts';

const EXIT_USAGE = 2;
const EXIT_FAILURE = 1;
const DEFAULT_DATA_DIR = path.join(os.homedir(), '.smarthost-relay');

function describeDefault(spec: SettingSpec): string {
  const value = DEFAULT_SETTINGS[spec.key];
  if (spec.key === 'hostname') return 'this machine\'s host name';
  if (value === null) return 'none';
  if (Array.isArray(value)) return value.length === 0 ? 'none' : value.join(', ');
  if (typeof value === 'object') return formatHostPort(value as { host: string; port: number });
  return String(value);
}

function describeRange(spec: SettingSpec): string {
  const kind = spec.kind;
  if (kind.type === 'integer' || kind.type === 'number') return `, ${kind.min}-${kind.max}`;
  if (kind.type === 'optional-integer') return `, none (or 0) or ${kind.min}-${kind.max}`;
  if (kind.type === 'enum') return `, one of ${kind.values.join('|')}`;
  return '';
}

function buildProgram(): Command {
  const program = new Command('serve')
    .description('Run Smarthost Relay headless: accept mail from the office devices and forward it to the smart host.')
    .option('--data-dir <DIR>', `folder for the queue, settings.json, logs and TLS files (default: ${DEFAULT_DATA_DIR})`)
    .option('--password-file <FILE>', 'file with the smart-host password, readable only by its owner (default: SMARTHOST_PASSWORD)')
    .option('--hash-password', 'read a device password from stdin, print its hash for deviceUsers in settings.json, and exit')
    .option('--oauth-sign-in', 'with --auth-method xoauth2: sign in to the smart-host account with a code shown here (device sign-in), store it, then start')
    .option('--admin <HOST:PORT>', 'address and port of the web console, e.g. 127.0.0.1:8025; port 0 picks a free one (default: off)')
    .allowExcessArguments(false)
    .showHelpAfterError()
    // Usage errors (an unknown option, a missing value) throw instead of
    // exiting with commander's code 1, so they exit with EXIT_USAGE too.
    .exitOverride();

  for (const spec of SETTING_SPECS) {
    if (spec.flag === null) continue;
    if (spec.kind.type === 'boolean') {
      // A setting that is on by default gets only its --no- form.
      const defaultOn = DEFAULT_SETTINGS[spec.key] === true;
      const flag = defaultOn ? `--no-${spec.flag}` : `--${spec.flag}`;
      // The default is the settings value, as settings.json spells it.
      const suffix = ` (default: ${spec.key} ${defaultOn ? 'true' : 'false'})`;
      program.addOption(new Option(flag, spec.description + suffix));
      continue;
    }
    const suffix = ` (default: ${describeDefault(spec)}${describeRange(spec)})`;
    const option = new Option(`--${spec.flag} <${spec.argument ?? 'VALUE'}>`, spec.description + suffix);
    if (spec.kind.type === 'cidr-list') {
      option.argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]);
    }
    program.addOption(option);
  }
  return program;
}

/** Turns the given flags into settings, naming the flag in any error. */
function settingsFromFlags(program: Command): Partial<Settings> {
  const values = program.opts<Record<string, unknown>>();
  const result: Record<string, unknown> = {};
  for (const spec of SETTING_SPECS) {
    if (spec.flag === null) continue;
    const key = camelCase(spec.flag);
    if (program.getOptionValueSource(key) !== 'cli') continue;
    result[spec.key] = parseSettingValue(spec, values[key], 'flag');
  }
  return result as Partial<Settings>;
}

function camelCase(flag: string): string {
  return flag.replace(/-([a-z])/g, (_match, letter: string) => letter.toUpperCase());
}

/** Reads the smart-host password; a file must not be readable by others. */
function readPassword(passwordFile: string | undefined): string | null {
  if (passwordFile === undefined) return process.env.SMARTHOST_PASSWORD || null;

  let stat: fs.Stats;
  try {
    stat = fs.statSync(passwordFile);
  } catch (error) {
    // A bare "ENOENT ... stat" would not say which option is wrong.
    throw new SettingsError('--password-file', passwordFile, `a readable file (${(error as Error).message})`);
  }
  if (!stat.isFile()) throw new SettingsError('--password-file', passwordFile, 'a regular file');
  if ((stat.mode & 0o077) !== 0) {
    throw new SettingsError(
      '--password-file',
      passwordFile,
      `a file only its owner can read (it has mode ${(stat.mode & 0o777).toString(8)}; run chmod 600 on it)`,
    );
  }
  try {
    return fs.readFileSync(passwordFile, 'utf8').replace(/\r?\n$/, '');
  } catch (error) {
    throw new SettingsError('--password-file', passwordFile, `a readable file (${(error as Error).message})`);
  }
}

async function printPasswordHash(): Promise<void> {
  // Without a prompt, a terminal user sees nothing while serve waits for end of input.
  if (process.stdin.isTTY) {
    process.stderr.write('Type the device password (it is shown as you type), press Enter, then Ctrl-D:\n');
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (password === '') throw new SettingsError('stdin', '', 'a password on standard input');
  process.stdout.write(`${await hashPassword(password)}\n`);
}

function describeStart(relay: Relay): string {
  const settings = relay.settings;
  const listen = relay.listenAddress ? formatHostPort(relay.listenAddress) : 'nowhere';
  const forward = settings.smarthost
    ? `forwarding to ${formatHostPort(settings.smarthost)} (${settings.security})`
    : 'holding mail until a smart host is configured';
  return `Smarthost Relay is listening on ${listen} and ${forward}. Data: ${relay.dataDir}`;
}

async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  program.parse(argv);
  const options = program.opts<{
    dataDir?: string;
    passwordFile?: string;
    hashPassword?: boolean;
    admin?: string;
    oauthSignIn?: boolean;
  }>();

  if (options.hashPassword) {
    await printPasswordHash();
    return 0;
  }

  const dataDir = path.resolve(options.dataDir ?? DEFAULT_DATA_DIR);
  const fileSettings = readSettingsFile(path.join(dataDir, 'settings.json'));
  const settings = mergeSettings(fileSettings, settingsFromFlags(program));
  const admin = options.admin === undefined ? null : parseHostPort('--admin', options.admin);
  // A password saved in the web console applies when neither
  // SMARTHOST_PASSWORD nor --password-file gives one.
  const passwordFile = options.passwordFile ?? (process.env.SMARTHOST_PASSWORD ? undefined : savedPasswordFile(dataDir));
  const password = readPassword(passwordFile);
  if (settings.user && settings.authMethod === 'password' && !password) {
    process.stderr.write(
      `serve: --user ${settings.user} is set but no password was given; set SMARTHOST_PASSWORD or use --password-file.\n`,
    );
  }

  // Listen for the stop signal before starting, so a SIGTERM that comes
  // during start-up still ends in a graceful stop and exit code 0.
  const stopSignal = new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });

  const oauth = await setUpOAuth(settings, dataDir, {
    signIn: options.oauthSignIn === true,
    print: (line) => process.stdout.write(`${line}\n`),
  });
  const relay = await Relay.start({
    dataDir,
    settings,
    password,
    echo: process.stdout,
    tokens: oauth?.tokens,
    acceptThread: true,
  });
  oauth?.attach(relay.bus);
  process.stdout.write(describeStart(relay) + '\n');
  const signIn = admin ? createConsoleSignIn(relay, dataDir, oauth) : null;
  const webConsole = admin
    ? await startWebConsole({ relay, address: admin, password, tokens: oauth?.tokens, signIn: signIn ?? undefined })
    : null;
  if (webConsole?.warning) process.stderr.write(`serve: warning: ${webConsole.warning}\n`);
  if (webConsole) process.stdout.write(`Web console: ${webConsole.url}\n`);

  const signal = await stopSignal;
  process.stdout.write(`Received ${signal}, stopping.\n`);
  await webConsole?.close();
  signIn?.close();
  await relay.stop();
  return 0;
}

main(process.argv).then(
  (code) => process.exit(code),
  (error: unknown) => {
    // commander has already printed its message (or the help text).
    if (error instanceof CommanderError) process.exit(error.exitCode === 0 ? 0 : EXIT_USAGE);
    if (error instanceof SettingsError) {
      process.stderr.write(`serve: ${error.message}\n`);
      process.exit(EXIT_USAGE);
    }
    const message = error instanceof RelayError || error instanceof Error ? error.message : String(error);
    process.stderr.write(`serve: cannot start: ${message}\n`);
    process.exit(EXIT_FAILURE);
  },
);
