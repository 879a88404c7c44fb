// OAuth2 sign-in through the API, as the setup screen and "Sign in again"
// use it: an in-process relay with its web console's HTTP server, a fake
// authorization server and a fake smart host that accepts only XOAUTH2,
// all on 127.0.0.1. Every fetch of the relay's OAuth code goes through
// loopbackFetch, so no test can reach a real provider.
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiError } from '../core/api/definition.ts';
import type { RelayApi } from '../core/api/definition.ts';
import { createHttpClient } from '../core/api/http-client.ts';
import { createApiHandlers } from '../core/console/handlers.ts';
import type { ApiHandlers } from '../core/console/handlers.ts';
import { startConsoleServer } from '../core/console/server.ts';
import type { ConsoleServer } from '../core/console/server.ts';
import { createFileSettingsStore } from '../core/console/settings-file.ts';
import { SignInService } from '../core/console/sign-in.ts';
import type { RelayEvent } from '../core/events.ts';
import { resolveOAuthClient } from '../core/oauth/providers.ts';
import { FileTokenStore, TOKEN_FILE_NAME, grantFor } from '../core/oauth/token-store.ts';
import { Relay } from '../core/relay.ts';
import { mergeSettings } from '../core/settings.ts';
import type { Settings } from '../core/settings.ts';
import { connectWithNodemailer } from './support/clients.ts';
import { waitFor } from './support/console-harness.ts';
import { startFakeOAuthServer } from './support/fake-oauth-server.ts';
import type { FakeOAuthServer, FakeOAuthServerOptions } from './support/fake-oauth-server.ts';
import type { FakeSmartHost } from './support/fake-smarthost.ts';
import {
  DEVICE_CODE_GRANT,
  FAKE_USER_CODE,
  MAILBOX,
  REFRESH_GRANT,
  followAuthorizationUrl,
  loopbackFetch,
  oauthSettings,
  startXOAuth2SmartHost,
} from './support/sign-in-helpers.ts';
import { useTempDirs } from './support/tmp.ts';

const createTempDir = useTempDirs();
const CONSOLE_TOKEN = 'sign-in-test-token';
const WAIT_MS = 15_000;

interface Rig {
  readonly oauth: FakeOAuthServer;
  readonly fake: FakeSmartHost;
  readonly relay: Relay;
  readonly api: RelayApi;
  readonly dataDir: string;
  /** URLs that the injected openUrl received. */
  readonly opened: string[];
  /** Pages the relay's loopback callback returned to the simulated browser. */
  readonly callbackPages: { status: number; text: string }[];
  readonly events: RelayEvent[];
  count(word: string): number;
  waitForEvent(word: string, count?: number): Promise<void>;
  sendMail(count: number): Promise<void>;
}

