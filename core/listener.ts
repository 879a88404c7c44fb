/**
 * Listener: the SMTP server the office's devices send to (smtp-server).
 *
 * Accepts mail from allowed networks, or from devices that authenticated
 * with AUTH PLAIN or LOGIN, and stores each message in the spool before
 * answering 250. Everything else gets a reply that says why:
 *   550 5.7.1  a recipient from a client outside the allowed networks
 *              that has not authenticated (nothing is stored);
 *   552 5.3.4  a message over the size limit (advertised in EHLO);
 *   452 4.3.1  the message could not be written to disk;
 *   535 5.7.8  wrong device credentials;
 *   454 4.7.0  AUTH from an address locked out after authFailureLimit
 *              failures (client-limits.ts);
 *   421 4.7.0  at connect, beyond maxConnectionsPerClient connections
 *              from one address;
 *   421 4.4.2  a client that took longer than clientTimeoutSeconds for a
 *              command, or trickled its message (client-limits.ts);
 *   501 5.5.2  a command line with a bare CR or a NUL in it (RFC 5321
 *              section 2.3.8 allows CR only in the line's CRLF).
 * Upstream trouble never shows here: the device only ever talks to the
 * local queue.
 *
 * Logs QUEUED, REJECTED, AUTH_FAILED and AUTH_LOCKED.
 */
import { SMTPServer } from 'smtp-server';
import type {
  SMTPServerAddress,
  SMTPServerAuthentication,
  SMTPServerDataStream,
  SMTPServerOptions,
  SMTPServerSession,
} from 'smtp-server';
import { SMTPConnection as ServerConnection } from 'smtp-server/lib/smtp-connection';
import type { Settings } from './settings.ts';
import type { AllowedNetworks } from './networks.ts';
import type { TlsCertificate } from './tls-certificate.ts';
import type { Spool } from './spool.ts';
import { newQueueId } from './spool.ts';
import type { EventBus } from './events.ts';
import type { QueueRecord } from './queue-record.ts';
import { SmtpReplyError } from './errors.ts';
import { buildReceivedHeader } from './received-header.ts';
import { authenticateDevice } from './device-auth.ts';
import { AuthLockout, ClientDeadline, RepeatFilter } from './client-limits.ts';

const MEGABYTE = 1024 * 1024;
const MAX_RECIPIENTS_PER_TRANSACTION = 1000;
const MINUTE_MS = 60 * 1000;
// At most one REJECTED or ERROR line per client address and reason in
// this time. The next line reports how many were skipped.
const LOG_REPEAT_INTERVAL_MS = MINUTE_MS;
// How long close() waits for open sessions before cutting them off.
const CLOSE_TIMEOUT_MS = 10 * 1000;
const ENHANCED_CODE_PREFIX = /^[245]\.\d{1,3}\.\d{1,3} /;
// smtp-server 3.21's wait before the greeting. A client that sends a
// command within it gets 421 "You talk too soon".
const EARLY_TALKER_WAIT_MS = 100;

/** Greeting delay of each listener's clients, by remote address, in ms. */
const greetingDelays = new WeakMap<object, (remoteAddress: string) => number>();

/** Per-client limits of each listener, keyed by its SMTPServer. */
interface ClientPolicy {
  readonly maxConnectionsPerClient: number;
  readonly clientTimeoutMs: number;
  readonly onTooManyConnections: (remoteAddress: string, open: number) => void;
  readonly onTimeout: (remoteAddress: string, inData: boolean) => void;
}
const clientPolicies = new WeakMap<object, ClientPolicy>();

/** The parts of smtp-server 3.21's SMTPConnection that the patches use. */
interface Connection {
  readonly _server: {
    readonly options: { readonly maxClients?: number };
    readonly connections: Set<Connection>;
  };
  readonly name: string;
  readonly remoteAddress: string;
  readonly _socket: { readonly bytesRead: number; once(event: 'close', listener: () => void): void };
  readonly _parser: { readonly _dataMode: boolean } | false | null;
  readonly _dataStream: unknown;
  readonly _handlerPending?: boolean;
  readonly _nextHandler: unknown;
  readonly _upgrading: boolean;
  readonly _closing: boolean;
  readonly _closed: boolean;
  _unrecognizedCommands: number;
  _setListeners(callback: () => void): void;
  send(code: number, data: string, context?: unknown): void;
  connectionReady(): void;
}

