/**
 * The relay's API for its user interfaces, as one table of methods. Each
 * entry names the method and gives its zod input schema, its result type
 * and its HTTP route. Two transports implement the table: the web console
 * (HTTP and server-sent events, core/console/server.ts) and the desktop
 * window (Electron IPC through the preload). The renderer talks to the
 * relay only through a `RelayApi`, whichever transport is underneath.
 *
 * A transport carries `ApiResult` envelopes instead of thrown errors,
 * because Electron IPC keeps only the message of an error thrown in the
 * main process, and the UI needs the code and the field as well.
 *
 * No Node imports: the renderer bundles this file.
 */
import { z } from 'zod';
import type {
  ExportedMessage,
  LogPage,
  QueuePage,
  RelayEventView,
  RelayStatus,
  SettingsDescription,
  SettingsView,
  SmartHostTestResult,
  ThroughputSeries,
} from './model.ts';
import type { PendingSignIn, SignInStatus } from './sign-in-status.ts';

// ---------------------------------------------------------------------------
// Input schemas
// ---------------------------------------------------------------------------

/** Queue ids are 19 upper-case base-36 characters, but this accepts any short token of letters and digits. */
const queueId = z.string().regex(/^[A-Za-z0-9]{1,64}$/, 'a queue id of letters and digits');

/**
 * An address in an SMTP envelope. zod's z.email() rejects addresses such
 * as root@localhost that a smart host may accept, so this checks only the
 * shape local@domain without spaces or angle brackets.
 */
export const mailAddress = z
  .string()
  .max(254)
  .regex(/^[^\s@<>]+@[^\s@<>]+$/, 'an email address such as office@example.com');

const hostPort = z.union([
  z.string(),
  z.strictObject({ host: z.string().min(1).max(253), port: z.number() }),
]);

/** A number, or null for "no budget". */
const optionalBudget = z.number().nullable();

/**
 * Settings that a user interface may change. Values are checked here for
 * their type only; core/settings.ts checks their ranges, so the error names
 * the same range as the command line's `--help`. Paths of files on the
 * relay's machine (TLS certificate, key, CA) and device password hashes
 * are left to settings.json.
 */
export const settingsPatchSchema = z
  .strictObject({
    listen: hostPort,
    allow: z.array(z.string()).max(256),
    defaultAllow: z.boolean(),
    maxMessageSizeMb: z.number(),
    tlsMinVersion: z.enum(['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3']),
    allowPlaintextAuth: z.boolean(),
    hostname: z.string(),
    smarthost: hostPort.nullable(),
    security: z.enum(['starttls', 'tls', 'none']),
    user: z.string().nullable(),
    tlsVerify: z.boolean(),
    maxConnections: z.number(),
    maxMessagesPerConnection: z.number(),
    idleTimeoutSeconds: z.number(),
    retryInitialSeconds: z.number(),
    retryMaxSeconds: z.number(),
    queueLifetimeHours: z.number(),
    preset: z.string().nullable(),
    maxRecipientsPerMessage: z.number(),
    minGapMs: z.number(),
    maxMessagesPerMinute: optionalBudget,
    maxMessagesPerHour: optionalBudget,
    maxMessagesPerDay: optionalBudget,
    maxRecipientsPerMinute: optionalBudget,
    maxRecipientsPerHour: optionalBudget,
    maxRecipientsPerDay: optionalBudget,
    blacklistCooldownMinutes: z.number(),
    quotaPauseMinutes: z.number(),
    rewriteSender: z.string().nullable(),
    rewriteFromHeader: z.boolean(),
    queueAgeAlertMinutes: z.number(),
    replyTimeoutSeconds: z.number(),
    authMethod: z.enum(['password', 'xoauth2']),
    oauthProvider: z.enum(['microsoft', 'google', 'custom']),
    oauthClientId: z.string().nullable(),
    oauthTenant: z.string().nullable(),
    oauthTokenUrl: z.string().nullable(),
    oauthScope: z.string().nullable(),
    oauthDeviceAuthorizationUrl: z.string().nullable(),
    oauthAuthorizationUrl: z.string().nullable(),
  })
  .partial();

export type SettingsPatch = z.infer<typeof settingsPatchSchema>;

/**
 * Smart-host settings typed into the setup form but not saved yet, so a
 * test can run before the user commits to them.
 */
export const smartHostDraftSchema = z.strictObject({
  host: z.string().min(1).max(253),
  port: z.number().int().min(1).max(65_535),
  security: z.enum(['starttls', 'tls', 'none']),
  user: z.string().max(512).nullable(),
  /** Omitted: use the saved password. */
  password: z.string().max(1024).optional(),
  tlsVerify: z.boolean().optional(),
});

