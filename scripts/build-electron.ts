/**
 * Compiles the Electron side into dist/electron with esbuild:
 *
 *   main.js      ES module (package.json has "type": "module"): electron/
 *                and the relay core bundled; npm packages stay imports,
 *                and electron-builder packs them into app.asar
 *   preload.cjs  CommonJS with everything but `electron` bundled, because
 *                a sandboxed preload can neither load ES modules nor
 *                require anything else
 *   tray/        the tray icons, and icon.png for windows and notifications
 *
 * Type checking is not done here: `npm run typecheck` does it.
 *
 *   node --import tsx scripts/build-electron.ts
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// Electron 40 moved to Node 24 (Electron 40.0.0 release notes), so syntax
// for Node 22 runs in Electron 41.
const MAIN_TARGET = 'node22';
// Electron 40 already ships Chromium 144, which runs es2022 syntax.
const PRELOAD_TARGET = 'es2022';

export async function buildElectron(outDir = path.join(PROJECT_ROOT, 'dist', 'electron')): Promise<void> {
  fs.rmSync(outDir, { recursive: true, force: true });

  await build({
    entryPoints: [path.join(PROJECT_ROOT, 'electron', 'main.ts')],
    outfile: path.join(outDir, 'main.js'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: MAIN_TARGET,
    packages: 'external',
    sourcemap: 'linked',
    logLevel: 'warning',
  });

  await build({
    entryPoints: [path.join(PROJECT_ROOT, 'electron', 'preload.ts')],
    outfile: path.join(outDir, 'preload.cjs'),
    bundle: true,
    platform: 'browser',
    format: 'cjs',
    target: PRELOAD_TARGET,
    external: ['electron'],
    // The API definition brings zod along, and minified it loads faster.
    minify: true,
    sourcemap: 'linked',
    logLevel: 'warning',
  });

  fs.cpSync(path.join(PROJECT_ROOT, 'build', 'tray'), path.join(outDir, 'tray'), { recursive: true });
  fs.copyFileSync(path.join(PROJECT_ROOT, 'build', 'icon.png'), path.join(outDir, 'icon.png'));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await buildElectron();
  process.stdout.write('built dist/electron (main.js, preload.cjs, tray/, icon.png)\n');
}