/** The deadline of each connection of a relay listener. */
const deadlines = new WeakMap<Connection, ClientDeadline>();

patchEnhancedStatusCodes();
patchGreetingDelay();
patchCommandChecks();

/**
 * smtp-server 3.21 adds an enhanced status code to a reply from the reply
 * code and its context alone: 550 becomes 5.1.1, 452 becomes 4.2.2 and a
 * queued message 2.6.0. That is wrong for a relay denial (5.7.1) or a
 * full disk (4.3.1). Our texts start with the right code, so for them the
 * default is skipped. Every other reply keeps smtp-server's code.
 * NOTE: this wraps smtp-server's SMTPConnection.send; check it on upgrades.
 */
function patchEnhancedStatusCodes(): void {
  type Send = (code: number, data: unknown, context?: unknown) => void;
  const prototype = ServerConnection.prototype as unknown as { send: Send; relayPatched?: boolean };
  if (prototype.relayPatched) return;
  const originalSend = prototype.send;
  prototype.send = function send(this: unknown, code: number, data: unknown, context?: unknown) {
    if (typeof data === 'string' && ENHANCED_CODE_PREFIX.test(data)) {
      return originalSend.call(this, code, data, false);
    }
    return originalSend.call(this, code, data, context);
  };
  prototype.relayPatched = true;
}

/**
 * smtp-server 3.21 waits EARLY_TALKER_WAIT_MS before every greeting, to
 * catch spam software that sends before it is greeted. A device that opens
 * one connection per message, as scanners typically do, then waits that
 * long for each message: at best 10 messages/s per concurrent sender.
 * This replaces SMTPConnection.init with a copy that takes the wait from
 * the listener: none for clients in the allowed networks, the full wait
 * for everyone else, so the early-talker check still covers the clients
 * that spam software could come from. An allowed client that sends before the
 * greeting still gets 421, but its window is only the few event-loop turns
 * smtp-server takes to set up a session.
 * NOTE: the body copies init() of smtp-server 3.21.6 apart from the wait;
 * check it on upgrades.
 */
function patchGreetingDelay(): void {
  type Init = (this: Connection) => void;
  const prototype = ServerConnection.prototype as unknown as { init: Init; relayGreetingPatched?: boolean };
  if (prototype.relayGreetingPatched) return;
  const originalInit = prototype.init;
  prototype.init = function init(this: Connection) {
    const delayFor = greetingDelays.get(this._server);
    if (!delayFor) return originalInit.call(this);

    const delayMs = delayFor(this.remoteAddress);
    this._setListeners(() => {
      const { maxClients } = this._server.options;
      if (maxClients && this._server.connections.size > maxClients) {
        return this.send(421, `${this.name} Too many connected clients, try again in a moment`, false);
      }
      if (!admitClient(this)) return;
      if (delayMs > 0) setTimeout(() => this.connectionReady(), delayMs).unref();
      else this.connectionReady();
    });
  };
  prototype.relayGreetingPatched = true;
}

/**
 * Applies the per-address connection limit to a new connection of a
 * relay listener and starts its deadline. Returns false when the
 * connection was refused with 421 (smtp-server closes it after a 421).
 */
function admitClient(connection: Connection): boolean {
  const policy = clientPolicies.get(connection._server);
  if (!policy) return true;

  // smtp-server keeps every open connection in this set, this one
  // included, and removes each as it closes.
  let open = 0;
  for (const other of connection._server.connections) {
    if (other.remoteAddress === connection.remoteAddress) open += 1;
  }
  if (open > policy.maxConnectionsPerClient) {
    policy.onTooManyConnections(connection.remoteAddress, open - 1);
    connection.send(421, '4.7.0 Too many connections from your address, try again later');
    return false;
  }

  const deadline = new ClientDeadline(
    {
      serverBusy: () =>
        Boolean(connection._handlerPending) ||
        Boolean(connection._dataStream && connection._parser && !connection._parser._dataMode),
      inData: () => Boolean(connection._parser && connection._parser._dataMode),
      bytesRead: () => connection._socket.bytesRead,
      closed: () => connection._closing || connection._closed,
      expire: () => {
        policy.onTimeout(connection.remoteAddress, Boolean(connection._parser && connection._parser._dataMode));
        connection.send(421, '4.4.2 Timeout: the client took too long, closing the connection');
      },
    },
    policy.clientTimeoutMs,
  );
  deadlines.set(connection, deadline);
  connection._socket.once('close', () => deadline.stop());
  deadline.restart();
  return true;
}

