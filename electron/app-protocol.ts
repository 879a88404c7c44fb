/**
 * Serves the renderer's build (dist/renderer) on app://relay/, so the
 * window loads no remote content and no file:// URL. A standard, secure
 * scheme gets an origin of its own, which the Content-Security-Policy's
 * 'self' and the IPC sender check rely on.
 *
 * Every response carries the Content-Security-Policy header. A path that
 * leaves the build folder, or a file that does not exist, gets a 404.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { ProtocolPort } from './modules.ts';
import { APP_HOST, APP_SCHEME, CONTENT_SECURITY_POLICY } from './security.ts';

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.map': 'application/json',
};

const SECURITY_HEADERS = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
};

/**
 * Registers app:// as standard and secure. Electron allows this only
 * before `ready`, and only once: a second call replaces the first.
 */
export function registerAppScheme(protocol: ProtocolPort): void {
  protocol.registerSchemesAsPrivileged([
    {
      scheme: APP_SCHEME,
      // Vite's build loads its scripts as modules, which Chromium fetches
      // in CORS mode, and it fetches those from a custom scheme only when
      // the scheme is corsEnabled. Other origins still read nothing,
      // because no response carries Access-Control-Allow-Origin.
      // NOTE: not run in a real Electron here.
      privileges: { standard: true, secure: true, supportFetchAPI: true, corsEnabled: true },
    },
  ]);
}

/**
 * Maps an app:// URL to a file under `root`, or returns null for another
 * host or a path that escapes `root`. `/` is index.html.
 */
export function resolveAppFile(root: string, url: string): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // An unparsable URL names no file.
    return null;
  }
  if (parsed.protocol !== `${APP_SCHEME}:` || parsed.host !== APP_HOST) return null;

  let pathname: string;
  try {
    pathname = decodeURIComponent(parsed.pathname);
  } catch {
    // A malformed percent escape names no file.
    return null;
  }
  if (pathname.includes('\0')) return null;

  const relative = pathname === '/' ? 'index.html' : pathname.replace(/^\/+/, '');
  const resolvedRoot = path.resolve(root);
  const file = path.resolve(resolvedRoot, relative);
  return file.startsWith(resolvedRoot + path.sep) ? file : null;
}

function notFound(): Response {
  return new Response('Not found', { status: 404, headers: { ...SECURITY_HEADERS, 'Content-Type': 'text/plain' } });
}

/** Returns the response to one request for the renderer's files. */
export async function respondWithAppFile(root: string, request: Request): Promise<Response> {
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    return new Response('Method not allowed', { status: 405, headers: SECURITY_HEADERS });
  }
  const file = resolveAppFile(root, request.url);
  if (file === null) return notFound();

  let body: Buffer;
  try {
    body = await fs.readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR') return notFound();
    throw error;
  }
  const contentType = CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
  return new Response(request.method === 'HEAD' ? null : new Uint8Array(body), {
    status: 200,
    headers: { ...SECURITY_HEADERS, 'Content-Type': contentType },
  });
}

/** Serves `root` on app://relay/; call after `ready`. */
export function serveAppFiles(protocol: ProtocolPort, root: string): void {
  protocol.handle(APP_SCHEME, (request) => respondWithAppFile(root, request));
}
