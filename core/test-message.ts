/**
 * Smart-host test: the setup screen's "Test connection" and "Send test
 * message". One SMTP session goes straight to the smart host, outside the
 * queue, and nodemailer's transaction log records the dialogue.
 *
 * The result explains the outcome in plain words. SMTP replies get the
 * reply classifier's sentences. Failures without a reply (connection
 * refused, time-outs, TLS mismatches) and the two commonest setup mistakes
 * (a wrong password, a sender the account may not use) get this module's.
 *
 * Never throws: every failure is a result. Logs nothing; the caller shows
 * the transcript to the user. The password never appears in it, because
 * nodemailer writes AUTH commands with a "secret" placeholder and this
 * module masks any line that still contains the password, plain or base64.
 *
 * NOTE: the test message bypasses the relay's rate budgets, so it is not
 * counted against the per-minute, hour or day limits.
 */
import crypto from 'node:crypto';
import { format } from 'node:util';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { NodemailerError } from 'nodemailer/lib/errors';
import { classifyReply } from './reply-classifier.ts';
import { loginWithXOAuth2 } from './oauth/xoauth2.ts';
import { isOAuthError } from './oauth/errors.ts';
import type { ReplyStage } from './reply-classifier.ts';
import type { SmartHostConfig } from './smart-host-session.ts';
import { stageOf } from './smart-host-session.ts';
import type { SmartHostTestResult, TranscriptLine } from './api/model.ts';

// Shorter than a real session's time-outs: a person is waiting, and a smart
// host that takes longer than this to greet is misconfigured or blocked.
export const TEST_CONNECT_TIMEOUT_MS = 15 * 1000;
export const TEST_GREETING_TIMEOUT_MS = 15 * 1000;
export const TEST_SOCKET_TIMEOUT_MS = 30 * 1000;

const SECRET_MASK = '/* secret */';
// A transcript longer than this is cut; a test session has about 20 lines.
const MAX_TRANSCRIPT_LINES = 200;

export interface SmartHostTestOptions {
  readonly config: SmartHostConfig;
  /** When set, a test message goes from `from` to `to`; otherwise only connect, TLS and AUTH. */
  readonly message?: { readonly from: string; readonly to: string } | undefined;
  readonly connectTimeoutMs?: number;
  readonly greetingTimeoutMs?: number;
  readonly socketTimeoutMs?: number;
  readonly now?: () => number;
}

interface Explanation {
  readonly kind: string;
  readonly explanation: string;
  readonly advice: string;
}

/** Collects nodemailer's log calls as transcript lines. */
class Transcript {
  readonly lines: TranscriptLine[] = [];
  readonly #startedAt: number;
  readonly #now: () => number;
  readonly #secrets: string[];

  constructor(now: () => number, password: string | null) {
    this.#now = now;
    this.#startedAt = now();
    this.#secrets = password
      ? [password, Buffer.from(password).toString('base64')].filter((secret) => secret.length >= 3)
      : [];
  }

  get elapsedMs(): number {
    return this.#now() - this.#startedAt;
  }

  /** A bunyan-style logger for SMTPConnection's `logger` option. */
  logger(): Record<string, (...args: unknown[]) => void> {
    const record = (level: string) => (entry: unknown, message: unknown, ...args: unknown[]) => {
      const tnx = (entry as { tnx?: string } | null)?.tnx;
      const text = format(String(message ?? ''), ...args);
      if (tnx === 'client' || tnx === 'server') this.add(tnx, text);
      else if (tnx === 'network' && level === 'info') this.add('info', text);
    };
    return { debug: record('debug'), info: record('info'), warn: () => {}, error: () => {} };
  }

