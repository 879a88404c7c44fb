// OAuth2 (SASL XOAUTH2) end to end through the real `serve` command. serve
// gets access tokens from a fake authorization server and signs in to a
// fake smart host that checks every bearer token. The tests also cover a
// rejected refresh token and the device sign-in of --oauth-sign-in.
//
// Every server listens on 127.0.0.1. A module preloaded into serve makes
// fetch() fail for any other address, so no test can reach a real
// provider, and it sends Microsoft's device authorization request to the
// fake server, because serve has no setting for that URL.
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runProcess } from './support/clients.ts';
import { startFakeOAuthServer } from './support/fake-oauth-server.ts';
import type { FakeOAuthServer, FakeOAuthServerOptions } from './support/fake-oauth-server.ts';
import { startFakeSmartHost } from './support/fake-smarthost.ts';
import type { FakeSmartHost } from './support/fake-smarthost.ts';
import { killAllServeProcesses, startServe } from './support/serve-process.ts';
import type { ServeProcess } from './support/serve-process.ts';
import { numberedMessages, submitMessages } from './support/throttling-harness.ts';
import { useTempDirs } from './support/tmp.ts';

const createTempDir = useTempDirs();
afterAll(killAllServeProcesses);

const MAILBOX = 'box@example.com';
const CLIENT_ID = 'relay-test-client';
const TOKEN_FILE = 'oauth-token.json';
const REFRESH_GRANT = 'refresh_token';
const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
/** User code that the fake server's device authorization response carries. */
const FAKE_USER_CODE = 'WDJB-MJHT';

const GUARD_MODULE = `
const deviceUrl = process.env.FAKE_DEVICE_AUTHORIZATION_URL;
const loopback = new Set(['127.0.0.1', 'localhost', '[::1]']);
const realFetch = globalThis.fetch;
globalThis.fetch = (input, init) => {
  const url = new URL(input instanceof Request ? input.url : String(input));
  const microsoftDevice =
    url.hostname === 'login.microsoftonline.com' && url.pathname.endsWith('/oauth2/v2.0/devicecode');
  if (deviceUrl && microsoftDevice) return realFetch(deviceUrl, init);
  if (!loopback.has(url.hostname)) {
    return Promise.reject(new TypeError('The OAuth test guard blocked fetch() to ' + url.origin));
  }
  return realFetch(input, init);
};
`;

/** NODE_OPTIONS for serve, with the guard module preloaded. */
let nodeOptions = '';

beforeAll(async () => {
  const dir = await createTempDir('oauth-guard');
  const file = join(dir, 'fetch-guard.mjs');
  await writeFile(file, GUARD_MODULE);
  nodeOptions = `${process.env.NODE_OPTIONS ?? ''} --import=${pathToFileURL(file).href}`.trim();

  // Without the guard, the device test would send its request to Microsoft.
  const check = await runProcess(
    process.execPath,
    ['-e', "process.exit(String(fetch).includes('OAuth test guard') ? 0 : 1)"],
    { timeoutMs: 10_000, env: { ...process.env, NODE_OPTIONS: nodeOptions } },
  );
  expect(check.exitCode, `the fetch guard did not load: ${check.stderr}`).toBe(0);
});

const oauthServers: FakeOAuthServer[] = [];
const smartHosts: FakeSmartHost[] = [];

afterEach(async () => {
  await Promise.all(smartHosts.splice(0).map((fake) => fake.stop()));
  await Promise.all(oauthServers.splice(0).map((server) => server.stop()));
});

async function startOAuth(options: FakeOAuthServerOptions = {}): Promise<FakeOAuthServer> {
  const server = await startFakeOAuthServer({ clientId: CLIENT_ID, ...options });
  oauthServers.push(server);
  return server;
}

/** Starts a smart host that offers only XOAUTH2 and accepts the fake server's live tokens for MAILBOX. */
async function startXOAuth2SmartHost(oauth: FakeOAuthServer): Promise<FakeSmartHost> {
  const fake = await startFakeSmartHost({
    authMethods: ['XOAUTH2'],
    auth: { user: MAILBOX, verifyAccessToken: (token) => oauth.isValidAccessToken(token) },
  });
  smartHosts.push(fake);
  return fake;
}