interface RigOptions {
  readonly oauth?: FakeOAuthServerOptions;
  /** 'follow': openUrl follows the URL like a browser, as on the desktop. 'none': the caller opens it, as in the web console. */
  readonly openUrl?: 'follow' | 'none';
  readonly settings?: (oauth: FakeOAuthServer) => Partial<Settings>;
  /** A refresh token saved as the stored grant before the relay starts. */
  readonly storedRefreshToken?: (oauth: FakeOAuthServer) => string;
}

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startRig(options: RigOptions = {}): Promise<Rig> {
  const oauth = await startFakeOAuthServer(options.oauth);
  cleanups.push(() => oauth.stop());
  const fake = await startXOAuth2SmartHost(oauth);
  cleanups.push(() => fake.stop());

  const dataDir = await createTempDir('sign-in');
  const settings = mergeSettings({
    listen: { host: '127.0.0.1', port: 0 },
    hostname: 'relay.test',
    smarthost: { host: fake.host, port: fake.port },
    security: 'none',
    user: MAILBOX,
    retryInitialSeconds: 1,
    ...oauthSettings(oauth),
    ...options.settings?.(oauth),
  });
  const store = FileTokenStore.inDataDir(dataDir);
  if (options.storedRefreshToken) {
    const client = resolveOAuthClient(oauth.settings({ scope: settings.oauthScope }));
    await store.save(grantFor(client, options.storedRefreshToken(oauth)));
  }

  const opened: string[] = [];
  const callbackPages: { status: number; text: string }[] = [];
  const openUrl = async (url: string): Promise<void> => {
    opened.push(url);
    // shell.openExternal returns before the browser has loaded the page.
    void followAuthorizationUrl(url).then((page) => callbackPages.push(page));
  };
  const signIn = new SignInService({ store, fetch: loopbackFetch, openUrl: options.openUrl === 'none' ? undefined : openUrl });
  const tokens = await signIn.load(settings);
  const relay = await Relay.start({ dataDir, settings, password: null, tokens });
  const events: RelayEvent[] = [];
  relay.bus.subscribe((event) => events.push(event));
  signIn.attach(relay);

  const handlers: ApiHandlers = createApiHandlers(relay, { store: createFileSettingsStore(dataDir), password: null, signIn });
  const server: ConsoleServer = await startConsoleServer({
    api: handlers,
    token: CONSOLE_TOKEN,
    host: '127.0.0.1',
    port: 0,
    staticDir: dataDir,
  });
  cleanups.push(async () => {
    await server.close();
    handlers.close();
    signIn.close();
    await relay.stop();
  });

  const count = (word: string) => events.filter((event) => event.event === word).length;
  return {
    oauth,
    fake,
    relay,
    api: createHttpClient({ baseUrl: `http://127.0.0.1:${server.port}`, token: CONSOLE_TOKEN }),
    dataDir,
    opened,
    callbackPages,
    events,
    count,
    waitForEvent: (word, times = 1) => waitFor(() => count(word) >= times, `${times} ${word} event(s)`, WAIT_MS),
    sendMail: async (messages) => {
      const address = relay.listenAddress;
      if (!address) throw new Error('The relay is not listening.');
      const client = await connectWithNodemailer({ host: address.host, port: address.port, ignoreTLS: true });
      for (let index = 0; index < messages; index += 1) {
        await client.send(
          { from: 'scanner@office.test', to: [`person${index}@example.test`] },
          `From: scanner@office.test\r\nTo: person${index}@example.test\r\nSubject: Scan ${index}\r\n\r\nPage ${index}\r\n`,
        );
      }
      await client.quit();
    },
  };
}

async function rejectionOf(promise: Promise<unknown>): Promise<ApiError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ApiError);
  return error as ApiError;
}

/** Reads the stored grant and checks that only its owner can read the file. */
async function readGrantFile(dataDir: string): Promise<Record<string, unknown>> {
  const file = path.join(dataDir, TOKEN_FILE_NAME);
  expect(((await stat(file)).mode & 0o777).toString(8)).toBe('600');
  return JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
}

/** Checks that no token of `oauth` appears in the activity log or in `texts`. */
async function expectNoTokens(rig: Rig, texts: readonly string[]): Promise<void> {
  const log = await readFile(path.join(rig.dataDir, 'logs', 'activity.log'), 'utf8');
  const tokens = [...rig.oauth.liveRefreshTokens, ...rig.oauth.accessTokens.keys()];
  expect(tokens.length).toBeGreaterThan(0);
  for (const [index, text] of [log, ...texts].entries()) {
    for (const token of tokens) {
      // The message does not print the token itself.
      expect(text.includes(token), `a token appears in text #${index}`).toBe(false);
    }
  }
}

