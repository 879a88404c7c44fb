/**
 * electron-builder.yml, loaded and validated offline by electron-builder's
 * own code (app-builder-lib's getConfig and validateConfiguration, which
 * check the file against the JSON schema that ships with it).
 */
import fs from 'node:fs';
import path from 'node:path';
import { getConfig, validateConfiguration } from 'app-builder-lib/out/util/config/config.js';
import type { Configuration } from 'app-builder-lib';
import { DebugLogger } from 'builder-util';
import { describe, expect, it } from 'vitest';
import { decodePng } from '../scripts/png.ts';
import { APP_USER_MODEL_ID } from '../electron/desktop-app.ts';
import { PROJECT_ROOT } from './support/serve-process.ts';

const CONFIG_FILE = path.join(PROJECT_ROOT, 'electron-builder.yml');

function loadConfig(): Promise<Configuration> {
  return getConfig(PROJECT_ROOT, CONFIG_FILE, null);
}

function targetNames(targets: unknown): string[] {
  const list = Array.isArray(targets) ? targets : [targets];
  return list.map((target) => (typeof target === 'string' ? target : (target as { target: string }).target));
}

describe('electron-builder.yml', () => {
  it('passes electron-builder validation', async () => {
    const config = await loadConfig();
    await expect(validateConfiguration(config, new DebugLogger(false))).resolves.toBeUndefined();
  });

  it('validation catches a misspelt option', async () => {
    const config = await loadConfig();
    const misspelt = { ...config, nsis: { ...config.nsis, oneClik: true } } as Configuration;
    await expect(validateConfiguration(misspelt, new DebugLogger(false))).rejects.toThrow(/oneClik/);
  });

  it('uses the app id of the notifications', async () => {
    const config = await loadConfig();
    expect(config.appId).toBe(APP_USER_MODEL_ID);
  });

  it('builds a per-user one-click NSIS installer', async () => {
    const config = await loadConfig();
    expect(targetNames(config.win?.target)).toEqual(['nsis']);
    expect(config.nsis?.oneClick).toBe(true);
    expect(config.nsis?.perMachine).toBe(false);
    expect(config.nsis?.createStartMenuShortcut).toBe(true);
  });

  it('builds dmg, AppImage and deb', async () => {
    const config = await loadConfig();
    expect(targetNames(config.mac?.target)).toEqual(['dmg']);
    expect(targetNames(config.linux?.target)).toEqual(['AppImage', 'deb']);
    expect(config.linux?.maintainer).toBeTruthy();
  });

  it('points at an installer icon of 512 pixels', async () => {
    const config = await loadConfig();
    for (const icon of [config.win?.icon, config.mac?.icon, config.linux?.icon]) {
      expect(icon).toBe('build/icon.png');
    }
    const image = decodePng(fs.readFileSync(path.join(PROJECT_ROOT, 'build', 'icon.png')));
    expect(image.width).toBe(512);
    expect(image.height).toBe(512);
  });

  it('packs the compiled main of package.json', async () => {
    const config = await loadConfig();
    const packageJson = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as {
      main: string;
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    expect(packageJson.main).toBe('dist/electron/main.js');
    // getConfig wraps the patterns in a file set ({ filter: [...] }).
    const patterns = JSON.stringify(config.files);
    expect(patterns).toContain('"dist/electron/**/*"');
    expect(patterns).toContain('"dist/renderer/**/*"');
    // electron-builder refuses electron among the production dependencies.
    expect(packageJson.dependencies.electron).toBeUndefined();
    expect(packageJson.devDependencies.electron).toMatch(/^41\.\d+\.\d+$/);
  });
});
