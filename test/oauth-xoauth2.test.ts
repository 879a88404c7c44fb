import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { NodemailerError } from 'nodemailer/lib/errors';
import { SMTPServer } from 'smtp-server';
import type { SMTPServerAuthenticationResponse } from 'smtp-server';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OAuthError } from '../core/oauth/errors.ts';
import { resolveOAuthClient } from '../core/oauth/providers.ts';
import { AccessTokenSource } from '../core/oauth/token-source.ts';
import {
  buildXOAuth2Response,
  decodeXOAuth2Challenge,
  isAccessTokenRejection,
  loginWithXOAuth2,
} from '../core/oauth/xoauth2.ts';
import { startFakeOAuthServer } from './support/fake-oauth-server.ts';
import type { FakeOAuthServer } from './support/fake-oauth-server.ts';

const USER = 'scanner@example.com';

describe('XOAUTH2 strings', () => {
  it('matches the initial response in Google’s XOAUTH2 docs', () => {
    expect(buildXOAuth2Response('someuser@example.com', 'ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg')).toBe(
      'dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52' +
        'YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ==',
    );
  });

  it('decodes the error challenge in Google’s XOAUTH2 docs', () => {
    const challenge =
      '334 eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIG1hYyIsInNjb3BlIjoiaHR0cHM6Ly9t' +
      'YWlsLmdvb2dsZS5jb20vIn0K';

    expect(decodeXOAuth2Challenge(challenge)).toEqual({
      status: '401',
      schemes: 'bearer mac',
      scope: 'https://mail.google.com/',
    });
    expect(decodeXOAuth2Challenge('334 UGFzc3dvcmQ6')).toBeUndefined();
    expect(decodeXOAuth2Challenge('535 5.7.3 Authentication unsuccessful')).toBeUndefined();
  });

  it('classifies token rejections', () => {
    const google400 = Buffer.from('{"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}').toString(
      'base64',
    );
    const cases: Array<[number | undefined, string, boolean]> = [
      [535, '535 5.7.3 Authentication unsuccessful [SN4PR0501CA0054.namprd05.prod.outlook.com]', true],
      [535, '535-5.7.8 Username and Password not accepted.', true],
      [334, `334 ${google400}`, true],
      [535, '535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.', false],
      [454, '454 4.7.0 Temporary authentication failure', false],
      [334, '334 UGFzc3dvcmQ6', false],
      [undefined, 'connection closed', false],
    ];

    for (const [responseCode, response, expected] of cases) {
      expect(isAccessTokenRejection({ responseCode, response }), response).toBe(expected);
    }
  });
});

/** How the fake smart host rejects a token it does not accept. */
type RejectionStyle = 'google-334' | 'microsoft-535';

interface AuthAttempt {
  user: string;
  accessToken: string;
  accepted: boolean;
}

interface XOAuth2SmartHost {
  port: number;
  attempts: AuthAttempt[];
  /** Messages accepted after DATA, with the authenticated user. */
  messages: Array<{ user: string | undefined; raw: string }>;
  /** When true, every token is rejected, valid or not. */
  rejectAll: boolean;
  stop(): Promise<void>;
}

/**
 * Starts a smart host that offers only AUTH XOAUTH2 and accepts a token when the
 * fake authorization server issued it and it is still valid.
 * test/support/fake-smarthost.ts offers only PLAIN and LOGIN, so this one
 * runs its own smtp-server.
 */
async function startXOAuth2SmartHost(oauth: FakeOAuthServer, style: RejectionStyle): Promise<XOAuth2SmartHost> {
  const host: Omit<XOAuth2SmartHost, 'port' | 'stop'> = { attempts: [], messages: [], rejectAll: false };

  const server = new SMTPServer({
    authMethods: ['XOAUTH2'],
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    disableReverseLookup: true,
    logger: false,
    onAuth(auth, _session, callback) {
      const accessToken = auth.accessToken ?? '';
      const accepted =
        auth.method === 'XOAUTH2' && auth.username === USER && !host.rejectAll && oauth.isValidAccessToken(accessToken);
      host.attempts.push({ user: auth.username ?? '', accessToken, accepted });

      if (accepted) {
        callback(null, { user: auth.username });
        return;
      }
      if (style === 'google-334') {
        // smtp-server sends this as a 334 challenge and, after the client's
        // empty line, "535 Error: Username and Password not accepted".
        const response = {
          data: { status: '401', schemes: 'bearer', scope: 'https://mail.google.com/' },
        } as unknown as SMTPServerAuthenticationResponse;
        callback(null, response);
        return;
      }
      callback(Object.assign(new Error('5.7.3 Authentication unsuccessful'), { responseCode: 535 }));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const user = typeof session.user === 'string' ? session.user : undefined;
        host.messages.push({ user, raw: Buffer.concat(chunks).toString('utf8') });
        callback();
      });
    },
  });

  server.listen(0, '127.0.0.1');
  await once(server.server, 'listening');
  const { port } = server.server.address() as AddressInfo;

  return Object.assign(host, {
    port,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}

async function connect(port: number): Promise<SMTPConnection> {
  const connection = new SMTPConnection({ host: '127.0.0.1', port, ignoreTLS: true, logger: false });
  connection.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => connection.connect((error) => (error ? reject(error) : resolve())));
  return connection;
}

