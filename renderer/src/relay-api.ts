// Chooses how the UI reaches the relay: the desktop app's preload exposes
// `window.relayApi` (Electron IPC); in a browser the web console's HTTP
// API is used, with the token that `serve` put in the URL fragment.
import { createHttpClient } from '../../core/api/http-client.ts';
import type { ConnectionState } from '../../core/api/http-client.ts';
import type { RelayApi } from '../../core/api/definition.ts';

declare global {
  interface Window {
    relayApi?: RelayApi;
  }
}

const TOKEN_STORAGE_KEY = 'smarthost-relay-console-token';

export type ApiSource =
  | { readonly kind: 'ready'; readonly api: RelayApi; readonly transport: 'ipc' | 'http' }
  | { readonly kind: 'no-token' };

/**
 * Takes the token out of a `#token=…` fragment and keeps it for this tab
 * only (sessionStorage), so it leaves the address bar and the history.
 */
export function takeTokenFromLocation(location: Location, history: History, storage: Storage): string | null {
  const match = /(?:^#|&)token=([A-Za-z0-9_-]+)/.exec(location.hash);
  if (match?.[1]) {
    storage.setItem(TOKEN_STORAGE_KEY, match[1]);
    history.replaceState(null, '', `${location.pathname}${location.search}#/`);
    return match[1];
  }
  return storage.getItem(TOKEN_STORAGE_KEY);
}

export function pickRelayApi(
  target: Window,
  onConnectionChange?: (state: ConnectionState) => void,
): ApiSource {
  if (target.relayApi) return { kind: 'ready', api: target.relayApi, transport: 'ipc' };

  const token = takeTokenFromLocation(target.location, target.history, target.sessionStorage);
  if (!token) return { kind: 'no-token' };
  const api = createHttpClient({ baseUrl: '', token, onConnectionChange });
  return { kind: 'ready', api, transport: 'http' };
}
