/**
 * One SMTP session with the smart host, on nodemailer's SMTPConnection:
 * connect (implicit TLS, STARTTLS or plain), EHLO, AUTH, then one
 * transaction per message, RSET after a failed one, and QUIT.
 *
 * Failures become SessionFailure errors that keep the reply code, the
 * reply text and the SMTP stage, so the reply classifier can decide what
 * they mean. Recipients rejected at RCPT are results, not failures.
 */
import type { Readable } from 'node:stream';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { NodemailerError } from 'nodemailer/lib/errors';
import type { ReplyStage } from './reply-classifier.ts';
import type { Security } from './settings.ts';
import { loginWithXOAuth2 } from './oauth/xoauth2.ts';
import type { AccessTokenProvider } from './oauth/xoauth2.ts';
import { isOAuthError } from './oauth/errors.ts';

export interface SmartHostConfig {
  readonly host: string;
  readonly port: number;
  readonly security: Security;
  readonly user: string | null;
  /** Never logged and never part of an error message. */
  readonly password: string | null;
  readonly tlsVerify: boolean;
  readonly ca: string | null;
  /** Name sent in EHLO. */
  readonly clientName: string;
  /** Maximum wait for any reply, the one to the final dot included. */
  readonly replyTimeoutMs: number;
  /** password: AUTH PLAIN/LOGIN with `password`; xoauth2: an OAuth2 access token from `tokens`. */
  readonly authMethod: 'password' | 'xoauth2';
  readonly tokens: AccessTokenProvider | null;
}

// Timeouts for opening a session. Postfix uses 30 s to connect and 300 s
// for the greeting; smart hosts answer quickly, and a stuck one should
// give its slot back sooner. Replies after that wait replyTimeoutMs.
const CONNECT_TIMEOUT_MS = 30 * 1000;
const GREETING_TIMEOUT_MS = 60 * 1000;

export class SessionFailure extends Error {
  readonly stage: ReplyStage;
  readonly responseCode: number | undefined;
  readonly reply: string;
  /** True when the connection cannot carry another transaction. */
  readonly connectionLost: boolean;
  /**
   * True when the whole message had been sent and the connection failed
   * before the reply to the final dot: the smart host may have accepted
   * it (RFC 5321 section 6.1), so the outcome is unknown.
   */
  readonly afterFinalDot: boolean;

  constructor(
    stage: ReplyStage,
    responseCode: number | undefined,
    reply: string,
    connectionLost: boolean,
    afterFinalDot = false,
  ) {
    super(reply);
    this.name = 'SessionFailure';
    this.stage = stage;
    this.responseCode = responseCode;
    this.reply = reply;
    this.connectionLost = connectionLost;
    this.afterFinalDot = afterFinalDot;
  }
}

export interface RecipientRejection {
  readonly address: string;
  readonly responseCode: number | undefined;
  readonly reply: string;
}

export interface SendOutcome {
  readonly accepted: readonly string[];
  readonly rejected: readonly RecipientRejection[];
  /** The reply to the final dot, or to the last RCPT if none was accepted. */
  readonly reply: string;
}

export interface MessageEnvelope {
  /** The empty string is the null sender. */
  readonly from: string;
  readonly to: readonly string[];
  readonly size: number;
  readonly eightBit: boolean;
}

/** Maps nodemailer's `command` and `code` on an error to the SMTP stage. */
export function stageOf(error: NodemailerError): ReplyStage {
  const command = (error.command ?? '').toUpperCase();
  if (command.startsWith('AUTH')) return 'auth';
  if (command.startsWith('MAIL')) return 'mail';
  if (command.startsWith('RCPT')) return 'rcpt';
  if (command.startsWith('DATA') || command === 'MESSAGE') return 'data';
  if (command.startsWith('EHLO') || command.startsWith('HELO')) return 'ehlo';
  if (command.startsWith('STARTTLS') || error.code === 'ETLS') return 'starttls';
  if (command === 'CONN' && error.responseCode !== undefined) return 'greeting';
  if (command === 'CONN' || error.code === 'EDNS') return 'connect';
  return 'network';
}