/**
 * Wraps smtp-server's command dispatch for relay listeners: each complete
 * command line restarts the connection's deadline, and a line with a bare
 * CR or a NUL is rejected before smtp-server parses it. smtp-server
 * splits lines at LF and takes a bare CR for white space, so
 * `RCPT TO:<a@example.com>\rDATA` would otherwise pass as a recipient
 * with a parameter named DATA.
 * NOTE: this wraps SMTPConnection._onCommand of smtp-server 3.21.6;
 * check it on upgrades.
 */
function patchCommandChecks(): void {
  type OnCommand = (this: Connection, command: Buffer, callback?: () => void) => void;
  const prototype = ServerConnection.prototype as unknown as {
    _onCommand: OnCommand;
    relayCommandsPatched?: boolean;
  };
  if (prototype.relayCommandsPatched) return;
  const originalOnCommand = prototype._onCommand;
  prototype._onCommand = function _onCommand(this: Connection, command: Buffer, callback?: () => void) {
    const deadline = deadlines.get(this);
    if (!deadline) return originalOnCommand.call(this, command, callback);

    deadline.restart();
    // An AUTH continuation line belongs to smtp-server's SASL exchange,
    // and a line buffered during a TLS handshake is dropped unanswered.
    const checked = !this._nextHandler && !this._upgrading;
    if (checked && (command.includes(0x0d) || command.includes(0x00))) {
      // Counted like an unknown command, so a client cannot send these
      // without end (smtp-server closes after 10).
      this._unrecognizedCommands += 1;
      if (this._unrecognizedCommands >= 10) {
        return this.send(421, '4.7.0 Too many invalid commands, closing the connection');
      }
      this.send(501, '5.5.2 Syntax error: a bare CR or a NUL is not allowed in a command line');
      setImmediate(() => callback?.());
      return;
    }
    return originalOnCommand.call(this, command, callback);
  };
  prototype.relayCommandsPatched = true;
}

export interface ListenerOptions {
  readonly settings: Settings;
  readonly networks: AllowedNetworks;
  readonly certificate: TlsCertificate;
  readonly spool: Spool;
  readonly bus: EventBus;
  readonly now: () => number;
  /** Called once a message is on disk, to schedule its delivery. */
  readonly onQueued: (record: QueueRecord) => void;
}

export class Listener {
  readonly #options: ListenerOptions;
  readonly #server: SMTPServer;
  readonly #lockout: AuthLockout;
  #address: { host: string; port: number } | null = null;