function send(connection: SMTPConnection, raw: string): Promise<void> {
  return new Promise((resolve, reject) => {
    connection.send({ from: USER, to: ['office@example.com'] }, raw, (error) => (error ? reject(error) : resolve()));
  });
}

async function loginError(connection: SMTPConnection, source: AccessTokenSource): Promise<NodemailerError | OAuthError> {
  const error = await loginWithXOAuth2(connection, USER, source).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(Error);
  return error as NodemailerError | OAuthError;
}

describe('loginWithXOAuth2 against a smart host', () => {
  let oauth: FakeOAuthServer;
  const connections: SMTPConnection[] = [];
  const smartHosts: XOAuth2SmartHost[] = [];

  beforeEach(async () => {
    oauth = await startFakeOAuthServer();
  });

  afterEach(async () => {
    for (const connection of connections.splice(0)) connection.close();
    for (const smartHost of smartHosts.splice(0)) await smartHost.stop();
    await oauth.stop();
  });

  async function setUp(style: RejectionStyle, refreshToken = oauth.mintRefreshToken()) {
    const smartHost = await startXOAuth2SmartHost(oauth, style);
    smartHosts.push(smartHost);
    const source = new AccessTokenSource({ client: resolveOAuthClient(oauth.settings()), refreshToken });
    const open = async (): Promise<SMTPConnection> => {
      const connection = await connect(smartHost.port);
      connections.push(connection);
      return connection;
    };
    return { smartHost, source, open };
  }

  it('logs in and sends with a token from the source', async () => {
    const { smartHost, source, open } = await setUp('microsoft-535');
    const connection = await open();

    await loginWithXOAuth2(connection, USER, source);
    await send(connection, 'Subject: scan\r\n\r\nscan attached\r\n');

    expect(smartHost.attempts).toEqual([{ user: USER, accessToken: await source.getAccessToken(), accepted: true }]);
    expect(smartHost.messages).toEqual([{ user: USER, raw: 'Subject: scan\r\n\r\nscan attached\r\n' }]);
    expect(oauth.tokenRequests('refresh_token')).toHaveLength(1);
  });

  for (const style of ['google-334', 'microsoft-535'] as const) {
    it(`renews a revoked token once (${style})`, async () => {
      const { smartHost, source, open } = await setUp(style);
      const revoked = await source.getAccessToken();
      oauth.revokeAccessToken(revoked);

      await loginWithXOAuth2(await open(), USER, source);

      expect(smartHost.attempts.map((attempt) => attempt.accepted)).toEqual([false, true]);
      expect(smartHost.attempts[0]?.accessToken).toBe(revoked);
      expect(oauth.tokenRequests('refresh_token')).toHaveLength(2);
    });

    it(`stops after one forced refresh (${style})`, async () => {
      const { smartHost, source, open } = await setUp(style);
      smartHost.rejectAll = true;

      const first = await loginError(await open(), source);
      expect(first).toMatchObject({ code: 'EAUTH', responseCode: 535 });
      expect(smartHost.attempts).toHaveLength(2);
      expect(oauth.tokenRequests('refresh_token')).toHaveLength(2);

      // The next session gets the forced token, and no new refresh.
      const second = await loginError(await open(), source);
      expect(second).toMatchObject({ code: 'EAUTH', responseCode: 535 });
      expect(oauth.tokenRequests('refresh_token')).toHaveLength(2);
      const tokensSent = new Set(smartHost.attempts.map((attempt) => attempt.accessToken));
      expect(tokensSent.size).toBe(2);
      // Gmail's 334 path makes nodemailer send the same token twice; a
      // direct 535 ends the session after one AUTH.
      expect(smartHost.attempts).toHaveLength(style === 'google-334' ? 4 : 3);
    });
  }

  it('throws the refused refresh token before AUTH', async () => {
    const { smartHost, source, open } = await setUp('microsoft-535', 'rt-revoked');

    const first = await loginError(await open(), source);
    const second = await loginError(await open(), source);

    expect(first).toBeInstanceOf(OAuthError);
    expect((first as OAuthError).code).toBe('EOAUTH_REFRESH_REJECTED');
    expect((second as OAuthError).code).toBe('EOAUTH_REFRESH_REJECTED');
    expect(smartHost.attempts).toHaveLength(0);
    expect(oauth.tokenRequests('refresh_token')).toHaveLength(1);
  });

  it('shows nodemailer ignores a bare accessToken', async () => {
    // Pins the reason xoauth2Auth() builds an XOAuth2 object: login() with
    // only { user, accessToken } never sends AUTH XOAUTH2.
    const { smartHost, source, open } = await setUp('microsoft-535');
    const connection = await open();
    const accessToken = await source.getAccessToken();

    const error = await new Promise<NodemailerError | null>((resolve) => {
      connection.login({ user: USER, accessToken }, (caught) => resolve(caught));
    });

    expect(error?.code).toBe('EAUTH');
    expect(error?.message).toContain('Missing credentials');
    expect(smartHost.attempts).toHaveLength(0);
  });
});