export type SmartHostDraft = z.infer<typeof smartHostDraftSchema>;

const noInput = z.strictObject({});
const messageRef = z.strictObject({ id: queueId });

// Page sizes above this gain nothing on screen and cost a long response.
export const MAX_QUEUE_PAGE = 500;
export const MAX_LOG_LINES = 1000;

// ---------------------------------------------------------------------------
// The method table
// ---------------------------------------------------------------------------

/** `json` results travel as JSON; `binary` ones (an .eml file) as raw bytes over HTTP. */
type ResultEncoding = 'json' | 'binary';

interface MethodSpec<Input extends z.ZodType, Output> {
  readonly input: Input;
  /** GET for methods that change nothing, POST for the others. */
  readonly http: { readonly method: 'GET' | 'POST'; readonly path: string };
  readonly result: ResultEncoding;
  readonly summary: string;
  /** Carries the result type only; it has no value at run time. */
  readonly output?: Output;
}

/** Declares a method whose result type is Output. */
function method<Output>() {
  return <Input extends z.ZodType>(spec: Omit<MethodSpec<Input, Output>, 'output'>) =>
    spec as MethodSpec<Input, Output>;
}

export const API_METHODS = {
  getStatus: method<RelayStatus>()({
    input: noInput,
    http: { method: 'GET', path: '/api/status' },
    result: 'json',
    summary: 'Queue counts by state, open connections, state of each smart host, alerts.',
  }),
  describeSettings: method<SettingsDescription>()({
    input: noInput,
    http: { method: 'GET', path: '/api/settings/fields' },
    result: 'json',
    summary: 'Every setting with its unit and range, and the smart-host presets.',
  }),
  getSettings: method<SettingsView>()({
    input: noInput,
    http: { method: 'GET', path: '/api/settings' },
    result: 'json',
    summary: 'Current settings; the password only as passwordSet.',
  }),
  updateSettings: method<SettingsView>()({
    input: z.strictObject({
      settings: settingsPatchSchema,
      /** Omitted keeps the password, and null removes it. */
      password: z.string().min(1).max(1024).nullable().optional(),
    }),
    http: { method: 'POST', path: '/api/settings' },
    result: 'json',
    summary: 'Validates, applies and saves the given settings and returns all of them.',
  }),
  testConnection: method<SmartHostTestResult>()({
    input: z.strictObject({ smartHost: smartHostDraftSchema.optional() }),
    http: { method: 'POST', path: '/api/smarthost/test-connection' },
    result: 'json',
    summary: 'Connects, upgrades to TLS and signs in to the smart host, then quits.',
  }),
  sendTestMessage: method<SmartHostTestResult>()({
    input: z.strictObject({
      to: mailAddress,
      /** Omitted: the smart-host user if it is an address, else postmaster@hostname. */
      from: mailAddress.optional(),
      smartHost: smartHostDraftSchema.optional(),
    }),
    http: { method: 'POST', path: '/api/smarthost/test-message' },
    result: 'json',
    summary: 'Sends a short test message straight to the smart host and returns the dialogue.',
  }),
  listQueue: method<QueuePage>()({
    input: z.strictObject({
      offset: z.coerce.number<number>().int().min(0).default(0),
      limit: z.coerce.number<number>().int().min(1).max(MAX_QUEUE_PAGE).default(50),
      state: z.enum(['active', 'deferred', 'held', 'sending']).optional(),
      search: z.string().max(256).optional(),
    }),
    http: { method: 'GET', path: '/api/queue' },
    result: 'json',
    summary: 'One page of the queue, oldest first, filtered by state and text.',
  }),
  retryMessage: method<null>()({
    input: messageRef,
    http: { method: 'POST', path: '/api/queue/retry' },
    result: 'json',
    summary: 'Makes a message due now, whatever its backoff.',
  }),
  holdMessage: method<null>()({
    input: messageRef,
    http: { method: 'POST', path: '/api/queue/hold' },
    result: 'json',
    summary: 'Keeps a message queued without sending it.',
  }),
  releaseMessage: method<null>()({
    input: messageRef,
    http: { method: 'POST', path: '/api/queue/release' },
    result: 'json',
    summary: 'Sends a held message again.',
  }),
  deleteMessage: method<null>()({
    input: messageRef,
    http: { method: 'POST', path: '/api/queue/delete' },
    result: 'json',
    summary: 'Deletes a message for good, without a bounce.',
  }),
  exportMessage: method<ExportedMessage>()({
    input: messageRef,
    http: { method: 'GET', path: '/api/queue/export' },
    result: 'binary',
    summary: 'The stored message as an .eml file.',
  }),
  pauseSending: method<null>()({
    input: noInput,
    http: { method: 'POST', path: '/api/pause' },
    result: 'json',
    summary: 'Stops sending to the smart host; devices can still queue mail.',
  }),
  resumeSending: method<{ resumed: boolean }>()({
    input: noInput,
    http: { method: 'POST', path: '/api/resume' },
    result: 'json',
    summary: 'Ends any pause (user, blocklist, quota, credentials) and sends again.',
  }),
  readLog: method<LogPage>()({
    input: z.strictObject({
      limit: z.coerce.number<number>().int().min(1).max(MAX_LOG_LINES).default(200),
      search: z.string().max(256).optional(),
      /** Byte offset from a previous page's nextBefore. */
      before: z.coerce.number<number>().int().min(0).optional(),
    }),
    http: { method: 'GET', path: '/api/log' },
    result: 'json',
    summary: 'The newest activity-log lines, optionally only those containing a text.',
  }),
  getThroughput: method<ThroughputSeries>()({
    input: z.strictObject({ range: z.enum(['hour', 'day']).default('hour') }),
    http: { method: 'GET', path: '/api/throughput' },
    result: 'json',
    summary: 'Messages sent, deferred, bounced and queued per minute (hour) or quarter hour (day).',
  }),
  getSignInStatus: method<SignInStatus>()({
    input: noInput,
    http: { method: 'GET', path: '/api/sign-in' },
    result: 'json',
    summary: 'State of the OAuth2 sign-in of the smart-host account and of a sign-in in progress; never a token.',
  }),
  startSignIn: method<PendingSignIn>()({
    input: z.strictObject({ flow: z.enum(['browser', 'device']) }),
    http: { method: 'POST', path: '/api/sign-in/start' },
    result: 'json',
    summary: 'Starts an OAuth2 sign-in with the saved OAuth settings, replacing one in progress.',
  }),
  cancelSignIn: method<{ cancelled: boolean }>()({
    input: noInput,
    http: { method: 'POST', path: '/api/sign-in/cancel' },
    result: 'json',
    summary: 'Ends the sign-in in progress, if any.',
  }),
} as const;