  constructor(options: ListenerOptions) {
    this.#options = options;
    const { settings } = options;
    this.#lockout = new AuthLockout({
      limit: settings.authFailureLimit,
      windowMs: settings.authLockoutMinutes * MINUTE_MS,
      now: options.now,
    });
    this.#server = new SMTPServer(this.#serverOptions());
    greetingDelays.set(this.#server, (remoteAddress) =>
      options.networks.contains(remoteAddress) ? 0 : EARLY_TALKER_WAIT_MS,
    );
    const repeats = new RepeatFilter(LOG_REPEAT_INTERVAL_MS, options.now);
    clientPolicies.set(this.#server, {
      maxConnectionsPerClient: settings.maxConnectionsPerClient,
      clientTimeoutMs: settings.clientTimeoutSeconds * 1000,
      onTooManyConnections: (remoteAddress, open) => {
        const skipped = repeats.admit(`connections ${remoteAddress}`);
        if (skipped === null) return;
        options.bus.emit('REJECTED', {
          client: remoteAddress,
          reason: 'too many connections',
          open,
          limit: settings.maxConnectionsPerClient,
          skipped: skipped || undefined,
        });
      },
      onTimeout: (remoteAddress, inData) => {
        const skipped = repeats.admit(`timeout ${remoteAddress}`);
        if (skipped === null) return;
        options.bus.emit('REJECTED', {
          client: remoteAddress,
          reason: inData ? 'timeout in DATA' : 'timeout waiting for a command',
          timeout: `${settings.clientTimeoutSeconds}s`,
          skipped: skipped || undefined,
        });
      },
    });
    // Most of these come from one client (a failed TLS handshake, a reset
    // in a transaction), and one client can cause them by the thousand.
    this.#server.on('error', (error: Error & { remoteAddress?: string; code?: string }) => {
      const skipped = repeats.admit(`error ${error.remoteAddress ?? ''} ${error.code ?? error.message}`);
      if (skipped === null) return;
      options.bus.emit('ERROR', {
        what: 'listener',
        client: error.remoteAddress,
        error: error.message,
        skipped: skipped || undefined,
      });
    });
  }

  #serverOptions(): SMTPServerOptions {
    const { settings, certificate } = this.#options;
    const hasUsers = settings.deviceUsers.length > 0;
    const legacyTls = settings.tlsMinVersion === 'TLSv1' || settings.tlsMinVersion === 'TLSv1.1';

    return {
      name: settings.hostname,
      banner: 'Smarthost Relay ready',
      size: Math.floor(settings.maxMessageSizeMb * MEGABYTE),
      key: certificate.key,
      cert: certificate.cert,
      minVersion: settings.tlsMinVersion,
      // OpenSSL 3 refuses TLS 1.0/1.1 at its default security level, so a
      // listener opened for legacy devices has to lower it.
      ...(legacyTls ? { ciphers: 'DEFAULT:@SECLEVEL=0' } : {}),
      authMethods: ['PLAIN', 'LOGIN'],
      authOptional: true,
      allowInsecureAuth: settings.allowPlaintextAuth,
      disabledCommands: hasUsers ? [] : ['AUTH'],
      hideDSN: true,
      // Postfix's smtpd_recipient_limit default; beyond it smtp-server
      // answers 452 4.5.3 and a well-behaved client sends the rest in a
      // new transaction (RFC 5321 section 4.5.3.1.10).
      maxRecipients: MAX_RECIPIENTS_PER_TRANSACTION,
      // RFC 3463 codes on every reply (smtp-server hides them by default),
      // so the 552 5.3.4 for a SIZE= over the limit carries one too.
      hideENHANCEDSTATUSCODES: false,
      disableReverseLookup: true,
      socketTimeout: settings.clientTimeoutSeconds * 1000,
      closeTimeout: CLOSE_TIMEOUT_MS,
      logger: false,
      onAuth: (auth, session, callback) => {
        this.#authenticate(auth, session).then(
          (user) => callback(null, { user }),
          (error: Error) => callback(error),
        );
      },
      onRcptTo: (address, session, callback) => {
        callback(this.#checkRelay(address, session) ?? undefined);
      },
      onData: (stream, session, callback) => {
        this.#store(stream, session).then(
          () => callback(null, `2.0.0 Ok: queued as ${this.#lastId(session)}`),
          (error: Error) => callback(error),
        );
      },
    };
  }

  async #authenticate(
    auth: SMTPServerAuthentication,
    session: SMTPServerSession,
  ): Promise<string> {
    const client = session.remoteAddress;
    const username = auth.username ?? '';
    // A locked-out address learns nothing about its password, right or
    // wrong, so guessing on cannot tell when a guess was correct.
    const lockedUntil = this.#lockout.lockedUntil(client);
    if (lockedUntil !== null) return Promise.reject(lockedError(lockedUntil));

    const ok = await authenticateDevice(
      this.#options.settings.deviceUsers,
      username,
      auth.password ?? '',
    );
    if (ok) {
      this.#lockout.recordSuccess(client);
      return username;
    }

    this.#options.bus.emit('AUTH_FAILED', { client, user: username, method: auth.method });
    const lockout = this.#lockout.recordFailure(client);
    if (lockout) {
      this.#options.bus.emit('AUTH_LOCKED', {
        client,
        failures: lockout.failures,
        minutes: this.#options.settings.authLockoutMinutes,
        until: new Date(lockout.lockedUntil).toISOString(),
      });
    }
    const error = new SmtpReplyError(
      'ERELAY_DENIED',
      535,
      '5.7.8',
      'Authentication failed: the user name or password is wrong',
    );
    return Promise.reject(error);
  }

  #checkRelay(address: SMTPServerAddress, session: SMTPServerSession): Error | null {
    if (session.user || this.#options.networks.contains(session.remoteAddress)) return null;

    this.#options.bus.emit('REJECTED', {
      client: session.remoteAddress,
      from: `<${session.envelope.mailFrom ? session.envelope.mailFrom.address : ''}>`,
      to: `<${address.address}>`,
      reason: 'relay denied',
    });
    return new SmtpReplyError(
      'ERELAY_DENIED',
      550,
      '5.7.1',
      `Relaying denied: ${session.remoteAddress} is not in the allowed networks and has not authenticated`,
    );
  }

  #lastId(session: SMTPServerSession): string {
    return (session as SMTPServerSession & { relayQueueId?: string }).relayQueueId ?? '';
  }

  async #store(stream: SMTPServerDataStream, session: SMTPServerSession): Promise<void> {
    const { spool, bus, now, settings } = this.#options;
    const receivedAt = now();
    const id = newQueueId(receivedAt);
    const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
    const recipients = session.envelope.rcptTo.map((rcpt) => rcpt.address);
    const prefix = buildReceivedHeader({
      helo: session.hostNameAppearsAs || 'unknown',
      clientAddress: session.remoteAddress,
      byHost: settings.hostname,
      id,
      tls: session.secure,
      authenticated: Boolean(session.user),
      recipients,
      date: new Date(receivedAt),
    });

    const limit = Math.floor(settings.maxMessageSizeMb * MEGABYTE);
    const { record } = await spool.accept(
      {
        version: 1,
        id,
        from,
        recipients: recipients.map((address) => ({ address, status: 'pending', reply: null })),
        receivedAt,
        client: {
          address: session.remoteAddress,
          helo: session.hostNameAppearsAs || '',
          user: typeof session.user === 'string' ? session.user : null,
        },
        dsn: false,
        state: 'queued',
        attempts: 0,
        lastReply: null,
        lastAttemptAt: null,
        nextAttemptAt: receivedAt,
      },
      prefix,
      checkedBody(stream, limit),
    );

    (session as SMTPServerSession & { relayQueueId?: string }).relayQueueId = id;
    bus.emit('QUEUED', {
      id,
      from: `<${from}>`,
      to: recipients.map((address) => `<${address}>`).join(','),
      size: record.size,
      client: session.remoteAddress,
      user: typeof session.user === 'string' ? session.user : undefined,
    });
    this.#options.onQueued(record);
  }

  async listen(): Promise<{ host: string; port: number }> {
    const { host, port } = this.#options.settings.listen;
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error): void => reject(error);
      this.#server.server.once('error', onError);
      this.#server.listen(port, host, () => {
        this.#server.server.off('error', onError);
        resolve();
      });
    });
    const address = this.#server.server.address();
    if (address === null || typeof address === 'string') throw new Error('listener has no TCP address');
    this.#address = { host: address.address, port: address.port };
    return this.#address;
  }

  get address(): { host: string; port: number } | null {
    return this.#address;
  }

  /** Stops accepting sessions; open sessions get CLOSE_TIMEOUT_MS to finish. */
  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

/** Builds the 454 reply to AUTH from an address that is locked out. */
function lockedError(lockedUntil: number): SmtpReplyError {
  return new SmtpReplyError(
    'ERELAY_DENIED',
    454,
    '4.7.0',
    `Too many failed logins from your address: AUTH is locked until ${new Date(lockedUntil).toISOString()}`,
  );
}

/**
 * Passes the DATA stream through, stopping with 552 5.3.4 as soon as the
 * size limit is crossed so an oversized message is never stored.
 */
async function* checkedBody(stream: SMTPServerDataStream, limit: number): AsyncGenerator<Buffer> {
  const tooBig = (): SmtpReplyError =>
    new SmtpReplyError('ETOO_LARGE', 552, '5.3.4', `Message too big: the limit is ${limit} bytes`);

  for await (const chunk of stream as AsyncIterable<Buffer>) {
    if (stream.sizeExceeded) throw tooBig();
    yield chunk;
  }
  if (stream.sizeExceeded) throw tooBig();
}
