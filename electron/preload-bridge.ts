/**
 * The renderer's end of the typed API over IPC. The preload exposes the
 * object this returns as `window.relayApi`. It is both a RelayApi (one
 * async function per method) and an ApiTransport (`call`, `subscribe`).
 *
 * contextBridge copies only the message of an error thrown across it
 * (see Electron's context-bridge docs), so a RelayApi method called from
 * the page rejects with a plain Error: ApiError's code and field are
 * lost. Envelopes from `call` cross intact, so the renderer keeps them
 * with `createApiClient(window.relayApi)`, which rebuilds the ApiError on
 * its own side of the bridge.
 *
 * Runs in the sandboxed preload, so it may import nothing from Node.
 */
import { API_METHOD_NAMES, IPC_EVENT_CHANNEL, createApiClient, ipcChannel } from '../core/api/definition.ts';
import type {
  ApiMethodName,
  ApiResult,
  ApiTransport,
  RelayApi,
  RelayEventListener,
} from '../core/api/definition.ts';
import type { RelayEventView } from '../core/api/model.ts';

/** The part of Electron's ipcRenderer used here. */
export interface IpcRendererPort {
  invoke(channel: string, ...args: unknown[]): Promise<unknown>;
  on(channel: string, listener: (event: unknown, ...args: unknown[]) => void): unknown;
  removeListener(channel: string, listener: (event: unknown, ...args: unknown[]) => void): unknown;
}

const METHOD_NAMES: ReadonlySet<string> = new Set<string>(API_METHOD_NAMES);

export type RelayApiBridge = RelayApi & ApiTransport;

/** Builds the transport over ipcRenderer, and the RelayApi on top of it. */
export function createRelayApiBridge(ipcRenderer: IpcRendererPort): RelayApiBridge {
  const transport = createIpcTransport(ipcRenderer);
  return { ...createApiClient(transport), call: transport.call };
}

function createIpcTransport(ipcRenderer: IpcRendererPort): ApiTransport {
  return {
    async call(name: ApiMethodName, input: unknown): Promise<ApiResult<unknown>> {
      if (!METHOD_NAMES.has(name)) {
        return { ok: false, error: { code: 'EUNKNOWN_METHOD', message: `Unknown API method: ${String(name)}.` } };
      }
      return (await ipcRenderer.invoke(ipcChannel(name), input ?? {})) as ApiResult<unknown>;
    },

    subscribe(listener: RelayEventListener): () => void {
      const handler = (_event: unknown, view: unknown) => listener(view as RelayEventView);
      ipcRenderer.on(IPC_EVENT_CHANNEL, handler);
      return () => {
        ipcRenderer.removeListener(IPC_EVENT_CHANNEL, handler);
      };
    },
  };
}
