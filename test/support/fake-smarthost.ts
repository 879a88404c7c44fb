/**
 * A scripted fake smart host: a real smtp-server listener on 127.0.0.1, port 0,
 * that records what the client sends and replies the way the test scripts it.
 *
 * Hooks return `undefined` to accept, a `Reply` to reject with, or an `Action`
 * ('close' destroys the socket, 'silent' never replies). A Reply with a code
 * below 400 also accepts, but only onData sends its text. Replies are sent
 * verbatim, so a scripted reply carries its own enhanced status code
 * (RFC 3463), e.g. `{ code: 452, message: '4.2.2 Mailbox full' }`. The
 * built-in replies of smtp-server 3.21.6 ("250 Accepted") carry none, because
 * it keeps the ENHANCEDSTATUSCODES extension off by default.
 *
 * smtp-server waits about 100 ms after accepting a socket before it sends the
 * greeting, to catch clients that talk too early, so every connection costs
 * at least that much.
 *
 * With `authMethods: ['XOAUTH2']` the fake checks OAuth2 bearer tokens
 * (the SASL XOAUTH2 mechanism of Google and Microsoft) with
 * `auth.verifyAccessToken`. A rejected token gets the Gmail-style reply
 * that core/oauth/xoauth2.ts describes: 334 with a base64 JSON error, then
 * 535 after the client's empty line. An onAuth hook can script the direct
 * 535 of Microsoft 365 instead.
 */
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import { generate } from 'selfsigned';
import { SMTPServer } from 'smtp-server';
import type {
  SMTPServerAddress,
  SMTPServerAuthentication,
  SMTPServerAuthenticationResponse,
  SMTPServerDataStream,
  SMTPServerOptions,
  SMTPServerSession,
} from 'smtp-server';

const HOST = '127.0.0.1';
const DEFAULT_WAIT_TIMEOUT_MS = 15_000;
// Error JSON of the 334 reply to a rejected XOAUTH2 bearer token, in the
// shape that smtp-server's default onAuth and Gmail send.
const XOAUTH2_ERROR_CHALLENGE = { status: '401', schemes: 'bearer', scope: 'https://mail.google.com/' };
// Grace period that smtp-server.close() gives open sessions. stop() destroys
// every socket first, so this only bounds sockets accepted during stop().
const CLOSE_TIMEOUT_MS = 1_000;

/** An SMTP reply to send instead of the default one. */
export interface Reply {
  code: number;
  message: string;
}

/** 'close' destroys the socket without a reply, 'silent' never replies. */
export type Action = { action: 'close' } | { action: 'silent' };

export type HookResult = Reply | Action | undefined;
export type HookReturn = HookResult | Promise<HookResult>;

/** Snapshot of one client connection, passed to every hook. */
export interface ConnectionInfo {
  /** 1-based, in the order the fake accepted the sockets. */
  connectionId: number;
  sessionId: string;
  remoteAddress: string;
  remotePort: number;
  secure: boolean;
  /** User name of a successful AUTH on this connection. */
  user: string | undefined;
  /** Name the client gave with EHLO or HELO. */
  heloName: string | undefined;
  /** MAIL commands accepted on this connection so far (the current one included). */
  transactionIndex: number;
}

/** Envelope of the current mail transaction, as accepted so far. */
export interface TransactionInfo extends ConnectionInfo {
  /** Reverse path, '' for the null sender. */
  from: string;
  to: string[];
}

export interface AuthRequest {
  method: string;
  user: string;
  /** '' for XOAUTH2, which carries no password. */
  password: string;
  /** Bearer token of an XOAUTH2 request, or undefined for other mechanisms. */
  accessToken: string | undefined;
}

/** A message whose final dot arrived. */
export interface ReceivedMessage {
  /** Reverse path, '' for the null sender. */
  from: string;
  to: string[];
  /** Message content exactly as received, after dot-unstuffing. */
  raw: Buffer;
  connectionId: number;
  /** 1-based index of the MAIL transaction on its connection. */
  transactionIndex: number;
  receivedAt: Date;
  secure: boolean;
  user: string | undefined;
  /** Queue id in the 250 reply of an accepted message. */
  queueId: string;
}