/** Flags for a Microsoft provider whose token endpoint is the fake server. */
function microsoftArgs(oauth: FakeOAuthServer): string[] {
  return [
    '--oauth-provider',
    'microsoft',
    '--oauth-token-url',
    oauth.url('/token'),
    '--oauth-client-id',
    CLIENT_ID,
  ];
}

function customArgs(oauth: FakeOAuthServer): string[] {
  return [
    '--oauth-provider',
    'custom',
    '--oauth-token-url',
    oauth.url('/token'),
    '--oauth-scope',
    'https://mail.example.test/smtp offline_access',
    '--oauth-client-id',
    CLIENT_ID,
  ];
}

interface XOAuth2ServeOptions {
  readonly fake: FakeSmartHost;
  readonly providerArgs: readonly string[];
  readonly extraArgs?: readonly string[];
  /** SMARTHOST_OAUTH_REFRESH_TOKEN, or '' for none. */
  readonly refreshToken: string;
  readonly env?: Record<string, string>;
  readonly startTimeoutMs?: number;
}

async function startXOAuth2Serve(dataDir: string, options: XOAuth2ServeOptions): Promise<ServeProcess> {
  const { fake } = options;
  return startServe({
    dataDir,
    args: [
      '--listen',
      '127.0.0.1:0',
      '--smarthost',
      `${fake.host}:${fake.port}`,
      '--security',
      'none',
      '--user',
      MAILBOX,
      '--auth-method',
      'xoauth2',
      ...options.providerArgs,
      ...(options.extraArgs ?? []),
    ],
    env: {
      NODE_OPTIONS: nodeOptions,
      SMARTHOST_OAUTH_REFRESH_TOKEN: options.refreshToken,
      SMARTHOST_OAUTH_CLIENT_SECRET: '',
      ...options.env,
    },
    startTimeoutMs: options.startTimeoutMs,
  });
}

/** Reads every file under `dir` except the token file, keyed by its path. */
async function readDataFiles(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  for (const entry of entries) {
    if (!entry.isFile() || entry.name === TOKEN_FILE) continue;
    const path = join(entry.parentPath, entry.name);
    files.set(path, await readFile(path, 'latin1'));
  }
  return files;
}

/** Checks that no token appears in serve's output or in any file of the data dir but the token file. */
async function expectNoTokensOutside(serve: ServeProcess, dataDir: string, tokens: readonly string[]): Promise<void> {
  const places = await readDataFiles(dataDir);
  places.set('stdout', serve.lines.join('\n'));
  places.set('stderr', serve.stderr);

  expect(places.has(join(dataDir, 'logs', 'activity.log'))).toBe(true);
  for (const [place, text] of places) {
    tokens.forEach((token, index) => {
      // The message names the token by index, so a failure does not print it.
      expect(text.includes(token), `token #${index} appears in ${place}`).toBe(false);
    });
  }
}

async function expectPrivateTokenFile(dataDir: string): Promise<Record<string, unknown>> {
  const file = join(dataDir, TOKEN_FILE);
  const info = await stat(file);
  expect((info.mode & 0o777).toString(8)).toBe('600');
  return JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
}

/** Submits one message, waits for the smart host to accept it, and returns the accepted count. */
async function deliverOne(serve: ServeProcess, fake: FakeSmartHost, label: string): Promise<number> {
  const expected = fake.messages.length + 1;
  await submitMessages({ host: serve.host, port: serve.port }, numberedMessages(label, 1));
  await fake.waitForMessages(expected, 10_000);
  return expected;
}

/** Returns the distinct access tokens of the AUTH attempts from index `from` on. */
function tokensUsed(fake: FakeSmartHost, from: number): (string | undefined)[] {
  return [...new Set(fake.authAttempts.slice(from).map((attempt) => attempt.accessToken))];
}

/** Reads the web console's URL from serve's output and fetches one API path with its token. */
async function consoleRequest(serve: ServeProcess, path: string, init: RequestInit = {}): Promise<Response> {
  const line = await serve.waitForLine(/^Web console: /);
  const match = /^Web console: (http:\/\/127\.0\.0\.1:\d+)\/#token=(\S+)$/.exec(line);
  if (!match) throw new Error(`serve printed a web console line without URL and token: ${line}`);
  const [, base, token] = match;
  return fetch(`${base}${path}`, {
    ...init,
    headers: { Authorization: `Bearer ${token}`, 'content-type': 'application/json', ...init.headers },
  });
}

