/**
 * An in-process relay with its web console on 127.0.0.1, port 0, for the
 * API tests. It starts a Relay, the API handlers with file storage in a
 * temporary data folder and the HTTP server, and optionally a fake smart
 * host that the relay forwards to.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { Relay } from '../../core/relay.ts';
import { mergeSettings } from '../../core/settings.ts';
import type { Settings } from '../../core/settings.ts';
import { createApiHandlers } from '../../core/console/handlers.ts';
import type { ApiHandlers } from '../../core/console/handlers.ts';
import { startConsoleServer } from '../../core/console/server.ts';
import type { ConsoleServer } from '../../core/console/server.ts';
import { createFileSettingsStore } from '../../core/console/settings-file.ts';
import { loadOrCreateConsoleToken } from '../../core/console/token.ts';
import { connectWithNodemailer } from './clients.ts';
import { startFakeSmartHost } from './fake-smarthost.ts';
import type { FakeSmartHost, FakeSmartHostOptions } from './fake-smarthost.ts';
import { createTempDir } from './tmp.ts';

export interface ConsoleHarness {
  readonly relay: Relay;
  readonly api: ApiHandlers;
  readonly server: ConsoleServer;
  readonly fake: FakeSmartHost | null;
  readonly dataDir: string;
  readonly token: string;
  /** http://127.0.0.1:PORT */
  readonly base: string;
  /** fetch() against the console with the token, unless `headers` sets Authorization. */
  request(pathname: string, init?: RequestInit): Promise<Response>;
  /** POSTs JSON with the token. */
  post(pathname: string, body: unknown, headers?: Record<string, string>): Promise<Response>;
  /** Sends `count` messages to the relay's listener over one SMTP session. */
  sendMail(count: number, subject: (index: number) => string): Promise<void>;
  stop(): Promise<void>;
}

export interface ConsoleHarnessOptions {
  /** Start a fake smart host and forward to it with security none. */
  readonly fake?: FakeSmartHostOptions | null;
  readonly settings?: Partial<Settings>;
  readonly password?: string | null;
}

export async function startConsoleHarness(options: ConsoleHarnessOptions = {}): Promise<ConsoleHarness> {
  const dataDir = await createTempDir('console');
  const staticDir = path.join(dataDir, 'ui');
  await fs.mkdir(staticDir);
  await fs.writeFile(path.join(staticDir, 'index.html'), '<!doctype html><title>test UI</title>');

  const fake = options.fake === null || options.fake === undefined ? null : await startFakeSmartHost(options.fake);
  const settings = mergeSettings({
    listen: { host: '127.0.0.1', port: 0 },
    hostname: 'relay.test',
    ...(fake ? { smarthost: { host: fake.host, port: fake.port }, security: 'none' as const } : {}),
    retryInitialSeconds: 1,
    ...options.settings,
  });
  const password = options.password ?? null;
  const relay = await Relay.start({ dataDir, settings, password });
  const api = createApiHandlers(relay, { store: createFileSettingsStore(dataDir), password });
  const token = loadOrCreateConsoleToken(dataDir);
  const server = await startConsoleServer({ api, token, host: '127.0.0.1', port: 0, staticDir });
  const base = `http://127.0.0.1:${server.port}`;

  const request = (pathname: string, init: RequestInit = {}): Promise<Response> => {
    const headers = new Headers(init.headers);
    if (!headers.has('Authorization')) headers.set('Authorization', `Bearer ${token}`);
    return fetch(base + pathname, { ...init, headers });
  };

  return {
    relay,
    api,
    server,
    fake,
    dataDir,
    token,
    base,
    request,
    post: (pathname, body, headers = {}) =>
      request(pathname, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', ...headers },
        body: JSON.stringify(body),
      }),
    sendMail: async (count, subject) => {
      const address = relay.listenAddress;
      if (!address) throw new Error('The relay is not listening.');
      const client = await connectWithNodemailer({ host: address.host, port: address.port, ignoreTLS: true });
      for (let index = 0; index < count; index += 1) {
        await client.send(
          { from: `scanner${index}@office.test`, to: [`person${index}@example.test`] },
          `From: scanner${index}@office.test\r\nTo: person${index}@example.test\r\nSubject: ${subject(index)}\r\n\r\nPage ${index}\r\n`,
        );
      }
      await client.quit();
    },
    stop: async () => {
      await server.close();
      api.close();
      await relay.stop();
      await fake?.stop();
    },
  };
}

/** Polls `check` every 25 ms until it returns true, or fails after `timeoutMs`. */
export async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}.`);
}