describe('browser sign-in through the API', () => {
  it('opens the URL, delivers with XOAUTH2', async () => {
    const rig = await startRig();
    const before = await rig.api.getSignInStatus({});
    expect(before.available).toBe(true);
    expect(before.signedIn).toBe(false);
    expect(before.token).toBeNull();
    expect(before.opensBrowser).toBe(true);
    expect(before.flows.browser).toEqual({ available: true, reason: null });

    const pending = await rig.api.startSignIn({ flow: 'browser' });
    if (pending.flow !== 'browser') throw new Error(`expected a browser sign-in, got ${pending.flow}`);
    expect(pending.authorizationUrl.startsWith(rig.oauth.url('/authorize?'))).toBe(true);
    expect(pending.expiresAt).toBeGreaterThan(Date.now());
    await rig.waitForEvent('SIGNED_IN');

    expect(rig.opened).toEqual([pending.authorizationUrl]);
    await waitFor(() => rig.callbackPages.length === 1, 'the callback page');
    expect(rig.callbackPages[0]?.status).toBe(200);
    expect(rig.callbackPages[0]?.text).toContain('Signed in');

    const after = await rig.api.getSignInStatus({});
    expect(after.signedIn).toBe(true);
    expect(after.token?.state).toBe('ready');
    expect(after.pending).toBeNull();
    expect(after.lastOutcome?.ok).toBe(true);
    expect(after.storageProblem).toBeNull();

    const grant = await readGrantFile(rig.dataDir);
    expect(rig.oauth.liveRefreshTokens.has(String(grant.refreshToken))).toBe(true);
    expect(grant.clientId).toBe('relay-test-client');

    await rig.sendMail(1);
    await rig.fake.waitForMessages(1, WAIT_MS);
    expect(rig.fake.authAttempts.length).toBeGreaterThan(0);
    for (const attempt of rig.fake.authAttempts) {
      expect(attempt.method).toBe('XOAUTH2');
      expect(attempt.user).toBe(MAILBOX);
      expect(attempt.succeeded).toBe(true);
    }
    // The sign-in's own access token is used, so no refresh was needed.
    expect(rig.oauth.tokenRequests(REFRESH_GRANT)).toEqual([]);

    const started = rig.events.filter((event) => event.event === 'SIGN_IN_STARTED');
    expect(started.map((event) => event.fields.flow)).toEqual(['browser']);
    expect(rig.count('SIGNED_IN')).toBe(1);
    expect(rig.count('SIGN_IN_FAILED')).toBe(0);
    await expectNoTokens(rig, [JSON.stringify(after), JSON.stringify(started)]);
  });

  it('returns the URL to the page', async () => {
    const rig = await startRig({ openUrl: 'none' });
    expect((await rig.api.getSignInStatus({})).opensBrowser).toBe(false);

    const pending = await rig.api.startSignIn({ flow: 'browser' });
    if (pending.flow !== 'browser') throw new Error(`expected a browser sign-in, got ${pending.flow}`);
    expect((await rig.api.getSignInStatus({})).pending).toEqual(pending);
    const page = await followAuthorizationUrl(pending.authorizationUrl);
    expect(page.status).toBe(200);
    await rig.waitForEvent('SIGNED_IN');

    // "Test connection" uses the new sign-in too.
    const test = await rig.api.testConnection({});
    expect(test.ok).toBe(true);
    expect(rig.fake.authAttempts.at(-1)?.method).toBe('XOAUTH2');
    expect(rig.fake.authAttempts.at(-1)?.succeeded).toBe(true);
  });

  it('reports a declined consent', async () => {
    const rig = await startRig({ oauth: { authorize: 'deny' } });
    await rig.api.startSignIn({ flow: 'browser' });
    await rig.waitForEvent('SIGN_IN_FAILED');

    const failed = rig.events.find((event) => event.event === 'SIGN_IN_FAILED');
    expect(failed?.fields.code).toBe('EOAUTH_ACCESS_DENIED');
    expect(failed?.fields.flow).toBe('browser');
    const status = await rig.api.getSignInStatus({});
    expect(status.signedIn).toBe(false);
    expect(status.pending).toBeNull();
    expect(status.lastOutcome).toMatchObject({ ok: false, code: 'EOAUTH_ACCESS_DENIED' });
    await waitFor(() => rig.callbackPages.length === 1, 'the callback page');
    expect(rig.callbackPages[0]?.status).toBe(400);
    expect(rig.count('SIGNED_IN')).toBe(0);
  });
});

