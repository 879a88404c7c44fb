/**
 * Preload of the window (compiled to dist/electron/preload.cjs, CommonJS,
 * because a sandboxed preload cannot load ES modules). Exposes only the
 * typed API as `window.relayApi`, as described in preload-bridge.ts.
 */
import { contextBridge, ipcRenderer } from 'electron';
import { createRelayApiBridge } from './preload-bridge.ts';

contextBridge.exposeInMainWorld('relayApi', createRelayApiBridge(ipcRenderer));
