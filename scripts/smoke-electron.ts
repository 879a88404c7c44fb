/**
 * `npm run smoke:electron`: starts the real desktop app once and checks
 * that it comes up and relays mail.
 *
 *   1. finds Electron's binary, or prints why not and exits with EXIT_NO_ELECTRON
 *   2. builds the renderer and the main process
 *   3. starts a fake smart host on 127.0.0.1 and writes settings that point
 *      the relay at it, in a temporary user-data folder
 *   4. starts Electron with SMARTHOST_RELAY_SMOKE=1 and waits for its
 *      "ready" line (tray created, relay listening)
 *   5. sends one message to the relay and waits until the fake smart host
 *      has it and the app reports SENT
 *   6. sends SIGTERM and expects a clean exit
 *
 * Every wait has a time limit. On Linux without a display it runs Electron
 * under `xvfb-run` when that exists; as root it adds --no-sandbox, which
 * Chromium needs there.
 *
 * NOTE: steps 2-6 have not run yet: the machines this was written on
 * cannot download Electron's binary, so only step 1's refusal was seen.
 * test/electron-package.test.ts runs the same sequence against the packed
 * main process with a fake `electron` module.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';

const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const EXIT_FAILED = 1;
const EXIT_NO_ELECTRON = 3;
const READY_TIMEOUT_MS = 60_000;
const DELIVERY_TIMEOUT_MS = 30_000;
const EXIT_TIMEOUT_MS = 20_000;
const POLL_MS = 100;

class SmokeFailure extends Error {}

function say(text: string): void {
  process.stdout.write(`smoke:electron: ${text}\n`);
}

/** Returns the Electron executable, or null when the npm package has none. */
function findElectronBinary(): { binary: string | null; reason: string } {
  const require = createRequire(import.meta.url);
  let binary: string;
  try {
    // The electron package's main module returns the binary's path, and
    // throws when its install step did not download the binary.
    binary = require('electron') as string;
  } catch (error) {
    return { binary: null, reason: (error as Error).message };
  }
  if (!fs.existsSync(binary)) return { binary: null, reason: `${binary} does not exist` };
  return { binary, reason: '' };
}

function runStep(label: string, command: string, args: string[]): void {
  say(label);
  const result = spawnSync(command, args, { cwd: PROJECT_ROOT, stdio: 'inherit' });
  if (result.status !== 0) throw new SmokeFailure(`${label} failed with exit code ${result.status}.`);
}

async function startFakeSmartHost(): Promise<{ server: SMTPServer; port: number; received: string[] }> {
  const received: string[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    onData(stream, session, callback) {
      stream.resume();
      stream.on('end', () => {
        received.push(session.envelope.rcptTo.map((recipient) => recipient.address).join(','));
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.server.address();
  if (address === null || typeof address === 'string') throw new SmokeFailure('The fake smart host has no TCP address.');
  return { server, port: address.port, received };
}

async function waitFor<T>(what: string, timeoutMs: number, check: () => T | undefined, child: ChildProcess): Promise<T> {
  for (let waited = 0; waited < timeoutMs; waited += POLL_MS) {
    const value = check();
    if (value !== undefined) return value;
    if (child.exitCode !== null) throw new SmokeFailure(`Electron exited with code ${child.exitCode} before ${what}.`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  throw new SmokeFailure(`Timed out after ${timeoutMs} ms waiting for ${what}.`);
}

/** Sends SIGTERM and resolves to the exit code, or the signal that ended Electron. */
function stopElectron(child: ChildProcess): Promise<number | string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new SmokeFailure(`Electron did not exit within ${EXIT_TIMEOUT_MS} ms of SIGTERM.`)), EXIT_TIMEOUT_MS);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(code ?? signal ?? 'an unknown status');
    });
    child.kill('SIGTERM');
  });
}