describe('device sign-in through the API', () => {
  it('waits for approval, then delivers', async () => {
    const rig = await startRig({ oauth: { deviceScript: ['authorization_pending'], deviceIntervalSeconds: 1 } });

    const pending = await rig.api.startSignIn({ flow: 'device' });
    if (pending.flow !== 'device') throw new Error(`expected a device sign-in, got ${pending.flow}`);
    expect(pending.userCode).toBe(FAKE_USER_CODE);
    expect(pending.verificationUri).toBe(rig.oauth.url('/device'));
    expect(pending.expiresAt).toBeGreaterThan(Date.now());
    expect((await rig.api.getSignInStatus({})).pending).toEqual(pending);

    await rig.waitForEvent('SIGNED_IN');
    // One authorization_pending, then the tokens.
    expect(rig.oauth.tokenRequests(DEVICE_CODE_GRANT)).toHaveLength(2);
    expect((await rig.api.getSignInStatus({})).signedIn).toBe(true);

    await rig.sendMail(1);
    await rig.fake.waitForMessages(1, WAIT_MS);
    expect(rig.fake.authAttempts.every((attempt) => attempt.method === 'XOAUTH2' && attempt.succeeded)).toBe(true);
    const started = rig.events.find((event) => event.event === 'SIGN_IN_STARTED');
    expect(started?.fields.flow).toBe('device');
    // The user code is for the screen, not for the log.
    expect(JSON.stringify(rig.events)).not.toContain(FAKE_USER_CODE);
  });

  it('cancel stops the polling', async () => {
    const pendingPolls = Array.from({ length: 30 }, () => 'authorization_pending' as const);
    const rig = await startRig({ oauth: { deviceScript: pendingPolls, deviceIntervalSeconds: 1 } });
    await rig.api.startSignIn({ flow: 'device' });

    await expect(rig.api.cancelSignIn({})).resolves.toEqual({ cancelled: true });
    const pollsAtCancel = rig.oauth.tokenRequests(DEVICE_CODE_GRANT).length;
    expect(rig.count('SIGN_IN_FAILED')).toBe(1);
    expect(rig.events.find((event) => event.event === 'SIGN_IN_FAILED')?.fields.code).toBe('EOAUTH_SIGN_IN_CANCELLED');
    const status = await rig.api.getSignInStatus({});
    expect(status.pending).toBeNull();
    expect(status.lastOutcome).toMatchObject({ ok: false, code: 'EOAUTH_SIGN_IN_CANCELLED' });

    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(rig.oauth.tokenRequests(DEVICE_CODE_GRANT)).toHaveLength(pollsAtCancel);
    await expect(rig.api.cancelSignIn({})).resolves.toEqual({ cancelled: false });
  });

  it('new start replaces a pending one', async () => {
    const pendingPolls = Array.from({ length: 30 }, () => 'authorization_pending' as const);
    const rig = await startRig({ oauth: { deviceScript: pendingPolls, deviceIntervalSeconds: 1 } });
    await rig.api.startSignIn({ flow: 'device' });
    await rig.api.startSignIn({ flow: 'browser' });
    await rig.waitForEvent('SIGNED_IN');

    const failed = rig.events.filter((event) => event.event === 'SIGN_IN_FAILED');
    expect(failed.map((event) => [event.fields.flow, event.fields.code])).toEqual([['device', 'EOAUTH_SIGN_IN_CANCELLED']]);
    expect((await rig.api.getSignInStatus({})).lastOutcome?.ok).toBe(true);
  });
});

