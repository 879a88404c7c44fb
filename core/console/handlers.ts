/**
 * The relay's side of the API in core/api/definition.ts, on top of the
 * Relay's public methods. Both transports call what createApiHandlers
 * returns: the web console's HTTP server, and the desktop app's IPC
 * handlers (through invokeApiMethod). Every method validates its input
 * with the method's zod schema first, so no transport can skip it.
 *
 * Errors reach the caller as ApiError with a stable code: EINVALID and
 * ESETTINGS name the field, ENOT_FOUND a message that is gone, ESAVE a
 * change that was applied but could not be stored.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { ApiError, API_METHODS, parseApiInput } from '../api/definition.ts';
import type {
  ApiImplementation,
  ApiMethodName,
  ApiResult,
  RelayApi,
  RelayEventListener,
  SettingsPatch,
  SmartHostDraft,
} from '../api/definition.ts';
import type { SettingsView, SettingField, SettingsDescription } from '../api/model.ts';
import type { Relay } from '../relay.ts';
import { mergeSettings, parseSettingValue, SETTING_SPECS } from '../settings.ts';
import type { Settings } from '../settings.ts';
import { SettingsError } from '../errors.ts';
import { MessageNotFoundError } from '../queue-manager.ts';
import { PRESETS } from '../presets.ts';
import { AllowedNetworks } from '../networks.ts';
import type { SmartHostConfig } from '../smart-host-session.ts';
import type { AccessTokenProvider } from '../oauth/xoauth2.ts';
import { testSmartHost } from '../test-message.ts';
import type { SmartHostTestOptions } from '../test-message.ts';
import { ThroughputRecorder } from './throughput.ts';
import { readLogPage } from './log-reader.ts';
import type { SettingsStore } from './settings-file.ts';
import { signInApiMethods } from './sign-in.ts';
import type { SignInService } from './sign-in.ts';

// Fails to compile when the API accepts a key that Settings lacks.
const PATCH_KEYS_ARE_SETTINGS: Exclude<keyof SettingsPatch, keyof Settings> extends never ? true : false = true;
void PATCH_KEYS_ARE_SETTINGS;

/** Settings the running relay reads only at start-up (see Relay.updateSettings). */
export const RESTART_KEYS: readonly (keyof Settings)[] = [
  'listen',
  'allow',
  'defaultAllow',
  'maxMessageSizeMb',
  'tlsCert',
  'tlsKey',
  'tlsMinVersion',
  'allowPlaintextAuth',
  'deviceUsers',
  'clientTimeoutSeconds',
  'maxConnectionsPerClient',
  'authFailureLimit',
  'authLockoutMinutes',
  'hostname',
];

export interface ApiHandlerOptions {
  /** Persists settings and the password: files for `serve`, electron-store and the keychain for the desktop app. */
  readonly store: SettingsStore;
  /** The smart-host password the relay started with; tests of the saved settings use it. */
  readonly password: string | null;
  /** OAuth2 access tokens for tests with authMethod xoauth2, when the relay has a sign-in. */
  readonly tokens?: () => AccessTokenProvider | null;
  /** OAuth2 sign-in from the setup screen; without it getSignInStatus reports none and startSignIn fails. */
  readonly signIn?: SignInService;
  /** Defaults to `<data-dir>/logs/activity.log`. */
  readonly logFile?: string;
  readonly now?: () => number;
  /** Time-outs of "Test connection" and "Send test message", for tests. */
  readonly testTimeouts?: Pick<SmartHostTestOptions, 'connectTimeoutMs' | 'greetingTimeoutMs' | 'socketTimeoutMs'>;
}

/** A RelayApi served in process, plus close() to stop its event subscriptions. */
export interface ApiHandlers extends RelayApi {
  close(): void;
}