export type MessageOutcome = 'accepted' | 'rejected' | 'closed' | 'silent';

export interface MessageRecord extends ReceivedMessage {
  outcome: MessageOutcome;
}

/** A DATA transfer that ended without the final dot. */
export interface InterruptedMessage {
  connectionId: number;
  transactionIndex: number;
  from: string;
  to: string[];
  /** Message bytes received before the connection closed. */
  bytesReceived: number;
  closedBy: 'smarthost' | 'client';
}

export interface AuthAttempt {
  connectionId: number;
  method: string;
  user: string;
  /** Bearer token of an XOAUTH2 attempt, or undefined for other mechanisms. */
  accessToken: string | undefined;
  succeeded: boolean;
}

/** SASL mechanisms that the fake can offer and check. */
export type AuthMethod = 'PLAIN' | 'LOGIN' | 'XOAUTH2';

/** The one account that AUTH accepts. */
export interface FakeAccount {
  user: string;
  /** Password for PLAIN and LOGIN. Without one, those mechanisms always fail. */
  pass?: string;
  /**
   * Returns true when an XOAUTH2 bearer token for `user` is valid. When it
   * is not set, every XOAUTH2 attempt fails.
   */
  verifyAccessToken?: (accessToken: string) => boolean;
}

export type SmtpStage = 'CONNECT' | 'AUTH' | 'MAIL' | 'RCPT' | 'DATA';

/**
 * A 4xx or 5xx reply that the fake decided on. Rejections that smtp-server
 * makes by itself, such as syntax errors or a MAIL SIZE= over the limit, are
 * not recorded.
 */
export interface RejectedReply {
  connectionId: number;
  stage: SmtpStage;
  code: number;
  message: string;
}

export interface ConnectionRecord {
  connectionId: number;
  remoteAddress: string;
  remotePort: number;
  openedAt: Date;
  /** When the server read the client's FIN or RST, or the socket closed. */
  closedAt: Date | undefined;
  /** MAIL commands accepted on this connection since start or reset(). */
  transactions: number;
}

export interface FakeSmartHostOptions {
  /**
   * 'starttls' offers STARTTLS, 'tls' is implicit TLS (as on port 465).
   * Both use a certificate for localhost, 127.0.0.1 and ::1 signed by
   * `testCertificateAuthority()`. Default 'none'.
   */
  security?: 'none' | 'starttls' | 'tls';
  /** Reject MAIL with 530 until the connection uses TLS. */
  requireTls?: boolean;
  /**
   * When set, AUTH is offered with the mechanisms in `authMethods` and is
   * required, and credentials are checked against this account.
   */
  auth?: FakeAccount | undefined;
  /** Mechanisms offered in the EHLO reply when `auth` is set. Default PLAIN and LOGIN. */
  authMethods?: readonly AuthMethod[];
  /**
   * Allow AUTH before STARTTLS when `security` is 'starttls'. Without it
   * smtp-server rejects such an AUTH with 538.
   */
  allowInsecureAuth?: boolean;
  /** Maximum message size in bytes, offered with the SIZE extension and enforced with 552. */
  size?: number;
  /** Host name in the greeting and the EHLO reply. */
  name?: string;
  /**
   * Idle time in ms after which smtp-server drops a client that owes it a
   * command. smtp-server's default is 60 s.
   */
  socketTimeoutMs?: number;
  /**
   * Destroy the socket once at least this many message bytes of a DATA
   * transfer have arrived. The check runs per received chunk, so the final
   * dot may already have arrived in the same chunk, but no reply is sent.
   * A function can decide per transaction, and undefined lets the transfer
   * finish.
   */
  closeAfterDataBytes?: number | ((transaction: TransactionInfo) => number | undefined);
  /** Runs before the greeting. A Reply here replaces the greeting and closes the connection. */
  onConnect?: (connection: ConnectionInfo) => HookReturn;
  /** Runs before the credentials are checked. */
  onAuth?: (request: AuthRequest, connection: ConnectionInfo) => HookReturn;
  onMailFrom?: (address: string, connection: ConnectionInfo) => HookReturn;
  onRcptTo?: (address: string, transaction: TransactionInfo) => HookReturn;
  /**
   * Runs after the final dot and before the final reply. A Reply with a code
   * below 400 accepts the message with that reply text.
   */
  onData?: (message: ReceivedMessage, transaction: TransactionInfo) => HookReturn;
}