function electronCommand(binary: string): { command: string; args: string[] } {
  const args = [PROJECT_ROOT, '--hidden'];
  if (process.getuid?.() === 0) args.push('--no-sandbox');
  const needsDisplay = process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY;
  if (!needsDisplay) return { command: binary, args };

  const xvfb = spawnSync('which', ['xvfb-run'], { encoding: 'utf8' });
  if (xvfb.status !== 0) throw new SmokeFailure('No display (DISPLAY is unset) and no xvfb-run; install xvfb or run under a desktop session.');
  return { command: 'xvfb-run', args: ['-a', binary, ...args] };
}

async function smoke(binary: string): Promise<void> {
  runStep('building the renderer', 'npm', ['run', 'build:renderer']);
  runStep('building the main process', 'npm', ['run', 'build:electron']);

  const smartHost = await startFakeSmartHost();
  const userData = fs.mkdtempSync(path.join(os.tmpdir(), 'smarthost-relay-smoke-'));
  fs.writeFileSync(
    path.join(userData, 'settings.json'),
    JSON.stringify({
      relay: { listen: { host: '127.0.0.1', port: 0 }, smarthost: { host: '127.0.0.1', port: smartHost.port }, security: 'none' },
      smartHostPassword: null,
      layout: 1,
    }),
  );

  const { command, args } = electronCommand(binary);
  say(`starting ${command} ${args.join(' ')} with user data in ${userData}`);
  const child = spawn(command, args, {
    cwd: PROJECT_ROOT,
    env: { ...process.env, SMARTHOST_RELAY_USER_DATA: userData, SMARTHOST_RELAY_SMOKE: '1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: Record<string, unknown>[] = [];
  let buffered = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    for (const part of parts) {
      if (!part.startsWith('{')) continue;
      try {
        lines.push(JSON.parse(part) as Record<string, unknown>);
      } catch {
        // Electron and Chromium print their own lines too; only ours are JSON.
      }
    }
  });

  try {
    const ready = await waitFor('the tray and the relay', READY_TIMEOUT_MS, () => lines.find((line) => line.smoke === 'ready'), child);
    if (!ready.tray) throw new SmokeFailure('The app reported ready without a tray.');
    say(`ready: relay on ${String(ready.listen)}, tray ${String(ready.tray)}`);

    const [host, port] = String(ready.listen).split(':');
    const transport = nodemailer.createTransport({ host, port: Number(port), secure: false, ignoreTLS: true });
    await transport.sendMail({ from: 'smoke@localhost', to: 'smoke-test@example.com', subject: 'Smoke test', text: 'Smoke test.' });
    transport.close();

    await waitFor('delivery to the fake smart host', DELIVERY_TIMEOUT_MS, () => (smartHost.received.length > 0 ? true : undefined), child);
    await waitFor('the SENT event', DELIVERY_TIMEOUT_MS, () => lines.find((line) => line.event === 'SENT'), child);
    say('the message went through the relay to the fake smart host');

    const code = await stopElectron(child);
    if (code !== 0) throw new SmokeFailure(`Electron exited with ${code} after SIGTERM instead of 0.`);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    smartHost.server.close();
    fs.rmSync(userData, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  const { binary, reason } = findElectronBinary();
  if (binary === null) {
    process.stderr.write(
      "smoke:electron: NOT RUN: Electron's binary is not installed, so the desktop app cannot start here.\n" +
        `  ${reason}\n` +
        '  It is missing when npm install ran with ELECTRON_SKIP_BINARY_DOWNLOAD=1 or could not download it.\n' +
        '  On a machine that can download it, run plain `npm install`, then `npm run smoke:electron` again.\n',
    );
    return EXIT_NO_ELECTRON;
  }

  try {
    await smoke(binary);
    say('passed');
    return 0;
  } catch (error) {
    process.stderr.write(`smoke:electron: FAILED: ${(error as Error).message}\n`);
    return EXIT_FAILED;
  }
}

process.exitCode = await main();