describe('sign in again after a refused refresh token', () => {
  it('alerts once, resumes after sign-in', async () => {
    const observeMs = 3_000;
    const rig = await startRig({
      storedRefreshToken: (oauth) => {
        const token = oauth.mintRefreshToken();
        oauth.revokeRefreshToken(token);
        return token;
      },
    });
    expect((await rig.api.getSignInStatus({})).signedIn).toBe(true);

    await rig.sendMail(2);
    await rig.waitForEvent('PAUSED');
    await new Promise((resolve) => setTimeout(resolve, observeMs));

    // One request found the token refused, and no retry repeated it.
    expect(rig.oauth.tokenRequests(REFRESH_GRANT)).toHaveLength(1);
    const alerts = rig.events.filter((event) => event.event === 'ALERT');
    expect(alerts).toHaveLength(1);
    expect(alerts[0]?.fields.kind).toBe('credentials');
    expect(alerts[0]?.fields.advice).toMatch(/sign in again/i);
    const refused = await rig.api.getSignInStatus({});
    expect(refused.token?.state).toBe('rejected');
    expect(refused.token?.lastError?.code).toBe('EOAUTH_REFRESH_REJECTED');
    expect((await rig.api.getStatus({})).smartHosts[0]?.state).toBe('stopped-credentials');
    expect(rig.fake.authAttempts).toEqual([]);

    await rig.api.startSignIn({ flow: 'browser' });
    await rig.fake.waitForMessages(2, WAIT_MS);

    expect(rig.count('SIGNED_IN')).toBe(1);
    expect(rig.count('RESUMED')).toBe(1);
    expect(rig.count('ALERT')).toBe(1);
    expect(rig.count('ALERT_CLEARED')).toBe(1);
    expect(rig.oauth.tokenRequests(REFRESH_GRANT)).toHaveLength(1);
    const status = await rig.api.getStatus({});
    expect(status.alerts.filter((alert) => alert.active)).toEqual([]);
    expect(status.smartHosts[0]?.state).toBe('active');
    expect((await rig.api.getSignInStatus({})).token?.state).toBe('ready');
  });
});

describe('sign-in that cannot start', () => {
  it('flow without an endpoint is EOAUTH', async () => {
    const rig = await startRig({ settings: () => ({ oauthDeviceAuthorizationUrl: null }) });
    const status = await rig.api.getSignInStatus({});
    expect(status.flows.device.available).toBe(false);
    expect(status.flows.device.reason).toMatch(/device authorization URL/);

    const error = await rejectionOf(rig.api.startSignIn({ flow: 'device' }));
    expect(error.code).toBe('EOAUTH');
    expect(error.value).toBe('EOAUTH_FLOW_UNAVAILABLE');
    expect(rig.oauth.requests).toEqual([]);
    expect(rig.count('SIGN_IN_STARTED')).toBe(0);
  });

  it('Google has no device flow', async () => {
    const rig = await startRig({ settings: () => ({ oauthProvider: 'google', oauthTokenUrl: null, oauthAuthorizationUrl: null, oauthDeviceAuthorizationUrl: null, oauthScope: null }) });
    const status = await rig.api.getSignInStatus({});
    expect(status.flows.device.available).toBe(false);
    expect(status.flows.device.reason).toMatch(/Gmail scope/);
    expect(status.flows.browser.available).toBe(true);

    const error = await rejectionOf(rig.api.startSignIn({ flow: 'device' }));
    expect(error.value).toBe('EOAUTH_FLOW_UNAVAILABLE');
  });

  it('missing client id is ESETTINGS', async () => {
    const rig = await startRig({ settings: () => ({ oauthClientId: null }) });
    const status = await rig.api.getSignInStatus({});
    expect(status.settingsProblem).toMatch(/oauthClientId/);
    expect(status.flows.browser.available).toBe(false);

    const error = await rejectionOf(rig.api.startSignIn({ flow: 'browser' }));
    expect(error.code).toBe('ESETTINGS');
    expect(error.field).toBe('oauthClientId');
  });

  it('unknown flow is EINVALID', async () => {
    const rig = await startRig();
    const error = await rejectionOf(rig.api.startSignIn({ flow: 'password' } as never));
    expect(error.code).toBe('EINVALID');
    expect(error.field).toBe('flow');
  });
});