/** Calls one method by name and wraps its result or error, for a transport. */
export async function invokeApiMethod(api: RelayApi, name: string, input: unknown): Promise<ApiResult<unknown>> {
  if (!Object.hasOwn(API_METHODS, name)) {
    return { ok: false, error: { code: 'EUNKNOWN_METHOD', message: `There is no API method named ${JSON.stringify(name)}.` } };
  }
  try {
    const method = api[name as ApiMethodName] as (input: unknown) => Promise<unknown>;
    return { ok: true, value: await method(input) };
  } catch (error) {
    return { ok: false, error: toApiError(error).toBody() };
  }
}

/** Turns any error into an ApiError with a stable code. */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof MessageNotFoundError) {
    return new ApiError({ code: 'ENOT_FOUND', message: error.message });
  }
  if (error instanceof SettingsError) return settingsApiError(error);
  const message = error instanceof Error ? error.message : String(error);
  return new ApiError({ code: 'EINTERNAL', message: `The relay failed to carry out the request: ${message}` });
}

/**
 * Names the setting by its key, as the UI does. A SettingsError from
 * core/settings.ts names the settings-file key ("x in settings.json") or a
 * flag ("--retry-max"); its message starts with that same field text.
 */
function settingsApiError(error: SettingsError): ApiError {
  const spec = SETTING_SPECS.find(
    (candidate) => error.field === `${candidate.key} in settings.json` || error.field === `--${candidate.flag}`,
  );
  const key = spec?.key ?? error.field;
  return new ApiError({
    code: 'ESETTINGS',
    message: error.message.replace(error.field, key),
    field: key,
    value: error.value,
  });
}

function toView(settings: Settings, passwordSet: boolean): SettingsView {
  return {
    ...settings,
    deviceUsers: settings.deviceUsers.map((user) => ({ username: user.username })),
    passwordSet,
    allowedNetworks: AllowedNetworks.fromSettings(settings).cidrs,
  };
}

/** Checks each value's range with the settings table, as settings.json would be. */
function parsePatch(patch: SettingsPatch): Partial<Settings> {
  const parsed: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    const spec = SETTING_SPECS.find((candidate) => candidate.key === key);
    if (!spec) throw new ApiError({ code: 'EINVALID', message: `Unknown setting ${key}.`, field: key, value });
    // The table lists presets by name only; null means "no preset".
    parsed[key] = key === 'preset' && value === null ? null : parseSettingValue(spec, value, 'file');
  }
  return parsed as Partial<Settings>;
}

function describeSettings(): SettingsDescription {
  const fields: SettingField[] = SETTING_SPECS.map((spec) => ({
    key: spec.key,
    flag: spec.flag,
    argument: spec.argument,
    kind: spec.kind,
    description: spec.description,
  }));
  return { fields, presets: PRESETS, restartKeys: RESTART_KEYS };
}