/**
 * Delivers one message with the refresh token from the environment and
 * checks the XOAUTH2 login, the stored grant and that no token leaks.
 */
async function checkDeliveryWithEnvironmentToken(providerArgs: (oauth: FakeOAuthServer) => string[]): Promise<void> {
  const oauth = await startOAuth();
  const fake = await startXOAuth2SmartHost(oauth);
  const refreshToken = oauth.mintRefreshToken();
  const dataDir = await createTempDir('oauth-deliver');
  const serve = await startXOAuth2Serve(dataDir, { fake, providerArgs: providerArgs(oauth), refreshToken });

  try {
    await deliverOne(serve, fake, 'xoauth2');
    await serve.waitForEvent('SENT');
    // Stopping first closes every session, so the AUTH records are complete.
    expect(await serve.stop()).toBe(0);

    const issued = [...oauth.accessTokens.keys()];
    expect(issued).toHaveLength(1);
    expect(fake.authAttempts.length).toBeGreaterThanOrEqual(1);
    for (const attempt of fake.authAttempts) {
      expect(attempt.method).toBe('XOAUTH2');
      expect(attempt.user).toBe(MAILBOX);
      expect(attempt.accessToken).toBe(issued[0]);
      expect(attempt.succeeded).toBe(true);
    }
    expect(fake.messages[0]?.user).toBe(MAILBOX);

    const refreshes = oauth.tokenRequests(REFRESH_GRANT);
    expect(refreshes).toHaveLength(1);
    expect(refreshes[0]?.params.refresh_token).toBe(refreshToken);
    expect(refreshes[0]?.params.client_id).toBe(CLIENT_ID);
    expect(serve.events('OAUTH_REFRESHED')).toHaveLength(1);

    const grant = await expectPrivateTokenFile(dataDir);
    expect(grant.refreshToken).toBe(refreshToken);
    expect(grant.clientId).toBe(CLIENT_ID);
    expect(grant.tokenUrl).toBe(oauth.url('/token'));
    expect(JSON.stringify(grant)).not.toContain(issued[0]);

    await expectNoTokensOutside(serve, dataDir, [refreshToken, ...issued]);
  } finally {
    await serve.kill9();
  }
}