export type FakeSmartHostHooks = Pick<
  FakeSmartHostOptions,
  'onConnect' | 'onAuth' | 'onMailFrom' | 'onRcptTo' | 'onData' | 'closeAfterDataBytes'
>;

export interface TestCertificates {
  /** PEM certificate of the test CA, for the client's trust store. */
  ca: string;
  /** PEM certificate of the server, signed by the CA. */
  cert: string;
  /** PEM private key of the server certificate. */
  key: string;
}

let certificates: Promise<TestCertificates> | undefined;

/**
 * Generates a test CA and a server certificate for localhost, 127.0.0.1 and
 * ::1 on the first call, and returns the same PEMs on later calls in this
 * process.
 */
export function testCertificateAuthority(): Promise<TestCertificates> {
  certificates ??= generateCertificates();
  return certificates;
}

async function generateCertificates(): Promise<TestCertificates> {
  // EC keys, because generating them is much faster than 2048-bit RSA keys.
  const ca = await generate([{ name: 'commonName', value: 'Smarthost Relay Test CA' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    ],
  });

  const server = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  });

  return { ca: ca.cert, cert: server.cert, key: server.private };
}

/** smtp-server reads `responseCode` from the error a handler passes back. */
class SmtpReplyError extends Error {
  constructor(readonly responseCode: number, message: string) {
    super(message);
  }
}

interface ConnectionState {
  record: ConnectionRecord;
  socket: Socket;
  sessionId: string | undefined;
  user: string | undefined;
  /** MAIL commands accepted on the connection, never cleared by reset(). */
  transactionIndex: number;
}

interface MessageWaiter {
  count: number;
  resolve: (messages: ReceivedMessage[]) => void;
}

interface IdleWaiter {
  resolve: () => void;
}

function isAction(result: HookResult): result is Action {
  return result !== undefined && 'action' in result;
}

function socketKey(address: string | undefined, port: number | undefined): string {
  return `${address ?? '?'}:${port ?? 0}`;
}

export class FakeSmartHost {
  /** Every message whose final dot arrived, whatever the reply. */
  readonly receivedMessages: MessageRecord[] = [];
  readonly interruptedMessages: InterruptedMessage[] = [];
  readonly authAttempts: AuthAttempt[] = [];
  readonly rejectedReplies: RejectedReply[] = [];
  /** Connections accepted since start or the last reset(), plus those still open at the reset. */
  readonly connections: ConnectionRecord[] = [];
  /** Errors that smtp-server emitted and exceptions thrown by hooks. */
  readonly serverErrors: Error[] = [];

  private readonly options: FakeSmartHostOptions;
  private hooks: FakeSmartHostHooks;
  private server: SMTPServer | undefined;
  private listeningPort: number | undefined;
  private tlsCertificates: TestCertificates | undefined;
  private nextConnectionId = 1;
  private openCount = 0;
  /** Sockets accepted but not yet in openCount, see countOpened(). */
  private pendingOpenCount = 0;
  private maxOpenCount = 0;
  private openedSinceReset = 0;
  private readonly openSockets = new Map<string, ConnectionState>();
  private readonly sessions = new Map<string, ConnectionState>();
  private messageWaiters: MessageWaiter[] = [];
  private idleWaiters: IdleWaiter[] = [];

  constructor(options: FakeSmartHostOptions = {}) {
    const security = options.security ?? 'none';
    if (options.requireTls && security === 'none') {
      throw new Error(
        "FakeSmartHost: requireTls needs security 'starttls' or 'tls', got 'none'.",
      );
    }

    this.options = { ...options, security };
    this.hooks = {
      onConnect: options.onConnect,
      onAuth: options.onAuth,
      onMailFrom: options.onMailFrom,
      onRcptTo: options.onRcptTo,
      onData: options.onData,
      closeAfterDataBytes: options.closeAfterDataBytes,
    };
  }

