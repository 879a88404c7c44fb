/**
 * Serves the built React UI (`npm run build:renderer` writes it to
 * dist/renderer). Unknown paths without a file extension get index.html,
 * so a reload on a screen's address works. Paths are resolved inside the
 * folder, so `..` cannot reach other files.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** dist/renderer of this checkout. */
export const DEFAULT_STATIC_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'renderer');

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.map': 'application/json',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

const NOT_BUILT_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Smarthost Relay</title></head>
<body><h1>The web console is not built</h1>
<p>The relay is running, but the console's files are missing. Run <code>npm run build:renderer</code> in the project folder, then reload this page.</p>
</body></html>
`;

async function readFileInside(root: string, urlPath: string): Promise<{ file: string; data: Buffer } | null> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    // A malformed escape such as %E0%A4 names no file.
    return null;
  }
  // A NUL byte names no file either, and fs would throw on it.
  if (decoded.includes('\0')) return null;
  const file = path.resolve(root, `.${path.posix.normalize(decoded)}`);
  if (file !== root && !file.startsWith(root + path.sep)) return null;
  try {
    const stat = await fs.stat(file);
    if (!stat.isFile()) return null;
    return { file, data: await fs.readFile(file) };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

export async function serveStatic(
  root: string,
  request: IncomingMessage,
  response: ServerResponse,
  pathname: string,
): Promise<void> {
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' });
    response.end('Method not allowed.\n');
    return;
  }

  const wanted = pathname === '/' ? '/index.html' : pathname;
  let found = await readFileInside(root, wanted);
  if (!found && path.posix.extname(wanted) === '') found = await readFileInside(root, '/index.html');
  if (!found) {
    const indexMissing = !(await readFileInside(root, '/index.html'));
    response.writeHead(indexMissing ? 503 : 404, { 'Content-Type': 'text/html; charset=utf-8' });
    response.end(indexMissing ? NOT_BUILT_PAGE : '<!doctype html><title>Not found</title><p>Not found.</p>\n');
    return;
  }

  const extension = path.extname(found.file);
  // Vite puts a content hash in every asset name, so assets never change.
  const immutable = found.file.includes(`${path.sep}assets${path.sep}`);
  response.writeHead(200, {
    'Content-Type': CONTENT_TYPES[extension] ?? 'application/octet-stream',
    'Content-Length': found.data.length,
    'Cache-Control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
  });
  response.end(request.method === 'HEAD' ? undefined : found.data);
}