  add(direction: TranscriptLine['direction'], text: string): void {
    if (this.lines.length >= MAX_TRANSCRIPT_LINES) return;
    let masked = text;
    for (const secret of this.#secrets) masked = masked.split(secret).join(SECRET_MASK);
    this.lines.push({ direction, text: masked, elapsedMs: this.elapsedMs });
  }
}

/** Builds the test message: a short plain-text mail that names the relay. */
export function buildTestMessage(from: string, to: string, clientName: string, now: Date): string {
  const messageId = `<${crypto.randomBytes(12).toString('hex')}@${clientName}>`;
  return [
    `From: Smarthost Relay <${from}>`,
    `To: <${to}>`,
    'Subject: Smarthost Relay test message',
    `Date: ${now.toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: ${messageId}`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 7bit',
    '',
    `This message was sent by Smarthost Relay on ${clientName} to check its smart-host settings.`,
    'If you can read it, the relay can deliver mail for your office devices.',
    '',
  ].join('\r\n');
}

/** Runs the test and returns its transcript, reply and explanation. */
export async function testSmartHost(options: SmartHostTestOptions): Promise<SmartHostTestResult> {
  const now = options.now ?? Date.now;
  const { config } = options;
  const transcript = new Transcript(now, config.password);
  const connection = new SMTPConnection({
    host: config.host,
    port: config.port,
    secure: config.security === 'tls',
    requireTLS: config.security === 'starttls',
    ignoreTLS: config.security === 'none',
    name: config.clientName,
    connectionTimeout: options.connectTimeoutMs ?? TEST_CONNECT_TIMEOUT_MS,
    greetingTimeout: options.greetingTimeoutMs ?? TEST_GREETING_TIMEOUT_MS,
    socketTimeout: options.socketTimeoutMs ?? TEST_SOCKET_TIMEOUT_MS,
    logger: transcript.logger(),
    transactionLog: true,
    tls: { rejectUnauthorized: config.tlsVerify, ...(config.ca ? { ca: config.ca } : {}) },
  });
  // Errors also reach the callback of the call in flight; this listener
  // keeps one that arrives between calls from crashing the process.
  connection.on('error', () => {});

  let stage: ReplyStage = 'connect';
  try {
    await connect(connection);
    stage = 'ehlo';
    if (config.user) {
      stage = 'auth';
      if (config.authMethod === 'xoauth2') await loginWithToken(connection, config);
      else await login(connection, config.user, config.password ?? '');
    }
    let reply = String(connection.lastServerResponse || '');
    if (options.message) {
      stage = 'data';
      reply = await send(connection, options.message, config.clientName, now);
    }
    await quit(connection);
    return {
      ok: true,
      smartHost: hostPortText(config),
      stage,
      reply,
      ...explainSuccess(config, options.message, connection.secure),
      transcript: transcript.lines,
      durationMs: transcript.elapsedMs,
    };
  } catch (error) {
    connection.close();
    if (isOAuthError(error)) {
      transcript.add('info', error.message);
      return {
        ok: false,
        smartHost: hostPortText(config),
        stage: 'auth',
        reply: error.message,
        kind: 'credentials',
        explanation: `The relay could not get an OAuth2 access token for ${config.user ?? 'the account'}: ${error.message}`,
        advice: 'Sign in to the smart-host account again (serve --oauth-sign-in, or Sign in in the desktop app), then test again.',
        transcript: transcript.lines,
        durationMs: transcript.elapsedMs,
      };
    }
    const failure = error as NodemailerError;
    const failedStage = stageOf(failure);
    const reply = (failure.response ?? failure.message).trim();
    if (failure.response === undefined) transcript.add('info', reply);
    return {
      ok: false,
      smartHost: hostPortText(config),
      stage: failedStage,
      reply,
      ...explainFailure(failure, failedStage, config, options.message),
      transcript: transcript.lines,
      durationMs: transcript.elapsedMs,
    };
  }
}

/**
 * Runs one SMTPConnection call. nodemailer reports a socket failure through
 * the 'error' event (and 'end') instead of the call's callback, so the
 * promise settles on whichever comes first.
 */
function step<T>(connection: SMTPConnection, call: (done: (error: Error | null, value?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => settle(error);
    const onEnd = (): void => settle(Object.assign(new Error('Connection closed unexpectedly'), { code: 'ECONNECTION' }));
    const settle = (error: Error | null, value?: T): void => {
      connection.off('error', onError);
      connection.off('end', onEnd);
      if (error) reject(error);
      else resolve(value as T);
    };
    connection.once('error', onError);
    connection.once('end', onEnd);
    call(settle);
  });
}

function connect(connection: SMTPConnection): Promise<void> {
  return step(connection, (done) => connection.connect((error) => done(error ?? null)));
}

function login(connection: SMTPConnection, user: string, pass: string): Promise<void> {
  return step(connection, (done) => connection.login({ user, pass }, (error) => done(error ?? null)));
}

/** Signs in with XOAUTH2; the access token never reaches the transcript (nodemailer masks AUTH lines). */
async function loginWithToken(connection: SMTPConnection, config: SmartHostConfig): Promise<void> {
  if (!config.tokens) {
    throw Object.assign(new Error('No OAuth2 sign-in: sign in to the smart-host account first'), { code: 'EAUTH', command: 'AUTH XOAUTH2' });
  }
  const tokens = config.tokens;
  const user = config.user ?? '';
  await step<void>(connection, (done) => {
    loginWithXOAuth2(connection, user, tokens).then(() => done(null), (error: Error) => done(error));
  });
}

function send(
  connection: SMTPConnection,
  message: { from: string; to: string },
  clientName: string,
  now: () => number,
): Promise<string> {
  const content = buildTestMessage(message.from, message.to, clientName, new Date(now()));
  return step(connection, (done) =>
    connection.send({ from: message.from, to: [message.to] }, content, (error, info) =>
      done(error ?? null, info?.response ?? ''),
    ),
  );
}

/** Sends QUIT and waits for the close, but no longer than a second. */
function quit(connection: SMTPConnection): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      connection.close();
      resolve();
    }, 1000);
    connection.once('end', () => {
      clearTimeout(timer);
      resolve();
    });
    connection.quit();
  });
}

