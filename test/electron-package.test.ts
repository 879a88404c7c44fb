/**
 * The packaging pipeline without Electron's binary. The renderer and the
 * main process are built into a staging copy of the project. Then
 * electron-builder packs it with `--dir` and a stand-in `electronDist`, a
 * folder shaped like an unpacked Electron for Linux, and the test checks
 * the resulting app.asar file by file. Last, the packed main process runs
 * in plain Node with a fake `electron` module and relays one message to a
 * fake smart host.
 *
 * The slow test of the suite: about 10-20 s on a 2-core machine, most of
 * it in Vite's build and electron-builder's start-up.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import asar from '@electron/asar';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildElectron } from '../scripts/build-electron.ts';
import { FakeSmartHost } from './support/fake-smarthost.ts';
import { PROJECT_ROOT } from './support/serve-process.ts';
import { useTempDirs } from './support/tmp.ts';

const createTempDir = useTempDirs();
const BUILD_TIMEOUT_MS = 180_000;
const APP_TIMEOUT_MS = 20_000;
const PRODUCTION_PACKAGES = ['smtp-server', 'nodemailer', 'zod', 'electron-store', 'conf', 'ipaddr.js', 'selfsigned'];
const DEV_PACKAGES = ['electron', 'electron-builder', 'vitest', 'typescript', 'vite', 'eslint', 'react', 'tsx', 'esbuild'];

interface Packaged {
  readonly asarPath: string;
  readonly files: string[];
  readonly unpackedDir: string;
}

let packaged: Packaged;

function run(command: string, args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd,
      env: { ...process.env, ELECTRON_SKIP_BINARY_DOWNLOAD: '1', CI: 'true' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(output);
      else reject(new Error(`${command} ${args.join(' ')} exited with ${code}:\n${output}`));
    });
  });
}

/** Creates a folder shaped like an unpacked Electron for Linux, as electronDist expects. */
function createStandInElectron(dir: string): void {
  fs.mkdirSync(path.join(dir, 'resources'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'electron'), '#!/bin/sh\necho "stand-in for the Electron binary"\nexit 1\n', { mode: 0o755 });
  fs.writeFileSync(path.join(dir, 'version'), '41.7.1');
  fs.writeFileSync(path.join(dir, 'LICENSE'), 'stand-in');
  fs.writeFileSync(path.join(dir, 'LICENSES.chromium.html'), 'stand-in');
  fs.writeFileSync(path.join(dir, 'resources', 'default_app.asar'), 'stand-in');
}

/** Copies what electron-builder reads into `stage`, with node_modules linked. */
function stageProject(stage: string): void {
  for (const file of ['package.json', 'electron-builder.yml']) {
    fs.copyFileSync(path.join(PROJECT_ROOT, file), path.join(stage, file));
  }
  fs.cpSync(path.join(PROJECT_ROOT, 'build'), path.join(stage, 'build'), { recursive: true });
  fs.symlinkSync(path.join(PROJECT_ROOT, 'node_modules'), path.join(stage, 'node_modules'), 'dir');
}

