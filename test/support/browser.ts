/**
 * A real browser for the end-to-end tests: Debian's Chromium driven by
 * playwright-core, with a fresh profile per launch, and the renderer build
 * that the web console serves.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import type { BrowserContext } from 'playwright-core';
import { PROJECT_ROOT } from './serve-process.ts';
import { createTempDir } from './tmp.ts';

export const CHROMIUM_PATH = '/usr/bin/chromium';

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const RENDERER_OUTPUT = path.join(PROJECT_ROOT, 'dist', 'renderer', 'index.html');
const RENDERER_SOURCES = [path.join(PROJECT_ROOT, 'renderer'), path.join(PROJECT_ROOT, 'core', 'api')];
const BUILD_TIMEOUT_MS = 180_000;

function newestMtimeMs(folder: string): number {
  let newest = 0;
  for (const entry of fs.readdirSync(folder, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    newest = Math.max(newest, fs.statSync(path.join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

/**
 * Runs `vite build renderer` when dist/renderer is missing or older than
 * any file of the renderer or of core/api, so a clean clone and a stale
 * build both test the current UI.
 */
export function ensureRendererBuilt(): void {
  const builtAt = fs.existsSync(RENDERER_OUTPUT) ? fs.statSync(RENDERER_OUTPUT).mtimeMs : 0;
  const changedAt = Math.max(...RENDERER_SOURCES.map(newestMtimeMs));
  if (builtAt > changedAt) return;
  execFileSync(process.execPath, [path.join(PROJECT_ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', 'renderer'], {
    cwd: PROJECT_ROOT,
    stdio: 'pipe',
    timeout: BUILD_TIMEOUT_MS,
  });
}

export interface BrowserSession {
  readonly context: BrowserContext;
  close(): Promise<void>;
}

/** Launches Chromium with a new, empty profile in a temporary folder. */
export async function launchBrowser(options: { width: number; height: number }): Promise<BrowserSession> {
  const profile = await createTempDir('chromium-profile');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: options.width, height: options.height },
  });
  return { context, close: () => context.close() };
}
