import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveAppFile, respondWithAppFile } from '../electron/app-protocol.ts';
import { LoginItem, quoteDesktopExec } from '../electron/login-item.ts';
import { CONTENT_SECURITY_POLICY, isAppUrl, secureWebPreferences } from '../electron/security.ts';
import { createFakeElectron } from './support/electron-fakes.ts';
import { useTempDirs } from './support/tmp.ts';

const createTempDir = useTempDirs();

async function rendererBuild(): Promise<string> {
  const root = await createTempDir('renderer');
  fs.mkdirSync(path.join(root, 'assets'));
  fs.writeFileSync(path.join(root, 'index.html'), '<!doctype html><script type="module" src="/assets/index.js"></script>');
  fs.writeFileSync(path.join(root, 'assets', 'index.js'), 'console.log("ui");');
  fs.writeFileSync(path.join(root, 'assets', 'index.css'), 'body { margin: 0 }');
  fs.writeFileSync(path.join(path.dirname(root), `${path.basename(root)}-secret.txt`), 'outside');
  return root;
}

describe('content security policy', () => {
  it('allows only the app itself', () => {
    expect(CONTENT_SECURITY_POLICY).toContain("default-src 'none'");
    expect(CONTENT_SECURITY_POLICY).toContain("script-src 'self'");
    expect(CONTENT_SECURITY_POLICY).not.toContain('unsafe-inline');
    expect(CONTENT_SECURITY_POLICY).not.toContain('unsafe-eval');
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/https?:/);
  });

  it('web preferences isolate the renderer', () => {
    expect(secureWebPreferences('/p.cjs', false)).toEqual({
      preload: '/p.cjs',
      contextIsolation: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      sandbox: true,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      navigateOnDragDrop: false,
      spellcheck: false,
      devTools: false,
    });
  });

  it('isAppUrl accepts only app://relay', () => {
    expect(isAppUrl('app://relay/index.html#/alerts')).toBe(true);
    expect(isAppUrl('app://relay.evil/index.html')).toBe(false);
    expect(isAppUrl('https://relay/index.html')).toBe(false);
    expect(isAppUrl('file:///app/index.html')).toBe(false);
    expect(isAppUrl('not a url')).toBe(false);
  });
});

describe('app protocol', () => {
  it('serves index.html for the root', async () => {
    const root = await rendererBuild();
    const response = await respondWithAppFile(root, new Request('app://relay/'));
    expect(response.status).toBe(200);
    expect(response.headers.get('Content-Type')).toBe('text/html; charset=utf-8');
    expect(response.headers.get('Content-Security-Policy')).toBe(CONTENT_SECURITY_POLICY);
    expect(await response.text()).toContain('/assets/index.js');
  });

  it('serves assets with their type', async () => {
    const root = await rendererBuild();
    const script = await respondWithAppFile(root, new Request('app://relay/assets/index.js'));
    expect(script.headers.get('Content-Type')).toBe('text/javascript; charset=utf-8');
    const style = await respondWithAppFile(root, new Request('app://relay/assets/index.css'));
    expect(style.headers.get('Content-Type')).toBe('text/css; charset=utf-8');
    expect(style.headers.get('X-Content-Type-Options')).toBe('nosniff');
  });

  it('ignores the route in the hash', async () => {
    const root = await rendererBuild();
    const response = await respondWithAppFile(root, new Request('app://relay/index.html#/alerts'));
    expect(response.status).toBe(200);
  });

  it('answers 404 outside the build', async () => {
    const root = await rendererBuild();
    const secret = `../${path.basename(root)}-secret.txt`;
    for (const url of [
      `app://relay/${secret}`,
      `app://relay/%2e%2e/${path.basename(root)}-secret.txt`,
      'app://relay/..%2f..%2fetc%2fpasswd',
      'app://relay/missing.js',
      'app://relay/assets',
      'app://relay/%00',
      'app://relay/%E0%A4%A',
      'app://other/index.html',
    ]) {
      const response = await respondWithAppFile(root, new Request(url));
      expect(response.status, url).toBe(404);
      expect(response.headers.get('Content-Security-Policy'), url).toBe(CONTENT_SECURITY_POLICY);
    }
  });

  it('rejects methods other than GET and HEAD', async () => {
    const root = await rendererBuild();
    const response = await respondWithAppFile(root, new Request('app://relay/index.html', { method: 'POST', body: 'x' }));
    expect(response.status).toBe(405);
  });

  it('resolveAppFile maps paths under the root', () => {
    expect(resolveAppFile('/r', 'app://relay/')).toBe(path.resolve('/r/index.html'));
    expect(resolveAppFile('/r', 'app://relay/assets/a.js?v=1')).toBe(path.resolve('/r/assets/a.js'));
    expect(resolveAppFile('/r', 'app://relay/../x')).toBe(path.resolve('/r/x'));
    // The URL parser folds dot segments, encoded or not, into the root.
    expect(resolveAppFile('/r', 'app://relay/%2e%2e/x')).toBe(path.resolve('/r/x'));
    expect(resolveAppFile('/r', 'app://relay/..%2f..%2fx')).toBeNull();
    // Backslashes are separators on Windows only; either way the file stays under the root.
    const backslashed = resolveAppFile('/r', 'app://relay/a%5c..%5c..%5cx');
    expect(backslashed === null || backslashed.startsWith(path.resolve('/r') + path.sep)).toBe(true);
  });
});

describe('login item', () => {
  it('quotes the Exec path', () => {
    expect(quoteDesktopExec('/usr/bin/smarthost-relay')).toBe('/usr/bin/smarthost-relay');
    expect(quoteDesktopExec('/opt/Smarthost Relay/smarthost-relay')).toBe('"/opt/Smarthost Relay/smarthost-relay"');
    expect(quoteDesktopExec('/home/a$b/app')).toBe('"/home/a\\\\$b/app"');
    expect(quoteDesktopExec('/home/100%/app')).toBe('/home/100%%/app');
  });

  it('uses $APPIMAGE for an AppImage', async () => {
    const config = await createTempDir('xdg');
    const fake = createFakeElectron({ userData: config });
    const item = new LoginItem({
      app: fake.modules.app,
      platform: 'linux',
      env: { XDG_CONFIG_HOME: config, APPIMAGE: '/home/me/Apps/Smarthost-Relay.AppImage' },
      executablePath: '/tmp/.mount_Smarth123/smarthost-relay',
      appName: 'Smarthost Relay',
    });
    item.setEnabled(true);
    expect(item.enabled).toBe(true);
    const entry = fs.readFileSync(path.join(config, 'autostart', 'smarthost-relay.desktop'), 'utf8');
    expect(entry).toContain('Exec=/home/me/Apps/Smarthost-Relay.AppImage --hidden\n');
    expect(entry).toContain('Type=Application\n');
  });

  it('tells a start at login apart', () => {
    const fake = createFakeElectron({ userData: '/tmp/unused' });
    const linux = new LoginItem({ app: fake.modules.app, platform: 'linux', env: {}, executablePath: '/x', appName: 'A' });
    expect(linux.startedAtLogin(['/x', '--hidden'])).toBe(true);
    expect(linux.startedAtLogin(['/x'])).toBe(false);

    const mac = new LoginItem({ app: fake.modules.app, platform: 'darwin', env: {}, executablePath: '/x', appName: 'A' });
    fake.state.wasOpenedAtLogin = true;
    expect(mac.startedAtLogin(['/x'])).toBe(true);
  });
});