async function packageApp(): Promise<Packaged> {
  const stage = await createTempDir('stage');
  const electronDist = await createTempDir('electron-dist');
  const output = await createTempDir('release');
  stageProject(stage);
  createStandInElectron(electronDist);

  // The renderer is built from this tree's sources into the staging copy,
  // so the test neither needs nor touches dist/ in the working tree.
  await run(process.execPath, [path.join(PROJECT_ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', 'renderer', '--outDir', path.join(stage, 'dist', 'renderer'), '--emptyOutDir', '--logLevel', 'warn'], PROJECT_ROOT);
  await buildElectron(path.join(stage, 'dist', 'electron'));

  await run(
    process.execPath,
    [
      path.join(PROJECT_ROOT, 'node_modules', 'electron-builder', 'cli.js'),
      '--dir',
      '--linux',
      '--projectDir',
      stage,
      `-c.electronDist=${electronDist}`,
      `-c.directories.output=${output}`,
    ],
    stage,
  );

  const resources = path.join(output, 'linux-unpacked', 'resources');
  const asarPath = path.join(resources, 'app.asar');
  const files = asar.listPackage(asarPath, { isPack: false }).map((file) => file.replaceAll('\\', '/'));
  return { asarPath, files, unpackedDir: path.join(resources, 'app.asar.unpacked') };
}

beforeAll(async () => {
  packaged = await packageApp();
}, BUILD_TIMEOUT_MS);

describe('packaged app.asar', () => {
  it('holds the main entry and the preload', () => {
    expect(packaged.files).toContain('/package.json');
    expect(packaged.files).toContain('/dist/electron/main.js');
    expect(packaged.files).toContain('/dist/electron/preload.cjs');
    expect(packaged.files).toContain('/dist/electron/icon.png');
    for (const state of ['idle', 'sending', 'throttled', 'attention']) {
      expect(packaged.files).toContain(`/dist/electron/tray/tray-${state}.png`);
      expect(packaged.files).toContain(`/dist/electron/tray/tray-${state}@2x.png`);
    }
  });

  it('points package.json main at the compiled main', () => {
    const packageJson = JSON.parse(asar.extractFile(packaged.asarPath, 'package.json').toString('utf8')) as { main: string };
    expect(packageJson.main).toBe('dist/electron/main.js');
  });

  it('holds the renderer build', () => {
    expect(packaged.files).toContain('/dist/renderer/index.html');
    expect(packaged.files.some((file) => /^\/dist\/renderer\/assets\/.+\.js$/.test(file))).toBe(true);
    const html = asar.extractFile(packaged.asarPath, 'dist/renderer/index.html').toString('utf8');
    expect(html).not.toContain('/src/main.tsx');
  });

  it('holds the production dependencies', () => {
    for (const name of PRODUCTION_PACKAGES) {
      expect(packaged.files, name).toContain(`/node_modules/${name}/package.json`);
    }
  });

  it('leaves out the development tools', () => {
    for (const name of DEV_PACKAGES) {
      expect(packaged.files, name).not.toContain(`/node_modules/${name}/package.json`);
    }
    expect(fs.existsSync(packaged.unpackedDir)).toBe(false);
  });

  it('leaves out sources, tests and benchmarks', () => {
    const ownFiles = packaged.files.filter((file) => !file.startsWith('/node_modules/'));
    for (const folder of ['/core', '/electron', '/renderer', '/test', '/bench', '/scripts', '/docs']) {
      expect(ownFiles.filter((file) => file === folder || file.startsWith(`${folder}/`)), folder).toEqual([]);
    }
    expect(packaged.files.filter((file) => /\.(ts|tsx|mts|cts)$/.test(file))).toEqual([]);
    expect(packaged.files.filter((file) => file.endsWith('.map'))).toEqual([]);
  });

  it('preload needs nothing but electron', () => {
    const source = asar.extractFile(packaged.asarPath, 'dist/electron/preload.cjs').toString('utf8');
    const exposed = new Map<string, Record<string, unknown>>();
    const invoked: unknown[][] = [];
    const electron = {
      contextBridge: { exposeInMainWorld: (key: string, api: Record<string, unknown>) => exposed.set(key, api) },
      ipcRenderer: {
        invoke: async (...args: unknown[]) => {
          invoked.push(args);
          return { ok: true, value: null };
        },
        on: () => undefined,
        removeListener: () => undefined,
      },
    };
    // A sandboxed preload may require a few Electron-provided modules only;
    // anything else must have been bundled.
    const sandboxRequire = (id: string) => {
      if (id === 'electron') return electron;
      throw new Error(`The sandboxed preload cannot require ${id}.`);
    };
    const module = { exports: {} };
    vm.runInNewContext(source, { require: sandboxRequire, module, exports: module.exports, console });

    const api = exposed.get('relayApi');
    expect(typeof api?.call).toBe('function');
    expect(typeof api?.subscribe).toBe('function');
    expect(typeof api?.getStatus).toBe('function');
    expect([...exposed.keys()]).toEqual(['relayApi']);
    void (api?.pauseSending as (input: object) => Promise<unknown>)({});
    expect(invoked).toEqual([['relay:pauseSending', {}]]);
  });
});

describe('packaged main process', () => {
  const children: ChildProcess[] = [];
  const smartHosts: FakeSmartHost[] = [];

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    for (const host of smartHosts) await host.stop();
  });

  it('relays a message under fake Electron', async () => {
    const extracted = await createTempDir('extracted');
    asar.extractAll(packaged.asarPath, extracted);

    const host = new FakeSmartHost();
    await host.start();
    smartHosts.push(host);
    const userData = await createTempDir('user-data');
    fs.writeFileSync(
      path.join(userData, 'settings.json'),
      JSON.stringify({
        relay: { listen: { host: '127.0.0.1', port: 0 }, smarthost: { host: host.host, port: host.port }, security: 'none' },
        smartHostPassword: null,
        layout: 1,
      }),
    );

    const child = spawn(
      process.execPath,
      ['--import', path.join(PROJECT_ROOT, 'test', 'support', 'fake-electron-register.mjs'), path.join(extracted, 'dist', 'electron', 'main.js')],
      {
        cwd: extracted,
        env: { ...process.env, SMARTHOST_RELAY_USER_DATA: userData, SMARTHOST_RELAY_SMOKE: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    children.push(child);
    const lines: Record<string, unknown>[] = [];
    let stderr = '';
    let buffered = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const parts = buffered.split('\n');
      buffered = parts.pop() ?? '';
      for (const part of parts) if (part.trim() !== '') lines.push(JSON.parse(part) as Record<string, unknown>);
    });
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

    const find = (predicate: (line: Record<string, unknown>) => boolean) => lines.find(predicate);
    const waitForLine = async (what: string, predicate: (line: Record<string, unknown>) => boolean) => {
      for (let waited = 0; waited < APP_TIMEOUT_MS; waited += 50) {
        const line = find(predicate);
        if (line) return line;
        if (child.exitCode !== null) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error(`No ${what} from the packaged app. stdout: ${JSON.stringify(lines)} stderr: ${stderr}`);
    };

    const ready = await waitForLine('ready line', (line) => line.smoke === 'ready');
    expect(ready.tray).toBe('idle');

    const tray = find((line) => line.fake === 'tray');
    expect(tray?.imageExists).toBe(true);
    expect(String(tray?.image)).toContain(path.join(extracted, 'dist', 'electron', 'tray'));
    const window = find((line) => line.fake === 'window');
    expect(window?.preloadExists).toBe(true);
    expect(find((line) => line.fake === 'load')?.url).toBe('app://relay/index.html#/');
    const page = await waitForLine('app:// answer', (line) => line.fake === 'protocol');
    expect(page.status).toBe(200);
    expect(String(page.csp)).toContain("default-src 'none'");

    const [listenHost, listenPort] = String(ready.listen).split(':');
    const transport = nodemailer.createTransport({ host: listenHost, port: Number(listenPort), secure: false, ignoreTLS: true });
    await transport.sendMail({ from: 'scanner@office.example', to: 'boss@example.com', subject: 'Scan', text: 'Page 1' });
    transport.close();

    await host.waitForMessages(1, APP_TIMEOUT_MS);
    await waitForLine('SENT', (line) => line.smoke === 'event' && line.event === 'SENT');

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(find((line) => line.fake === 'quit')).toBeTruthy();
    expect(stderr).toBe('');
  }, APP_TIMEOUT_MS * 2);
});
