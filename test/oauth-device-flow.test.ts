import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { requestDeviceCode, signInWithDeviceCode } from '../core/oauth/device-authorization.ts';
import type { DeviceCodePrompt, DeviceSignInOptions } from '../core/oauth/device-authorization.ts';
import { OAuthError } from '../core/oauth/errors.ts';
import { resolveOAuthClient } from '../core/oauth/providers.ts';
import type { FetchLike } from '../core/oauth/token-endpoint.ts';
import { startFakeOAuthServer } from './support/fake-oauth-server.ts';
import type { FakeOAuthServer } from './support/fake-oauth-server.ts';

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const START_MS = Date.UTC(2026, 11, 4, 9, 0, 0);

let server: FakeOAuthServer;
let now: number;
/** Every wait the flow asked for, in ms. */
let sleeps: number[];

beforeEach(async () => {
  now = START_MS;
  sleeps = [];
  server = await startFakeOAuthServer({ now: () => now });
});

afterEach(async () => {
  await server.stop();
});

/** Options with a fake sleep that records each wait and moves the clock on. */
function deviceOptions(overrides: Partial<DeviceSignInOptions> = {}): DeviceSignInOptions {
  return {
    client: resolveOAuthClient(server.settings()),
    now: () => now,
    sleep: async (ms) => {
      sleeps.push(ms);
      now += ms;
    },
    ...overrides,
  };
}

async function rejectionOf(promise: Promise<unknown>): Promise<OAuthError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(OAuthError);
  return error as OAuthError;
}

describe('device authorization grant', () => {
  it('shows the code and polls until approval', async () => {
    server.setOptions({ deviceScript: ['authorization_pending', 'authorization_pending'] });
    const prompts: DeviceCodePrompt[] = [];

    const result = await signInWithDeviceCode({ ...deviceOptions(), onPrompt: (prompt) => prompts.push(prompt) });

    expect(prompts).toEqual([
      {
        userCode: 'WDJB-MJHT',
        verificationUri: server.url('/device'),
        verificationUriComplete: null,
        expiresAt: START_MS + 900_000,
        message: 'To sign in, open the verification page and enter the code WDJB-MJHT.',
      },
    ]);
    expect(sleeps).toEqual([5_000, 5_000, 5_000]);
    expect(server.tokenRequests(DEVICE_GRANT)).toHaveLength(3);
    expect(server.liveRefreshTokens.has(result.refreshToken)).toBe(true);
    expect(result.accessToken.expiresAt).toBe(now + 3_600_000);
    const deviceRequest = server.requests.find((request) => request.path === '/devicecode');
    expect(deviceRequest?.params).toEqual({ client_id: 'relay-test-client', scope: 'smtp.send offline_access' });
  });

  it('adds 5 seconds on each slow_down', async () => {
    server.setOptions({ deviceScript: ['authorization_pending', 'slow_down', 'authorization_pending', 'slow_down'] });

    const signIn = await requestDeviceCode(deviceOptions());
    await signIn.complete();

    expect(sleeps).toEqual([5_000, 5_000, 10_000, 10_000, 15_000]);
    expect(server.tokenRequests(DEVICE_GRANT)).toHaveLength(5);
  });

  it('doubles the interval after a 5xx', async () => {
    server.setOptions({ deviceScript: ['authorization_pending'] });
    server.failTokenRequests(2, { status: 503 });

    await (await requestDeviceCode(deviceOptions())).complete();

    expect(sleeps).toEqual([5_000, 10_000, 20_000, 20_000]);
  });

  it('stops on access_denied', async () => {
    server.setOptions({ deviceScript: ['authorization_pending', 'access_denied'] });

    const error = await rejectionOf((await requestDeviceCode(deviceOptions())).complete());

    expect(error.code).toBe('EOAUTH_ACCESS_DENIED');
    expect(server.tokenRequests(DEVICE_GRANT)).toHaveLength(2);
  });

  it('stops on expired_token', async () => {
    server.setOptions({ deviceScript: ['expired_token'] });

    const error = await rejectionOf((await requestDeviceCode(deviceOptions())).complete());

    expect(error.code).toBe('EOAUTH_DEVICE_CODE_EXPIRED');
    expect(server.tokenRequests(DEVICE_GRANT)).toHaveLength(1);
  });

  it('stops polling when the code expires', async () => {
    server.setOptions({ deviceExpiresInSeconds: 12, deviceScript: Array(50).fill('authorization_pending') });

    const error = await rejectionOf((await requestDeviceCode(deviceOptions())).complete());

    expect(error.code).toBe('EOAUTH_DEVICE_CODE_EXPIRED');
    expect(sleeps).toEqual([5_000, 5_000, 5_000]);
    expect(server.tokenRequests(DEVICE_GRANT)).toHaveLength(2);
  });

  it('stops when the caller aborts', async () => {
    server.setOptions({ deviceScript: Array(50).fill('authorization_pending') });
    const controller = new AbortController();
    const options = deviceOptions({
      signal: controller.signal,
      sleep: async (ms) => {
        sleeps.push(ms);
        now += ms;
        if (sleeps.length === 3) controller.abort();
      },
    });

    const error = await rejectionOf((await requestDeviceCode(options)).complete());

    expect(error.code).toBe('EOAUTH_SIGN_IN_CANCELLED');
    expect(server.tokenRequests(DEVICE_GRANT)).toHaveLength(2);
  });

  it('fails when no refresh token is issued', async () => {
    server.setOptions({ omitRefreshToken: true });

    const error = await rejectionOf((await requestDeviceCode(deviceOptions())).complete());

    expect(error.code).toBe('EOAUTH_NO_REFRESH_TOKEN');
  });

  it('polls with real timers', async () => {
    server.setOptions({ deviceIntervalSeconds: 1, deviceScript: ['authorization_pending'] });
    const started = Date.now();

    const result = await signInWithDeviceCode({
      client: resolveOAuthClient(server.settings()),
      onPrompt: () => undefined,
    });

    expect(server.liveRefreshTokens.has(result.refreshToken)).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_900);
  });

  it('reads Google-style verification_url', async () => {
    const googleLike: FetchLike = async () =>
      Response.json({
        device_code: 'dc-1',
        user_code: 'ABC-DEF',
        verification_url: 'https://www.google.com/device',
        expires_in: 1800,
        interval: 5,
      });

    const signIn = await requestDeviceCode(deviceOptions({ fetch: googleLike }));

    expect(signIn.prompt).toMatchObject({
      userCode: 'ABC-DEF',
      verificationUri: 'https://www.google.com/device',
      expiresAt: START_MS + 1_800_000,
      message: null,
    });
  });

  it('is unavailable for the Gmail scope', async () => {
    const requests: string[] = [];
    const recordingFetch: FetchLike = async (url) => {
      requests.push(url);
      return new Response('{}');
    };
    const client = resolveOAuthClient({ provider: 'google', clientId: 'id.apps.googleusercontent.com' });

    const error = await rejectionOf(requestDeviceCode({ client, fetch: recordingFetch }));

    expect(error.code).toBe('EOAUTH_FLOW_UNAVAILABLE');
    expect(error.message).toContain('https://mail.google.com/');
    expect(requests).toEqual([]);
  });

  it('reports a rejected client at the device endpoint', async () => {
    const client = resolveOAuthClient(server.settings({ clientId: 'someone-else' }));

    const error = await rejectionOf(requestDeviceCode(deviceOptions({ client })));

    expect(error.code).toBe('EOAUTH_CLIENT_REJECTED');
  });
});