function hostPortText(config: SmartHostConfig): string {
  return config.host.includes(':') ? `[${config.host}]:${config.port}` : `${config.host}:${config.port}`;
}

function explainSuccess(
  config: SmartHostConfig,
  message: SmartHostTestOptions['message'],
  secure: boolean,
): Explanation {
  const encrypted = secure ? 'over an encrypted connection' : 'over an unencrypted connection';
  const signedIn = config.user ? `, signed in as ${config.user}` : '';
  if (message) {
    return {
      kind: 'success',
      explanation: `The smart host accepted the test message to ${message.to}${signedIn}, ${encrypted}.`,
      advice: `Check that the message arrives in the mailbox of ${message.to}; if it does not, look in its spam folder.`,
    };
  }
  return {
    kind: 'success',
    explanation: `The relay connected to ${hostPortText(config)}${signedIn}, ${encrypted}.`,
    advice: secure || config.security !== 'none' ? '' : 'Use STARTTLS or TLS if the smart host offers it, so the password is not sent in clear text.',
  };
}

/** Explains a failed test in plain words, most specific case first. */
export function explainFailure(
  error: NodemailerError,
  stage: ReplyStage,
  config: SmartHostConfig,
  message: SmartHostTestOptions['message'],
): Explanation {
  const where = hostPortText(config);
  if (error.responseCode === undefined) return explainNetworkFailure(error, stage, config);

  const reply = (error.response ?? error.message).trim();
  if (stage === 'starttls') {
    return {
      kind: 'network',
      explanation: `${where} does not offer STARTTLS on this port (it replied ${reply}).`,
      advice: 'Pick TLS for port 465. Choose "none" only for a smart host on your own network that has no encryption.',
    };
  }
  const verdict = classifyReply({ code: error.responseCode, text: reply, stage });
  if (verdict.kind === 'credentials' && (error.responseCode === 535 || error.responseCode === 534)) {
    return {
      kind: verdict.kind,
      explanation: `${where} rejected the user name or password${config.user ? ` for ${config.user}` : ''}.`,
      advice:
        'Type the password again. Accounts with two-step verification (Microsoft 365, Gmail) need an app password, and some providers require SMTP sign-in to be turned on for the mailbox.',
    };
  }
  if (stage === 'mail' && error.responseCode >= 500 && verdict.kind !== 'blacklisted' && verdict.kind !== 'quota') {
    return {
      kind: verdict.kind,
      explanation: `${where} does not allow ${message?.from ?? 'this sender address'} as the sender: ${verdict.explanation}`,
      advice: config.user
        ? `Send from the signed-in address ${config.user}, or give that account permission to send as this address at the provider. The relay's "rewrite sender" setting can put the signed-in address on every message.`
        : 'Sign in to the smart host with a user name and password, or use a sender address that the provider allows.',
    };
  }
  return { kind: verdict.kind, explanation: verdict.explanation, advice: verdict.advice };
}