  /** Starts listening on 127.0.0.1 with a port chosen by the kernel. */
  async start(): Promise<{ host: '127.0.0.1'; port: number }> {
    if (this.server) {
      throw new Error('FakeSmartHost: start() was called twice. Create a new instance instead.');
    }

    if (this.options.security !== 'none') {
      this.tlsCertificates = await testCertificateAuthority();
    }

    const server = new SMTPServer(this.serverOptions());
    server.on('error', (error) => this.serverErrors.push(error));
    server.server.on('connection', (socket: Socket) => this.onSocket(socket));
    this.server = server;

    server.listen(0, HOST);
    await once(server.server, 'listening');
    this.listeningPort = (server.server.address() as AddressInfo).port;
    return { host: HOST, port: this.listeningPort };
  }

  /** Destroys every open connection and closes the listener. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) {
      return;
    }

    for (const state of this.openSockets.values()) {
      state.socket.destroy();
    }
    await new Promise<void>((resolve) => server.close(() => resolve()));
    this.server = undefined;
  }

  get host(): '127.0.0.1' {
    return HOST;
  }

  get port(): number {
    if (this.listeningPort === undefined) {
      throw new Error('FakeSmartHost: the port is not known before start() resolves.');
    }
    return this.listeningPort;
  }

  /** The test CA and server certificate, set after start() when `security` is not 'none'. */
  get tls(): TestCertificates | undefined {
    return this.tlsCertificates;
  }

  /** Messages that got a 2xx reply after the final dot. */
  get messages(): MessageRecord[] {
    return this.receivedMessages.filter((message) => message.outcome === 'accepted');
  }

  get connectionsOpened(): number {
    return this.openedSinceReset;
  }

  /**
   * Connections open from the server's side: from accept (counted two
   * event-loop turns later, see countOpened) until the server reads the
   * client's FIN or RST or the socket closes.
   */
  get openConnections(): number {
    return this.openCount;
  }

  /** Maximum of `openConnections` since start or reset(). */
  get maxOpenConnections(): number {
    return this.maxOpenCount;
  }

  /** Accepted MAIL commands per connection, in the order the connections were accepted. */
  transactionsPerConnection(): number[] {
    return this.connections.map((connection) => connection.transactions);
  }

  get maxTransactionsOnOneConnection(): number {
    return Math.max(0, ...this.transactionsPerConnection());
  }

  /** Replaces the scripted hooks named in `hooks` and keeps the others. */
  setHooks(hooks: FakeSmartHostHooks): void {
    this.hooks = { ...this.hooks, ...hooks };
  }

  /**
   * Clears every record and counter. Connections still open stay counted as
   * open and stay in `connections` with zero transactions, but they do not
   * count in `connectionsOpened`. Connection ids and the per-connection
   * `transactionIndex` keep counting.
   */
  reset(): void {
    this.receivedMessages.length = 0;
    this.interruptedMessages.length = 0;
    this.authAttempts.length = 0;
    this.rejectedReplies.length = 0;
    this.serverErrors.length = 0;
    this.connections.length = 0;
    for (const state of this.openSockets.values()) {
      if (state.record.closedAt === undefined) {
        state.record.transactions = 0;
        this.connections.push(state.record);
      }
    }
    this.openedSinceReset = 0;
    this.maxOpenCount = this.openCount;
  }

  /**
   * Resolves with the accepted messages once at least `count` are recorded.
   * Rejects after `timeoutMs` with the count that did arrive.
   */
  waitForMessages(count: number, timeoutMs = DEFAULT_WAIT_TIMEOUT_MS): Promise<ReceivedMessage[]> {
    const accepted = this.messages;
    if (accepted.length >= count) {
      return Promise.resolve(accepted);
    }

    return new Promise((resolve, reject) => {
      const waiter: MessageWaiter = {
        count,
        resolve: (messages) => {
          clearTimeout(timer);
          resolve(messages);
        },
      };
      const timer = setTimeout(() => {
        this.messageWaiters = this.messageWaiters.filter((entry) => entry !== waiter);
        reject(
          new Error(
            `FakeSmartHost: timed out after ${timeoutMs} ms waiting for ${count} accepted ` +
              `messages; ${this.messages.length} accepted, ` +
              `${this.receivedMessages.length} received in total.`,
          ),
        );
      }, timeoutMs);
      this.messageWaiters.push(waiter);
    });
  }

