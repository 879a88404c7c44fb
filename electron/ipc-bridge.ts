/**
 * The main-process end of the typed API (core/api/definition.ts) over
 * Electron IPC: one `ipcMain.handle` per method on channel
 * `relay:<method>`, and relay events pushed on `relay:event`.
 *
 * Every call is checked twice before it reaches the relay: the sender
 * must be a frame of the app's own page (app://relay/), and the input must
 * pass the method's zod schema (parseApiInput). Calls return an
 * ApiResult envelope instead of throwing, because Electron passes only the
 * message of an error thrown in a handler, and the UI needs the code and
 * the field too.
 */
import {
  API_METHOD_NAMES,
  ApiError,
  IPC_EVENT_CHANNEL,
  ipcChannel,
  parseApiInput,
} from '../core/api/definition.ts';
import type { ApiMethodName, ApiResult, RelayApi } from '../core/api/definition.ts';
import type { RelayEventView } from '../core/api/model.ts';
import { invokeApiMethod } from '../core/console/handlers.ts';
import type { RelayEvent } from '../core/events.ts';
import type { IpcInvokeEventPort, IpcMainPort, WebContentsPort } from './modules.ts';
import { isAppUrl } from './security.ts';

export type ReportError = (context: string, error: unknown) => void;

/**
 * Validates the input with the method's zod schema, then calls it. The
 * handlers (core/console/handlers.ts) validate again, so no caller can
 * skip the check; this one keeps invalid input from reaching them at all.
 * An EINTERNAL outcome is logged, because it means a bug.
 */
export async function callApiMethod(
  api: RelayApi,
  name: ApiMethodName,
  input: unknown,
  reportError: ReportError,
): Promise<ApiResult<unknown>> {
  let parsed: unknown;
  try {
    parsed = parseApiInput(name, input);
  } catch (error) {
    if (error instanceof ApiError) return { ok: false, error: error.toBody() };
    throw error;
  }

  const result = await invokeApiMethod(api, name, parsed);
  if (!result.ok && result.error.code === 'EINTERNAL') reportError(`handle ${name}`, new Error(result.error.message));
  return result;
}

function isTrustedSender(event: IpcInvokeEventPort): boolean {
  const url = event.senderFrame?.url;
  return url !== undefined && isAppUrl(url);
}

export interface ApiIpcOptions {
  readonly ipcMain: IpcMainPort;
  readonly api: RelayApi;
  readonly reportError: ReportError;
}

/** Registers a handler per API method; returns a function that removes them. */
export function registerApiIpc(options: ApiIpcOptions): () => void {
  const { ipcMain, api, reportError } = options;

  for (const name of API_METHOD_NAMES) {
    ipcMain.handle(ipcChannel(name), async (event, ...args) => {
      if (!isTrustedSender(event)) {
        reportError(`handle ${name}`, new Error(`rejected a call from ${event.senderFrame?.url ?? 'a closed frame'}`));
        return { ok: false, error: { code: 'EFORBIDDEN', message: 'Only the app\'s own window may call the relay.' } };
      }
      if (args.length > 1) {
        return { ok: false, error: { code: 'EINVALID', message: `${name} takes one input object, got ${args.length} arguments.` } };
      }
      return callApiMethod(api, name, args[0], reportError);
    });
  }

  return () => {
    for (const name of API_METHOD_NAMES) ipcMain.removeHandler(ipcChannel(name));
  };
}

/** Converts a relay event for the renderer, dropping fields without a value. */
export function toEventView(event: RelayEvent): RelayEventView {
  const fields: Record<string, string | number | boolean> = {};
  for (const [key, value] of Object.entries(event.fields)) {
    if (value !== undefined) fields[key] = value;
  }
  return { event: event.event, time: event.time, fields };
}

/** Sends every relay event to the window while it exists; returns the unsubscribe function. */
export function forwardRelayEvents(
  subscribe: (listener: (event: RelayEvent) => void) => () => void,
  webContents: () => WebContentsPort | null,
): () => void {
  return subscribe((event) => {
    const contents = webContents();
    if (!contents || contents.isDestroyed()) return;
    contents.send(IPC_EVENT_CHANNEL, toEventView(event));
  });
}
