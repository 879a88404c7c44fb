/**
 * Starts the web console for `serve --admin HOST:PORT`: the token, the
 * API handlers on the running relay, and the HTTP server. Returns the URL
 * to open (with the token in the fragment, which browsers never send to
 * a server) and a warning when the console is reachable from the network.
 */
import net from 'node:net';
import type { Relay } from '../relay.ts';
import type { HostPort } from '../settings.ts';
import type { AccessTokenProvider } from '../oauth/xoauth2.ts';
import { createApiHandlers } from './handlers.ts';
import type { SignInService } from './sign-in.ts';
import { startConsoleServer } from './server.ts';
import { createFileSettingsStore } from './settings-file.ts';
import { DEFAULT_STATIC_DIR } from './static-files.ts';
import { loadOrCreateConsoleToken } from './token.ts';

export interface WebConsoleOptions {
  readonly relay: Relay;
  readonly address: HostPort;
  /** The smart-host password serve started with. */
  readonly password: string | null;
  /** OAuth2 access tokens, for tests with authMethod xoauth2. */
  readonly tokens?: AccessTokenProvider | null;
  /** OAuth2 sign-in from the setup screen. */
  readonly signIn?: SignInService | undefined;
  readonly staticDir?: string;
}

export interface WebConsole {
  /** Ready-to-open address, token included. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Set when the console listens on more than loopback. */
  readonly warning: string | null;
  close(): Promise<void>;
}

export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (net.isIPv4(host)) return host.startsWith('127.');
  return host === '::1';
}

function urlHost(host: string): string {
  // A browser cannot open a wildcard address, but loopback reaches it.
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return net.isIPv6(host) ? `[${host}]` : host;
}

export async function startWebConsole(options: WebConsoleOptions): Promise<WebConsole> {
  const { relay, address } = options;
  const token = loadOrCreateConsoleToken(relay.dataDir);
  const api = createApiHandlers(relay, {
    store: createFileSettingsStore(relay.dataDir),
    password: options.password,
    tokens: () => options.tokens ?? null,
    signIn: options.signIn,
  });
  let server;
  try {
    server = await startConsoleServer({
      api,
      token,
      host: address.host,
      port: address.port,
      staticDir: options.staticDir ?? DEFAULT_STATIC_DIR,
      onError: (error) => options.relay.bus.emit('ERROR', { what: 'web console request failed', error: error.message }),
    });
  } catch (error) {
    api.close();
    throw error;
  }

  const warning = isLoopback(address.host)
    ? null
    : `the web console listens on ${address.host}, so other machines can reach it; ` +
      'anyone with the URL can change the relay, and it is plain HTTP, so use it only on a trusted network.';
  return {
    url: `http://${urlHost(address.host)}:${server.port}/#token=${token}`,
    host: server.host,
    port: server.port,
    warning,
    close: async () => {
      await server.close();
      api.close();
    },
  };
}