function failureFrom(error: NodemailerError, connectionLost: boolean, afterFinalDot = false): SessionFailure {
  const reply = (error.response ?? error.message).trim();
  return new SessionFailure(stageOf(error), error.responseCode, reply, connectionLost, afterFinalDot);
}

export class SmartHostSession {
  readonly #connection: SMTPConnection;
  #closed = false;
  readonly #closedPromise: Promise<void>;
  /** Fails the transaction in flight; set while send() waits for nodemailer. */
  #abandonSend: (() => void) | null = null;

  private constructor(connection: SMTPConnection) {
    this.#connection = connection;
    this.#closedPromise = new Promise((resolve) => {
      connection.once('end', () => {
        this.#closed = true;
        // nodemailer 10 does not call back a send whose connection was
        // closed by close(), as on a stop, so the send would wait forever.
        // Other closes (a time-out, say) call back with their own reason
        // first, which clears #abandonSend.
        setImmediate(() => this.#abandonSend?.());
        resolve();
      });
    });
    // Errors also arrive through the callbacks of the call in flight;
    // the listener keeps an error between calls from crashing the process.
    connection.on('error', () => {
      this.#closed = true;
    });
  }

  /** Connects, upgrades to TLS as configured, and authenticates. */
  /**
   * `onGreeted` runs once the smart host has greeted and answered EHLO
   * (and STARTTLS), before AUTH: from then on it counts the connection.
   */
  static async open(config: SmartHostConfig, onGreeted?: () => void): Promise<SmartHostSession> {
    const connection = new SMTPConnection({
      host: config.host,
      port: config.port,
      secure: config.security === 'tls',
      requireTLS: config.security === 'starttls',
      ignoreTLS: config.security === 'none',
      name: config.clientName,
      connectionTimeout: CONNECT_TIMEOUT_MS,
      greetingTimeout: GREETING_TIMEOUT_MS,
      socketTimeout: config.replyTimeoutMs,
      logger: false,
      tls: {
        rejectUnauthorized: config.tlsVerify,
        ...(config.ca ? { ca: config.ca } : {}),
      },
    });
    const session = new SmartHostSession(connection);

    try {
      await SmartHostSession.#connect(connection);
    } catch (error) {
      connection.close();
      await socketClosed(connection);
      throw error;
    }
    onGreeted?.();
    if (config.user) {
      try {
        if (config.authMethod === 'xoauth2') {
          await session.#loginWithToken(config.user, config.tokens);
        } else {
          await session.#login(config.user, config.password ?? '');
        }
      } catch (error) {
        session.close();
        await session.whenClosed();
        throw error;
      }
    }
    return session;
  }

  static #connect(connection: SMTPConnection): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onError = (error: NodemailerError): void => reject(failureFrom(error, true));
      const onEnd = (): void =>
        reject(new SessionFailure('connect', undefined, 'Connection closed before the greeting', true));
      connection.once('error', onError);
      connection.once('end', onEnd);
      connection.connect((error) => {
        connection.off('error', onError);
        connection.off('end', onEnd);
        if (error) reject(failureFrom(error, true));
        else resolve();
      });
    });
  }

  #login(user: string, pass: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#connection.login({ user, pass }, (error) => {
        if (error) reject(failureFrom(error, this.#closed));
        else resolve();
      });
    });
  }

  /**
   * Signs in with XOAUTH2. An OAuthError (no sign-in yet, refresh token
   * refused) passes through unchanged, so the caller can tell it from a
   * smart-host reply.
   */
  async #loginWithToken(user: string, tokens: AccessTokenProvider | null): Promise<void> {
    if (tokens === null) {
      throw new SessionFailure('auth', undefined, 'No OAuth2 sign-in: sign in to the smart host account first', true);
    }
    try {
      await loginWithXOAuth2(this.#connection, user, tokens);
    } catch (error) {
      if (isOAuthError(error)) throw error;
      throw failureFrom(error as NodemailerError, this.#closed);
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Runs one transaction. Throws SessionFailure when the message as a whole failed. */
  send(envelope: MessageEnvelope, message: Readable): Promise<SendOutcome> {
    // nodemailer reads the stream to its end only once DATA was accepted,
    // so 'end' means every byte was handed to the socket.
    let streamed = false;
    message.once('end', () => {
      streamed = true;
    });
    // A message file that cannot be read (deleted by hand, a disk error)
    // fails in the middle of DATA, while the smart host still reads data.
    let unreadable = false;
    message.once('error', () => {
      unreadable = true;
    });
    return new Promise((resolve, reject) => {
      this.#abandonSend = () => {
        this.#abandonSend = null;
        const closed = Object.assign(new Error('Connection closed before the smart host replied'), {
          code: 'ECONNECTION',
        }) as NodemailerError;
        this.#settleFailure(closed, message, streamed, resolve, reject);
      };
      this.#connection.send(
        {
          from: envelope.from === '' ? false : envelope.from,
          to: [...envelope.to],
          size: envelope.size,
          use8BitMime: envelope.eightBit,
        },
        message,
        (error, info) => {
          this.#abandonSend = null;
          if (error) {
            if (unreadable) {
              // An RSET now would count as message data, and the session
              // would wait out the reply timeout. Drop the connection.
              this.#connection.close();
              reject(failureFrom(error, true));
              return;
            }
            this.#settleFailure(error, message, streamed, resolve, reject);
            return;
          }
          resolve({
            accepted: info.accepted,
            rejected: rejectionsOf(info.rejectedErrors ?? [], info.rejected),
            reply: info.response,
          });
        },
      );
    });
  }

  #settleFailure(
    error: NodemailerError,
    message: Readable,
    streamed: boolean,
    resolve: (outcome: SendOutcome) => void,
    reject: (failure: SessionFailure) => void,
  ): void {
    message.destroy();
    // Every recipient refused at RCPT: per-recipient results, not a failure
    // of the message, so each can be bounced or retried on its own.
    if (error.code === 'EENVELOPE' && error.rejectedErrors?.length && !this.#closed) {
      const rejected = rejectionsOf(error.rejectedErrors, error.rejected ?? []);
      resolve({ accepted: [], rejected, reply: rejected[rejected.length - 1]?.reply ?? '' });
      return;
    }
    // A reply code means the smart host did answer the final dot.
    const unknownOutcome = streamed && error.responseCode === undefined;
    reject(failureFrom(error, this.#closed, unknownOutcome));
  }

  /** Sends RSET so the connection can carry the next transaction. */
  reset(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#connection.reset((error) => {
        if (error) reject(failureFrom(error, true));
        else resolve();
      });
    });
  }

  /** Sends QUIT and resolves once the smart host has closed the socket. */
  async quit(): Promise<void> {
    if (!this.#closed) this.#connection.quit();
    await this.whenClosed();
  }

  /** Drops the connection without QUIT. */
  close(): void {
    this.#connection.close();
  }

  /**
   * Resolves once the TCP socket is closed, whoever closed it. nodemailer
   * emits 'end' when it half-closes, before the smart host has seen the
   * close; counting the connection as gone then would let a new one open
   * while the smart host still counts the old one.
   */
  async whenClosed(): Promise<void> {
    await this.#closedPromise;
    await socketClosed(this.#connection);
  }
}

// nodemailer gives up on a graceful close after 5 s and destroys the
// socket; waiting a little longer than that bounds the wait.
const SOCKET_CLOSE_WAIT_MS = 6 * 1000;

/** Resolves when the connection's socket has closed (or never existed). */
function socketClosed(connection: SMTPConnection): Promise<void> {
  const socket = connection._socket;
  if (!socket || socket.closed) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.destroy();
      resolve();
    }, SOCKET_CLOSE_WAIT_MS);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function rejectionsOf(errors: NodemailerError[], addresses: string[]): RecipientRejection[] {
  return addresses.map((address, index) => {
    const error = errors.find((candidate) => candidate.recipient === address) ?? errors[index];
    return {
      address,
      responseCode: error?.responseCode,
      reply: (error?.response ?? error?.message ?? 'rejected').trim(),
    };
  });
}