export type ApiMethodName = keyof typeof API_METHODS;

export const API_METHOD_NAMES = Object.keys(API_METHODS) as ApiMethodName[];

/** Route of the server-sent event stream of relay events. */
export const API_EVENTS_PATH = '/api/events';

export type ApiInput<Name extends ApiMethodName> = z.input<(typeof API_METHODS)[Name]['input']>;
export type ApiParsedInput<Name extends ApiMethodName> = z.output<(typeof API_METHODS)[Name]['input']>;
export type ApiOutput<Name extends ApiMethodName> = Exclude<(typeof API_METHODS)[Name]['output'], undefined>;

export type RelayEventListener = (event: RelayEventView) => void;

/**
 * The API as the renderer sees it: one async function per method, plus a
 * live feed of relay events. Every function rejects with an ApiError.
 */
export type RelayApi = {
  readonly [Name in ApiMethodName]: (input: ApiInput<Name>) => Promise<ApiOutput<Name>>;
} & {
  /** Calls `listener` for every relay event until the returned function is called. */
  subscribe(listener: RelayEventListener): () => void;
};

/** The server side of each method, called with input that zod has parsed. */
export type ApiImplementation = {
  readonly [Name in ApiMethodName]: (input: ApiParsedInput<Name>) => Promise<ApiOutput<Name>>;
};

// ---------------------------------------------------------------------------
// Errors and result envelopes
// ---------------------------------------------------------------------------

export type ApiErrorCode =
  /** The input failed validation; `field` names it. */
  | 'EINVALID'
  /** A setting is outside its allowed range; `field` names it. */
  | 'ESETTINGS'
  | 'ENOT_FOUND'
  | 'EUNKNOWN_METHOD'
  /** HTTP only: missing or wrong token. */
  | 'EUNAUTHORIZED'
  /** HTTP only: a cross-site or wrongly typed request. */
  | 'EFORBIDDEN'
  /** HTTP only: GET where POST is needed, or the reverse. */
  | 'EMETHOD'
  /** The settings were applied but could not be saved. */
  | 'ESAVE'
  /** An OAuth2 sign-in could not start. `value` is the OAuth2 error code (EOAUTH_*). */
  | 'EOAUTH'
  /** Client side: no response from the relay. */
  | 'EUNREACHABLE'
  | 'EINTERNAL';