describe('serve with XOAUTH2', () => {
  it('custom provider delivers with XOAUTH2', async () => {
    await checkDeliveryWithEnvironmentToken(customArgs);
  });

  it('loopback token URL delivers with XOAUTH2', async () => {
    await checkDeliveryWithEnvironmentToken(microsoftArgs);
  });

  it('refreshes before the token expires', async () => {
    // The relay replaces a token REFRESH_MARGIN_MS (5 minutes) before it
    // expires, and serve has no flag for the margin. A lifetime of 303 s
    // makes the first token due for refresh 3 s after it was issued, while
    // it still has 300 s to live.
    const lifetimeSeconds = 303;
    const dueAfterMs = 3_000;
    const oauth = await startOAuth({ accessTokenLifetimeSeconds: lifetimeSeconds });
    const fake = await startXOAuth2SmartHost(oauth);
    const dataDir = await createTempDir('oauth-refresh');
    const serve = await startXOAuth2Serve(dataDir, {
      fake,
      providerArgs: microsoftArgs(oauth),
      // A short idle timeout closes each session, so every message logs in again.
      extraArgs: ['--idle-timeout', '0.2'],
      refreshToken: oauth.mintRefreshToken(),
    });

    try {
      await deliverOne(serve, fake, 'first');
      const firstIssuedAt = Date.now();
      await fake.waitForIdle();
      const firstToken = fake.authAttempts[0]?.accessToken ?? '';
      expect(oauth.accessTokens.has(firstToken)).toBe(true);

      await deliverOne(serve, fake, 'second');
      await fake.waitForIdle();
      expect(tokensUsed(fake, 0)).toEqual([firstToken]);
      expect(oauth.tokenRequests(REFRESH_GRANT)).toHaveLength(1);

      await delay(Math.max(0, firstIssuedAt + dueAfterMs + 500 - Date.now()));
      const attemptsBefore = fake.authAttempts.length;
      await deliverOne(serve, fake, 'third');
      await fake.waitForIdle();
      const [thirdToken, ...otherTokens] = tokensUsed(fake, attemptsBefore);
      expect(otherTokens).toEqual([]);
      expect(thirdToken).not.toBe(firstToken);
      expect(oauth.accessTokens.has(thirdToken ?? '')).toBe(true);
      expect(oauth.tokenRequests(REFRESH_GRANT)).toHaveLength(2);
      // The replaced token is still valid, so the refresh came before it expired.
      expect(oauth.isValidAccessToken(firstToken)).toBe(true);

      expect(fake.authAttempts.every((attempt) => attempt.succeeded)).toBe(true);
      expect(fake.rejectedReplies).toEqual([]);
      const refreshed = serve.events('OAUTH_REFRESHED');
      expect(refreshed).toHaveLength(2);
      expect(refreshed.map((event) => event.fields.forced)).toEqual(['false', 'false']);
      const lifetimeMs = Date.parse(refreshed[1]?.fields.expires ?? '') - Date.now();
      expect(lifetimeMs).toBeGreaterThan((lifetimeSeconds - 10) * 1000);
      expect(serve.events('SENT')).toHaveLength(3);
    } finally {
      await serve.stop();
    }
  });

  it('rejected refresh token stops delivery', async () => {
    const observeMs = 4_000;
    const oauth = await startOAuth();
    const fake = await startXOAuth2SmartHost(oauth);
    const refreshToken = oauth.mintRefreshToken();
    oauth.revokeRefreshToken(refreshToken);
    const dataDir = await createTempDir('oauth-rejected');
    const serve = await startXOAuth2Serve(dataDir, {
      fake,
      providerArgs: microsoftArgs(oauth),
      // Quick message retries, so any retry that reaches the token endpoint shows.
      extraArgs: ['--retry-initial', '0.2', '--retry-max', '0.5', '--admin', '127.0.0.1:0'],
      refreshToken,
    });

    try {
      await submitMessages({ host: serve.host, port: serve.port }, numberedMessages('rejected', 2));
      const paused = await serve.waitForEvent('PAUSED', (fields) => fields.reason === 'credentials');
      expect(paused.fields.until).toBe('resume');
      await delay(observeMs);

      // One request found the token rejected, and retries must not repeat it.
      expect(oauth.tokenRequests(REFRESH_GRANT)).toHaveLength(1);
      expect(serve.events('PAUSED')).toHaveLength(1);
      const failed = serve.events('OAUTH_REFRESH_FAILED');
      expect(failed).toHaveLength(1);
      expect(failed[0]?.fields.code).toBe('EOAUTH_REFRESH_REJECTED');
      expect(failed[0]?.fields.retry).toBe('after sign-in');

      const alerts = serve.events('ALERT');
      expect(alerts).toHaveLength(1);
      expect(alerts[0]?.fields.kind).toBe('credentials');
      expect(alerts[0]?.fields.advice).toMatch(/sign in again/i);

      expect(serve.events('SENT')).toEqual([]);
      expect(serve.events('BOUNCED')).toEqual([]);
      expect(fake.authAttempts).toEqual([]);
      expect(fake.receivedMessages).toEqual([]);

      const response = await consoleRequest(serve, '/api/status');
      expect(response.status).toBe(200);
      const { value } = (await response.json()) as {
        value: { queue: { total: number }; smartHosts: { state: string }[]; alerts: { kind: string; active: boolean }[] };
      };
      expect(value.smartHosts[0]?.state).toBe('stopped-credentials');
      expect(value.queue.total).toBe(2);
      expect(value.alerts.filter((alert) => alert.active && alert.kind === 'credentials')).toHaveLength(1);

      expect(await serve.stop()).toBe(0);
      expect(serve.events('STOPPED')[0]?.fields.queued).toBe('2');
      await expectNoTokensOutside(serve, dataDir, [refreshToken]);
    } finally {
      await serve.kill9();
    }
  });

  it('--oauth-sign-in runs the device flow', async () => {
    // The three polls come 1 s, 2 s and 8 s after the device code, because
    // RFC 8628 section 3.5 adds 5 s to the interval on slow_down.
    const minimumSignInMs = 8_000;
    const oauth = await startOAuth({
      deviceScript: ['authorization_pending', 'slow_down'],
      deviceIntervalSeconds: 1,
    });
    const fake = await startXOAuth2SmartHost(oauth);
    const dataDir = await createTempDir('oauth-device');
    const startedAt = Date.now();
    const serve = await startXOAuth2Serve(dataDir, {
      fake,
      providerArgs: microsoftArgs(oauth),
      extraArgs: ['--oauth-sign-in'],
      refreshToken: '',
      env: { FAKE_DEVICE_AUTHORIZATION_URL: oauth.url('/devicecode') },
      startTimeoutMs: 30_000,
    });
    const signInMs = Date.now() - startedAt;

    try {
      const started = serve.lines.findIndex((line) => / STARTED /.test(line));
      const beforeStart = serve.lines.slice(0, started).join('\n');
      expect(beforeStart).toContain(FAKE_USER_CODE);
      expect(beforeStart).toContain(oauth.url('/device'));
      expect(beforeStart).toMatch(/^Signed in\./m);

      expect(oauth.requests.filter((request) => request.path === '/devicecode')).toHaveLength(1);
      expect(oauth.tokenRequests(DEVICE_CODE_GRANT)).toHaveLength(3);
      expect(signInMs).toBeGreaterThanOrEqual(minimumSignInMs);

      const grant = await expectPrivateTokenFile(dataDir);
      const signedInToken = String(grant.refreshToken);
      expect(oauth.liveRefreshTokens.has(signedInToken)).toBe(true);
      expect(grant.seedSha256).toBeNull();

      await deliverOne(serve, fake, 'device');
      expect(await serve.stop()).toBe(0);

      const issued = [...oauth.accessTokens.keys()];
      expect(issued).toHaveLength(1);
      expect(tokensUsed(fake, 0)).toEqual([issued[0]]);
      expect(fake.authAttempts.every((attempt) => attempt.succeeded)).toBe(true);
      // The sign-in's own access token is used, so no refresh was needed.
      expect(oauth.tokenRequests(REFRESH_GRANT)).toEqual([]);
      await expectNoTokensOutside(serve, dataDir, [signedInToken, ...issued]);
    } finally {
      await serve.kill9();
    }
  });

  it('no password warning with xoauth2', async () => {
    const oauth = await startOAuth();
    const fake = await startXOAuth2SmartHost(oauth);
    const dataDir = await createTempDir('oauth-warning');
    const serve = await startXOAuth2Serve(dataDir, {
      fake,
      providerArgs: microsoftArgs(oauth),
      refreshToken: oauth.mintRefreshToken(),
    });

    try {
      // serve handles SIGTERM only after it printed this line.
      await serve.waitForLine(/^Smarthost Relay is listening /);
      expect(await serve.stop()).toBe(0);
      expect(serve.stderr).not.toMatch(/no password was given/);
    } finally {
      await serve.kill9();
    }
  });

  it('console test connection uses the sign-in', async () => {
    const oauth = await startOAuth();
    const fake = await startXOAuth2SmartHost(oauth);
    const dataDir = await createTempDir('oauth-console');
    const serve = await startXOAuth2Serve(dataDir, {
      fake,
      providerArgs: microsoftArgs(oauth),
      extraArgs: ['--admin', '127.0.0.1:0'],
      refreshToken: oauth.mintRefreshToken(),
    });

    try {
      const response = await consoleRequest(serve, '/api/smarthost/test-connection', {
        method: 'POST',
        body: '{}',
      });
      expect(response.status).toBe(200);
      const { value } = (await response.json()) as { value: { ok: boolean; reply: string } };
      expect(value.reply).not.toMatch(/No OAuth2 sign-in/);
      expect(value.ok).toBe(true);
      expect(fake.authAttempts[0]?.method).toBe('XOAUTH2');
      expect(fake.authAttempts[0]?.succeeded).toBe(true);
    } finally {
      await serve.stop();
    }
  });
});