  /** Resolves once no socket is open. Rejects after `timeoutMs` with the open count. */
  waitForIdle(timeoutMs = DEFAULT_WAIT_TIMEOUT_MS): Promise<void> {
    if (this.openCount === 0 && this.pendingOpenCount === 0) {
      return Promise.resolve();
    }

    return new Promise((resolve, reject) => {
      const waiter: IdleWaiter = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.idleWaiters = this.idleWaiters.filter((entry) => entry !== waiter);
        reject(
          new Error(
            `FakeSmartHost: timed out after ${timeoutMs} ms waiting for all connections ` +
              `to close; ${this.openCount} still open.`,
          ),
        );
      }, timeoutMs);
      this.idleWaiters.push(waiter);
    });
  }

  private serverOptions(): SMTPServerOptions {
    const { security, auth } = this.options;
    const disabledCommands: string[] = [];
    if (security === 'none') {
      disabledCommands.push('STARTTLS');
    }
    if (!auth) {
      disabledCommands.push('AUTH');
    }

    const options: SMTPServerOptions = {
      name: this.options.name ?? 'fake-smarthost.test',
      secure: security === 'tls',
      disabledCommands,
      authOptional: !auth,
      allowInsecureAuth: this.options.allowInsecureAuth ?? false,
      disableReverseLookup: true,
      logger: false,
      closeTimeout: CLOSE_TIMEOUT_MS,
      onConnect: (session, callback) =>
        this.guard(callback, () => this.handleConnect(session, callback)),
      onAuth: (authData, session, callback) =>
        this.guard(callback, () => this.handleAuth(authData, session, callback)),
      onMailFrom: (address, session, callback) =>
        this.guard(callback, () => this.handleMailFrom(address, session, callback)),
      onRcptTo: (address, session, callback) =>
        this.guard(callback, () => this.handleRcptTo(address, session, callback)),
      onData: (stream, session, callback) =>
        this.guard(callback, () => this.handleData(stream, session, callback)),
    };
    if (this.options.size !== undefined) {
      options.size = this.options.size;
    }
    if (this.options.socketTimeoutMs !== undefined) {
      options.socketTimeout = this.options.socketTimeoutMs;
    }
    if (this.options.authMethods !== undefined) {
      options.authMethods = [...this.options.authMethods];
    }
    if (this.tlsCertificates) {
      options.key = this.tlsCertificates.key;
      options.cert = this.tlsCertificates.cert;
    }
    return options;
  }

  // An exception must not escape into smtp-server's socket handlers, where
  // it would crash the test worker, so it is recorded and rejected with 451.
  private guard(callback: (error?: Error | null) => void, handler: () => void): void {
    try {
      handler();
    } catch (error) {
      this.serverErrors.push(error instanceof Error ? error : new Error(String(error)));
      callback(new SmtpReplyError(451, '4.3.0 Fake smart host internal error'));
    }
  }

  // Records every accepted socket, so that a connection whose TLS handshake
  // fails still counts.
  private onSocket(socket: Socket): void {
    const record: ConnectionRecord = {
      connectionId: this.nextConnectionId++,
      remoteAddress: socket.remoteAddress ?? '',
      remotePort: socket.remotePort ?? 0,
      openedAt: new Date(),
      closedAt: undefined,
      transactions: 0,
    };
    const state: ConnectionState = {
      record,
      socket,
      sessionId: undefined,
      user: undefined,
      transactionIndex: 0,
    };
    const key = socketKey(socket.remoteAddress, socket.remotePort);

    this.connections.push(record);
    this.openSockets.set(key, state);
    this.openedSinceReset += 1;

    // The connection counts as closed once the server reads the client's
    // FIN or RST, or the socket closes, whichever comes first. Node emits
    // 'close' only in a later event-loop phase, after it may already have
    // accepted the client's next connection.
    const countClosed = this.countOpened();
    const onGone = (): void => {
      if (record.closedAt === undefined) {
        record.closedAt = new Date();
        countClosed();
      }
    };
    socket.once('end', onGone);
    socket.on('error', onGone);
    // Hooks may still run after 'end' for commands that arrived with the
    // FIN, so the session lookup stays until 'close'.
    socket.once('close', () => {
      onGone();
      this.openSockets.delete(key);
      if (state.sessionId !== undefined) {
        this.sessions.delete(state.sessionId);
      }
    });
  }

  /**
   * Counts an accepted socket as open and returns the function that counts
   * it as closed.
   *
   * libuv accepts every queued connection at once, so the server can accept
   * a client's new connection before it reads the FIN or RST that the client
   * sent earlier on another connection. The count therefore goes up two
   * event-loop turns after the accept: the poll phase in between reads any
   * close that reached the kernel before the new connection did. Without
   * this, `smtp-source -m 20 -s 4` against this fake reached 5 open
   * connections in 11 of 40 runs on a 2-core VM.
   */
  private countOpened(): () => void {
    let counted = false;
    let closed = false;
    this.pendingOpenCount += 1;

    setImmediate(() =>
      setImmediate(() => {
        this.pendingOpenCount -= 1;
        this.openCount += 1;
        this.maxOpenCount = Math.max(this.maxOpenCount, this.openCount);
        counted = true;
        if (closed) {
          this.openCount -= 1;
        }
        this.notifyIdleWaiters();
      }),
    );

    return () => {
      closed = true;
      if (counted) {
        this.openCount -= 1;
        this.notifyIdleWaiters();
      }
    };
  }

  private notifyIdleWaiters(): void {
    if (this.openCount > 0 || this.pendingOpenCount > 0) {
      return;
    }
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    waiters.forEach((waiter) => waiter.resolve());
  }

  private stateFor(session: SMTPServerSession): ConnectionState {
    const known = this.sessions.get(session.id);
    if (known) {
      return known;
    }

    const state = this.openSockets.get(socketKey(session.remoteAddress, session.remotePort));
    if (!state) {
      throw new Error(
        `FakeSmartHost internal error: no socket for session ${session.id} from ` +
          `${session.remoteAddress}:${session.remotePort}.`,
      );
    }
    state.sessionId = session.id;
    this.sessions.set(session.id, state);
    return state;
  }

  private connectionInfo(session: SMTPServerSession, state: ConnectionState): ConnectionInfo {
    return {
      connectionId: state.record.connectionId,
      sessionId: session.id,
      remoteAddress: session.remoteAddress,
      remotePort: session.remotePort,
      secure: session.secure,
      user: state.user,
      heloName: session.hostNameAppearsAs || undefined,
      transactionIndex: state.transactionIndex,
    };
  }

  private transactionInfo(session: SMTPServerSession, state: ConnectionState): TransactionInfo {
    const mailFrom = session.envelope.mailFrom;
    return {
      ...this.connectionInfo(session, state),
      from: mailFrom ? mailFrom.address : '',
      to: session.envelope.rcptTo.map((recipient) => recipient.address),
    };
  }

  /**
   * Runs a hook and applies its result, which it also returns. `accept` runs
   * for undefined or a reply below 400. A rejection is recorded and passed to
   * smtp-server. A hook that throws is recorded in `serverErrors`, and the
   * command is rejected with 451.
   */
  private async applyHook(
    stage: SmtpStage,
    state: ConnectionState,
    hook: () => HookReturn,
    callback: (error?: Error | null) => void,
    accept: (reply: Reply | undefined) => void,
  ): Promise<HookResult> {
    let result: HookResult;
    try {
      result = await hook();
    } catch (error) {
      this.serverErrors.push(error instanceof Error ? error : new Error(String(error)));
      result = { code: 451, message: `4.3.0 Fake smart host ${stage} hook threw an error` };
    }

    if (isAction(result)) {
      if (result.action === 'close') {
        state.socket.destroy();
      }
      // 'silent': the callback is never called, so smtp-server never replies.
      return result;
    }

    if (result === undefined || result.code < 400) {
      accept(result);
      return result;
    }

    this.reject(stage, state, result, callback);
    return result;
  }

  private reject(
    stage: SmtpStage,
    state: ConnectionState,
    reply: Reply,
    callback: (error?: Error | null) => void,
  ): void {
    this.rejectedReplies.push({ connectionId: state.record.connectionId, stage, ...reply });
    callback(new SmtpReplyError(reply.code, reply.message));
  }

  private handleConnect(
    session: SMTPServerSession,
    callback: (error?: Error | null) => void,
  ): void {
    const state = this.stateFor(session);
    const hook = this.hooks.onConnect;
    void this.applyHook(
      'CONNECT',
      state,
      () => hook?.(this.connectionInfo(session, state)),
      callback,
      () => callback(),
    );
  }

  private handleAuth(
    authData: SMTPServerAuthentication,
    session: SMTPServerSession,
    callback: (
      error: Error | null | undefined,
      response?: SMTPServerAuthenticationResponse,
    ) => void,
  ): void {
    const state = this.stateFor(session);
    const request: AuthRequest = {
      method: authData.method,
      user: authData.username ?? '',
      password: authData.password ?? '',
      accessToken: authData.method === 'XOAUTH2' ? authData.accessToken : undefined,
    };
    const hook = this.hooks.onAuth;

    void this.applyHook(
      'AUTH',
      state,
      () => hook?.(request, this.connectionInfo(session, state)),
      (error) => {
        this.recordAuth(state, request, false);
        callback(error);
      },
      () => {
        const succeeded = this.credentialsValid(request);
        this.recordAuth(state, request, succeeded);

        if (succeeded) {
          state.user = request.user;
          callback(null, { user: request.user });
          return;
        }
        if (request.method === 'XOAUTH2') {
          // A response without `user` makes smtp-server send `data` in a 334
          // challenge and reply 535 to the client's next line.
          callback(null, { data: XOAUTH2_ERROR_CHALLENGE });
          return;
        }
        this.reject(
          'AUTH',
          state,
          { code: 535, message: '5.7.8 Authentication credentials invalid' },
          (error) => callback(error),
        );
      },
    );
  }

  private credentialsValid(request: AuthRequest): boolean {
    const account = this.options.auth;
    if (account === undefined || request.user !== account.user) {
      return false;
    }
    if (request.method === 'XOAUTH2') {
      const token = request.accessToken;
      return token !== undefined && account.verifyAccessToken?.(token) === true;
    }
    return account.pass !== undefined && request.password === account.pass;
  }

  private recordAuth(state: ConnectionState, request: AuthRequest, succeeded: boolean): void {
    this.authAttempts.push({
      connectionId: state.record.connectionId,
      method: request.method,
      user: request.user,
      accessToken: request.accessToken,
      succeeded,
    });
  }

  private handleMailFrom(
    address: SMTPServerAddress,
    session: SMTPServerSession,
    callback: (error?: Error | null) => void,
  ): void {
    const state = this.stateFor(session);
    if (this.options.requireTls && !session.secure) {
      this.reject(
        'MAIL',
        state,
        { code: 530, message: '5.7.0 Must issue a STARTTLS command first' },
        callback,
      );
      return;
    }

    const hook = this.hooks.onMailFrom;
    void this.applyHook(
      'MAIL',
      state,
      () => hook?.(address.address, this.connectionInfo(session, state)),
      callback,
      () => {
        state.transactionIndex += 1;
        state.record.transactions += 1;
        callback();
      },
    );
  }

  private handleRcptTo(
    address: SMTPServerAddress,
    session: SMTPServerSession,
    callback: (error?: Error | null) => void,
  ): void {
    const state = this.stateFor(session);
    const hook = this.hooks.onRcptTo;
    void this.applyHook(
      'RCPT',
      state,
      () => hook?.(address.address, this.transactionInfo(session, state)),
      callback,
      () => callback(),
    );
  }

  private handleData(
    stream: SMTPServerDataStream,
    session: SMTPServerSession,
    callback: (error?: Error | null, message?: string) => void,
  ): void {
    const state = this.stateFor(session);
    // The envelope is read now because smtp-server resets it after the reply.
    const transaction = this.transactionInfo(session, state);
    const closeAfterBytes = this.closeAfterBytesFor(transaction);
    const chunks: Buffer[] = [];
    let bytesReceived = 0;
    let interrupted = false;

    const recordInterruption = (closedBy: InterruptedMessage['closedBy']): void => {
      if (interrupted) {
        return;
      }
      interrupted = true;
      this.interruptedMessages.push({
        connectionId: transaction.connectionId,
        transactionIndex: transaction.transactionIndex,
        from: transaction.from,
        to: transaction.to,
        bytesReceived,
        closedBy,
      });
    };

    stream.on('data', (chunk: Buffer) => {
      if (interrupted) {
        return;
      }
      chunks.push(chunk);
      bytesReceived += chunk.length;
      if (closeAfterBytes !== undefined && bytesReceived >= closeAfterBytes) {
        recordInterruption('smarthost');
        state.socket.destroy();
      }
    });
    // smtp-server destroys the stream with an error when the socket closes
    // before the final dot.
    stream.on('error', () => recordInterruption('client'));
    stream.on('end', () => {
      if (interrupted) {
        return;
      }
      const raw = Buffer.concat(chunks);
      void this.finishMessage(stream, session, state, transaction, raw, callback);
    });
  }

  private closeAfterBytesFor(transaction: TransactionInfo): number | undefined {
    const setting = this.hooks.closeAfterDataBytes;
    return typeof setting === 'function' ? setting(transaction) : setting;
  }

  private async finishMessage(
    stream: SMTPServerDataStream,
    session: SMTPServerSession,
    state: ConnectionState,
    transaction: TransactionInfo,
    raw: Buffer,
    callback: (error?: Error | null, message?: string) => void,
  ): Promise<void> {
    const queueId = `C${transaction.connectionId}T${transaction.transactionIndex}`;
    const message: ReceivedMessage = {
      from: transaction.from,
      to: transaction.to,
      raw,
      connectionId: transaction.connectionId,
      transactionIndex: transaction.transactionIndex,
      receivedAt: new Date(),
      secure: session.secure,
      user: state.user,
      queueId,
    };
    const record = (outcome: MessageOutcome): void => {
      this.receivedMessages.push({ ...message, outcome });
      if (outcome === 'accepted') {
        this.notifyMessageWaiters();
      }
    };

    if (stream.sizeExceeded) {
      record('rejected');
      this.reject(
        'DATA',
        state,
        {
          code: 552,
          message: `5.3.4 Message size exceeds fixed limit of ${this.options.size} bytes`,
        },
        callback,
      );
      return;
    }

    const hook = this.hooks.onData;
    const result = await this.applyHook(
      'DATA',
      state,
      () => hook?.(message, transaction),
      (error) => {
        record('rejected');
        callback(error);
      },
      (reply) => {
        record('accepted');
        callback(null, reply?.message ?? `OK: queued as ${queueId}`);
      },
    );
    if (isAction(result)) {
      record(result.action === 'close' ? 'closed' : 'silent');
    }
  }

  private notifyMessageWaiters(): void {
    const accepted = this.messages;
    const ready = this.messageWaiters.filter((waiter) => accepted.length >= waiter.count);
    this.messageWaiters = this.messageWaiters.filter((waiter) => accepted.length < waiter.count);
    ready.forEach((waiter) => waiter.resolve(accepted));
  }
}

/** Creates a FakeSmartHost and starts it. */
export async function startFakeSmartHost(
  options: FakeSmartHostOptions = {},
): Promise<FakeSmartHost> {
  const fake = new FakeSmartHost(options);
  await fake.start();
  return fake;
}