// Messages of Node's TLS layer when the two ends disagree about TLS.
const TLS_MISMATCH_PATTERN = /wrong version number|packet length too long|unknown protocol|http request|record layer failure/i;
const CERTIFICATE_PATTERN = /certificate|self[- ]signed|altnames|unable to verify|issuer/i;

function explainNetworkFailure(error: NodemailerError, stage: ReplyStage, config: SmartHostConfig): Explanation {
  const where = hostPortText(config);
  const cause = (error as NodemailerError & { originalCode?: string }).originalCode ?? error.code;
  const text = error.message;

  if (cause === 'ECONNREFUSED') {
    return {
      kind: 'network',
      explanation: `Nothing accepts connections on ${where}: the connection was refused.`,
      advice: 'Check the host name and the port. Smart hosts usually listen on 587 (STARTTLS) or 465 (TLS); port 25 is often blocked by ISPs for outgoing mail.',
    };
  }
  if (cause === 'ENOTFOUND' || cause === 'EAI_AGAIN' || error.code === 'EDNS') {
    return {
      kind: 'network',
      explanation: `The host name ${config.host} could not be found in DNS.`,
      advice: "Check the spelling of the smart host's name, and that this machine can resolve names on the internet.",
    };
  }
  if (CERTIFICATE_PATTERN.test(text)) {
    return {
      kind: 'network',
      explanation: `The smart host's TLS certificate is not trusted for ${config.host}: ${text}.`,
      advice: "Use the host name that the provider publishes (it must match the certificate). For a server with its own certificate, set its CA file (smarthostCa) or, on a trusted network only, turn off certificate checks.",
    };
  }
  if (TLS_MISMATCH_PATTERN.test(text) || (error.code === 'ETLS' && config.security === 'tls')) {
    return {
      kind: 'network',
      explanation: `The relay and ${where} disagree about encryption: the port does not speak implicit TLS.`,
      advice: 'Port 465 uses TLS; port 587 (and 25) use STARTTLS. Pick the security that matches the port.',
    };
  }
  if (error.code === 'ETLS' || stage === 'starttls') {
    return {
      kind: 'network',
      explanation: `${where} did not offer STARTTLS, or the encrypted connection failed: ${text}.`,
      advice: 'Pick TLS for port 465, STARTTLS for port 587; choose "none" only for a smart host on your own network that has no encryption.',
    };
  }
  if (error.code === 'ETIMEDOUT') {
    const greeting = /greeting/i.test(text);
    return {
      kind: 'network',
      explanation: greeting
        ? `${where} accepted the connection but sent no greeting.`
        : `${where} did not answer: the connection timed out.`,
      advice: greeting && config.security !== 'tls'
        ? 'This is what a TLS-only port (usually 465) does when the relay waits for plain text: set the security to TLS.'
        : 'A firewall or your internet provider may block this port for outgoing mail. Check the host name and port, or try port 587 or 465.',
    };
  }
  const verdict = classifyReply({ code: undefined, text, stage });
  return { kind: 'network', explanation: `${verdict.explanation} (${text})`, advice: verdict.advice || 'Check the host name, port and security, then try again.' };
}