export interface ApiErrorBody {
  readonly code: ApiErrorCode;
  readonly message: string;
  /** The input or setting at fault, such as `maxConnections`. */
  readonly field?: string | undefined;
  readonly value?: unknown;
}

export type ApiResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: ApiErrorBody };

const HTTP_STATUS: Readonly<Record<ApiErrorCode, number>> = {
  EINVALID: 400,
  ESETTINGS: 400,
  ENOT_FOUND: 404,
  EUNKNOWN_METHOD: 404,
  EUNAUTHORIZED: 401,
  EFORBIDDEN: 403,
  EMETHOD: 405,
  ESAVE: 500,
  EOAUTH: 422,
  EUNREACHABLE: 503,
  EINTERNAL: 500,
};

export class ApiError extends Error {
  readonly code: ApiErrorCode;
  readonly field: string | undefined;
  readonly value: unknown;

  constructor(body: ApiErrorBody) {
    super(body.message);
    this.name = 'ApiError';
    this.code = body.code;
    this.field = body.field;
    this.value = body.value;
  }

  get httpStatus(): number {
    return HTTP_STATUS[this.code];
  }

  toBody(): ApiErrorBody {
    return { code: this.code, message: this.message, field: this.field, value: this.value };
  }
}

/** Returns the value of a result, or throws its error as an ApiError. */
export function unwrapApiResult<T>(result: ApiResult<T>): T {
  if (result.ok) return result.value;
  throw new ApiError(result.error);
}

/** Formats a value for an error message the way core/errors.ts does. */
function formatValue(value: unknown): string {
  if (value === undefined) return 'missing';
  return JSON.stringify(value) ?? String(value);
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let current: unknown = input;
  for (const key of path) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

/** Says what a failed zod check wanted, in the words of core/settings.ts's errors. */
function describeExpected(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return `a value of type ${issue.expected}`;
    case 'too_small':
      return issue.origin === 'string' ? `at least ${issue.minimum} characters` : `at least ${issue.minimum}`;
    case 'too_big':
      return issue.origin === 'string' ? `at most ${issue.maximum} characters` : `at most ${issue.maximum}`;
    case 'invalid_value':
      return `one of ${issue.values.map((value) => String(value)).join(', ')}`;
    case 'unrecognized_keys':
      return 'only known fields';
    default:
      // Custom messages of this file, such as "an email address such as ...".
      return issue.message;
  }
}

/**
 * Validates the input of a method. Throws an ApiError (EINVALID) that
 * names the field, the value and what was expected.
 */
export function parseApiInput<Name extends ApiMethodName>(name: Name, input: unknown): ApiParsedInput<Name> {
  const result = API_METHODS[name].input.safeParse(input ?? {});
  if (result.success) return result.data as ApiParsedInput<Name>;

  const issue = result.error.issues[0];
  const path = issue?.path ?? [];
  // A settings patch is one level down, and the form labels its fields by
  // the setting's key, so the field is the key alone.
  const field = path.filter((key) => key !== 'settings' && key !== 'smartHost').join('.') || path.join('.');
  const value = issue?.code === 'unrecognized_keys' ? issue.keys.join(', ') : valueAt(input, path);
  const expected = issue ? describeExpected(issue) : 'valid input';
  throw new ApiError({
    code: 'EINVALID',
    message: `Invalid value for ${field || name}: ${formatValue(value)}. Expected ${expected}.`,
    field: field || undefined,
    value,
  });
}

/** Transport seam for createApiClient: HTTP here, ipcRenderer.invoke in the preload. */
export interface ApiTransport {
  call(name: ApiMethodName, input: unknown): Promise<ApiResult<unknown>>;
  subscribe(listener: RelayEventListener): () => void;
}

/** Builds a RelayApi whose every method goes through `transport`. */
export function createApiClient(transport: ApiTransport): RelayApi {
  const api: Record<string, unknown> = {
    subscribe: (listener: RelayEventListener) => transport.subscribe(listener),
  };
  for (const name of API_METHOD_NAMES) {
    api[name] = async (input: unknown) => unwrapApiResult(await transport.call(name, input ?? {}));
  }
  return api as RelayApi;
}

/** Electron IPC channel of a method, e.g. `relay:getStatus`. */
export function ipcChannel(name: ApiMethodName): string {
  return `relay:${name}`;
}

/** Electron IPC channel on which the main process sends RelayEventView objects. */
export const IPC_EVENT_CHANNEL = 'relay:event';