export function createApiHandlers(relay: Relay, options: ApiHandlerOptions): ApiHandlers {
  const logFile = options.logFile ?? path.join(relay.dataDir, 'logs', 'activity.log');
  const throughput = new ThroughputRecorder(relay.bus, { now: options.now, logFile });
  let password = options.password;
  // A sign-in from the setup screen replaces the token source the relay started with.
  const currentTokens = (): AccessTokenProvider | null => options.signIn?.tokens ?? options.tokens?.() ?? null;

  async function smartHostConfig(draft: SmartHostDraft | undefined): Promise<SmartHostConfig> {
    const settings = relay.settings;
    const ca = settings.smarthostCa ? await fs.readFile(settings.smarthostCa, 'utf8') : null;
    if (draft) {
      return {
        host: draft.host,
        port: draft.port,
        security: draft.security,
        user: draft.user,
        password: draft.password ?? password,
        tlsVerify: draft.tlsVerify ?? settings.tlsVerify,
        ca,
        clientName: settings.hostname,
        replyTimeoutMs: settings.replyTimeoutSeconds * 1000,
        authMethod: settings.authMethod,
        tokens: currentTokens(),
      };
    }
    if (!settings.smarthost) {
      throw new ApiError({
        code: 'EINVALID',
        message: 'No smart host is configured yet. Enter its host and port first.',
        field: 'smarthost',
        value: null,
      });
    }
    return {
      ...settings.smarthost,
      security: settings.security,
      user: settings.user,
      password,
      tlsVerify: settings.tlsVerify,
      ca,
      clientName: settings.hostname,
      replyTimeoutMs: settings.replyTimeoutSeconds * 1000,
      authMethod: settings.authMethod,
      tokens: currentTokens(),
    };
  }

  function defaultSender(config: SmartHostConfig): string {
    if (config.user?.includes('@')) return config.user;
    return `postmaster@${config.clientName}`;
  }

  async function updateSettings(patchInput: SettingsPatch, newPassword: string | null | undefined): Promise<SettingsView> {
    const patch = parsePatch(patchInput);
    mergeSettings(relay.settings, patch);
    const applied = relay.updateSettings(patch, newPassword);
    if (newPassword !== undefined) password = newPassword;

    try {
      await options.store.saveSettings(patch);
      if (newPassword !== undefined) await options.store.savePassword(newPassword);
    } catch (error) {
      throw new ApiError({
        code: 'ESAVE',
        message: `The settings are in use now but could not be saved, so a restart loses them: ${(error as Error).message}`,
      });
    }
    return toView(applied, relay.passwordSet);
  }

  async function queueAction(id: string, action: (id: string) => Promise<void>): Promise<null> {
    await action(id);
    return null;
  }

  const implementation: ApiImplementation = {
    getStatus: async () => relay.status(),
    describeSettings: async () => describeSettings(),
    getSettings: async () => toView(relay.settings, relay.passwordSet),
    updateSettings: async (input) =>
      updateSettings(input.settings, input.password),
    testConnection: async (input) =>
      testSmartHost({ config: await smartHostConfig(input.smartHost), now: options.now, ...options.testTimeouts }),
    sendTestMessage: async (input) => {
      const config = await smartHostConfig(input.smartHost);
      const message = { from: input.from ?? defaultSender(config), to: input.to };
      return testSmartHost({ config, message, now: options.now, ...options.testTimeouts });
    },
    listQueue: async (input) => relay.listQueue(input),
    retryMessage: async (input) => queueAction(input.id, (id) => relay.queue.retryNow(id)),
    holdMessage: async (input) => queueAction(input.id, (id) => relay.queue.hold(id)),
    releaseMessage: async (input) => queueAction(input.id, (id) => relay.queue.release(id)),
    deleteMessage: async (input) => queueAction(input.id, (id) => relay.queue.remove(id)),
    exportMessage: async (input) => {
      const content = await relay.queue.exportMessage(input.id);
      return { fileName: `${input.id}.eml`, content: new Uint8Array(content.buffer, content.byteOffset, content.byteLength) };
    },
    pauseSending: async () => {
      relay.pause();
      return null;
    },
    resumeSending: async () => ({ resumed: relay.resume() }),
    readLog: async (input) => readLogPage(logFile, input),
    getThroughput: async (input) => throughput.series(input.range),
    ...signInApiMethods(options.signIn, () => relay.settings),
  };

  const handlers: Record<string, unknown> = {
    subscribe: (listener: RelayEventListener) =>
      relay.bus.subscribe((record) => {
        const fields: Record<string, string | number | boolean> = {};
        for (const [key, value] of Object.entries(record.fields)) if (value !== undefined) fields[key] = value;
        listener({ event: record.event, time: record.time, fields });
      }),
    close: () => throughput.close(),
  };
  for (const [name, run] of Object.entries(implementation)) {
    handlers[name] = async (input: unknown) => {
      try {
        return await (run as (input: unknown) => Promise<unknown>)(parseApiInput(name as ApiMethodName, input));
      } catch (error) {
        throw toApiError(error);
      }
    };
  }
  return handlers as unknown as ApiHandlers;
}
