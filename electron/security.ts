/**
 * Security settings of the desktop window, following Electron's security
 * checklist (electronjs.org/docs/latest/tutorial/security): an isolated,
 * sandboxed renderer without Node, the app's own files served from a
 * custom scheme with a strict Content-Security-Policy, no permissions,
 * and no navigation or new windows.
 */
import type {
  PreventableEvent,
  SecureWebPreferences,
  SessionPort,
  ShellPort,
  WebContentsPort,
} from './modules.ts';

/** The custom scheme and host that serve dist/renderer (see app-protocol.ts). */
export const APP_SCHEME = 'app';
export const APP_HOST = 'relay';
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`;

/**
 * The renderer loads only its own scripts and styles. `connect-src 'self'`
 * is not needed for IPC but lets the renderer fetch its own files.
 * No 'unsafe-inline': Vite's production build emits external files only.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "object-src 'none'",
].join('; ');

/** Tells whether a URL belongs to the app's own files. */
export function isAppUrl(url: string): boolean {
  try {
    const parsed = new URL(url);
    return parsed.protocol === `${APP_SCHEME}:` && parsed.host === APP_HOST;
  } catch {
    // Not a URL at all, so certainly not one of ours.
    return false;
  }
}

/** Returns the window's settings: no Node, an isolated and sandboxed renderer. */
export function secureWebPreferences(preload: string, devTools: boolean): SecureWebPreferences {
  return {
    preload,
    contextIsolation: true,
    nodeIntegration: false,
    nodeIntegrationInWorker: false,
    sandbox: true,
    webSecurity: true,
    allowRunningInsecureContent: false,
    webviewTag: false,
    navigateOnDragDrop: false,
    spellcheck: false,
    devTools,
  };
}

/**
 * Adds the Content-Security-Policy header to every response for the app's
 * own files, and denies every permission (camera, notifications from web
 * content, geolocation...) because the UI needs none.
 */
export function hardenSession(session: SessionPort): void {
  session.webRequest.onHeadersReceived((details, callback) => {
    // Other pages (DevTools in a development run) keep their own headers.
    if (!isAppUrl(details.url)) {
      callback({});
      return;
    }
    callback({
      responseHeaders: {
        ...details.responseHeaders,
        'Content-Security-Policy': [CONTENT_SECURITY_POLICY],
      },
    });
  });
  session.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
  session.setPermissionCheckHandler(() => false);
}

/**
 * Blocks navigation, redirects, new windows and <webview> in one web
 * contents. An https link that the page opens in a new window, such as a
 * provider's help page in an alert's advice, goes to the system browser
 * instead. Every other URL is dropped.
 */
export function hardenWebContents(
  contents: WebContentsPort,
  shell: ShellPort,
  reportError: (context: string, error: unknown) => void,
): void {
  const block = (event: PreventableEvent) => event.preventDefault();
  contents.on('will-navigate', block);
  contents.on('will-redirect', block);
  contents.on('will-attach-webview', block);
  contents.setWindowOpenHandler(({ url }) => {
    if (isHttpsUrl(url)) {
      shell.openExternal(url).catch((error: unknown) => reportError(`open ${url} in the browser`, error));
    }
    return { action: 'deny' };
  });
}

function isHttpsUrl(url: string): boolean {
  try {
    return new URL(url).protocol === 'https:';
  } catch {
    // Not a URL, so not an https one.
    return false;
  }
}
