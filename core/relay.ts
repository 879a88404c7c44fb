/**
 * Relay: builds the relay from its parts and runs it. The same object
 * runs inside the desktop app and as the headless `serve` command.
 *
 *   Listener -> Spool -> QueueManager <-> Scheduler -> smart host
 *
 * With `acceptThread` the listener and its spool run on a worker thread
 * (accept-thread.ts), and each accepted record crosses to the queue.
 *
 * Logs STARTED (where it listens and where it forwards), WAITING while no
 * smart host is configured, STOPPING and STOPPED.
 */
import fs from 'node:fs/promises';
import fsSync from 'node:fs';
import type { Writable } from 'node:stream';
import path from 'node:path';
import type { Settings } from './settings.ts';
import { formatHostPort } from './settings.ts';
import { EventBus } from './events.ts';
import { ActivityLog } from './activity-log.ts';
import { Spool } from './spool.ts';
import type { SpoolFileSystem } from './spool.ts';
import { AllowedNetworks } from './networks.ts';
import { loadOrCreateCertificate } from './tls-certificate.ts';
import { Listener } from './listener.ts';
import { AcceptThread } from './accept-thread.ts';
import { DataDirLock } from './data-dir-lock.ts';
import type { QueueRecord } from './queue-record.ts';
import { QueueManager } from './queue-manager.ts';
import { Scheduler } from './scheduler.ts';
import { SmartHostSession } from './smart-host-session.ts';
import type { SmartHostConfig } from './smart-host-session.ts';
import type { AccessTokenProvider } from './oauth/xoauth2.ts';
import { AlertBook } from './alerts.ts';
import { SmartHostFeedback } from './feedback.ts';
import { RateBudget } from './rate-budget.ts';
import { mergeSettings } from './settings.ts';
import { SettingsError } from './errors.ts';
import { steadyClock } from './clock.ts';
import type { QueuePage, QueueQuery, RelayStatus, SmartHostStatus } from './api/model.ts';

export const RELAY_VERSION = '0.1.0';
// How often the queue's age is checked for the "queue getting old" alert.
const QUEUE_AGE_CHECK_MS = 60 * 1000;

// How long a stop waits for messages in flight before cutting them off
// (they stay queued and go out after the next start).
const STOP_GRACE_MS = 10 * 1000;

export interface RelayOptions {
  readonly dataDir: string;
  readonly settings: Settings;
  /** Smart-host password, from the environment or a file; never logged. */
  readonly password: string | null;
  /** Copy of the activity log, e.g. process.stdout. */
  readonly echo?: Writable | undefined;
  readonly now?: () => number;
  readonly random?: () => number;
  readonly fileSystem?: SpoolFileSystem | undefined;
  /** OAuth2 access tokens for `authMethod: 'xoauth2'`. */
  readonly tokens?: AccessTokenProvider | null | undefined;
  /**
   * Runs the listener on a worker thread (accept-thread.ts), as `serve`
   * does. It needs the real clock and file system: not with `now`,
   * `fileSystem` or a build that bundles core/.
   */
  readonly acceptThread?: boolean | undefined;
}

/** The part of the listener the relay uses after start: where, and stop. */
interface AcceptSide {
  readonly address: { host: string; port: number } | null;
  close(): Promise<void>;
}

export class Relay {
  readonly bus: EventBus;
  readonly queue: QueueManager;
  readonly scheduler: Scheduler;
  readonly spool: Spool;
  readonly alerts: AlertBook;
  readonly feedback: SmartHostFeedback;
  readonly budget: RateBudget;
  readonly dataDir: string;
  readonly startedAt: number;
  readonly #now: () => number;
  #queueAgeTimer: NodeJS.Timeout | null = null;
  #settings: Settings;
  #password: string | null;
  #tokens: AccessTokenProvider | null;
  #smarthostCa: string | null = null;
  #listener: AcceptSide | null = null;
  #log: ActivityLog | null = null;
  #lock: DataDirLock | null = null;
  #stopped: Promise<void> | null = null;

  private constructor(options: RelayOptions) {
    const now = options.now ?? steadyClock();
    this.#now = now;
    this.startedAt = now();
    this.dataDir = options.dataDir;
    this.#settings = options.settings;
    this.#password = options.password;
    this.#tokens = options.tokens ?? null;
    this.bus = new EventBus(now);
    this.alerts = new AlertBook(this.bus, now);
    this.spool = new Spool({ dataDir: options.dataDir, fileSystem: options.fileSystem, bus: this.bus });
    this.budget = new RateBudget({ file: path.join(options.dataDir, 'budget.log'), now });
    this.feedback = new SmartHostFeedback({
      name: () => this.#smartHostName(),
      settings: () => this.#settings,
      bus: this.bus,
      alerts: this.alerts,
      now,
      onResume: () => this.scheduler.pump(),
    });
    this.queue = new QueueManager({
      spool: this.spool,
      bus: this.bus,
      settings: () => this.#settings,
      now,
      random: options.random,
      feedback: this.feedback,
      alerts: this.alerts,
    });
    this.scheduler = new Scheduler({
      settings: () => this.#settings,
      smartHost: () => this.#smartHostConfig(),
      openSession: (config, onGreeted) => SmartHostSession.open(config, onGreeted),
      agent: this.queue,
      bus: this.bus,
      now,
      feedback: this.feedback,
      budget: this.budget,
    });
    this.queue.attach(this.scheduler);
  }

  static async start(options: RelayOptions): Promise<Relay> {
    await fs.mkdir(options.dataDir, { recursive: true, mode: 0o700 });
    const lock = await DataDirLock.acquire(options.dataDir);
    const relay = new Relay(options);
    relay.#lock = lock;
    relay.#log = new ActivityLog(relay.bus, {
      logDir: path.join(options.dataDir, 'logs'),
      echo: options.echo,
    });
    try {
      await relay.#start(options);
    } catch (error) {
      await relay.#abandonStart();
      throw error;
    }
    return relay;
  }

  /** Undoes a start that failed (a listen error, say), so the data folder is free again. */
  async #abandonStart(): Promise<void> {
    this.feedback.stop();
    await this.scheduler.stop(0);
    await this.#closeFiles();
  }

  /** Closes the queue directory's handle and the log, and frees the data folder. */
  async #closeFiles(): Promise<void> {
    await this.spool.close();
    await this.#log?.close();
    await this.#lock?.release();
  }

  async #start(options: RelayOptions): Promise<void> {
    const settings = this.#settings;
    if (settings.smarthostCa) this.#smarthostCa = readCaFile(settings.smarthostCa);

    // Delivery waits for the listener: a listen error (another relay on
    // the port) must stop the start before any message goes out.
    this.scheduler.hold();
    await this.spool.init();
    await this.queue.load();

    const certificate = await loadOrCreateCertificate({
      dataDir: options.dataDir,
      hostname: settings.hostname,
      certFile: settings.tlsCert,
      keyFile: settings.tlsKey,
    });
    const networks = AllowedNetworks.fromSettings(settings);
    const onQueued = (record: QueueRecord): void => this.queue.add(record);
    let address: { host: string; port: number };
    if (options.acceptThread) {
      if (options.now || options.fileSystem) throw new Error('an accept thread needs the real clock and file system');
      const thread = await AcceptThread.start({
        settings,
        certificate,
        dataDir: options.dataDir,
        now: this.#now(),
        bus: this.bus,
        onQueued,
      });
      this.#listener = thread;
      address = thread.address;
    } else {
      const listener = new Listener({
        settings,
        networks,
        certificate,
        spool: this.spool,
        bus: this.bus,
        now: this.#now,
        onQueued,
      });
      this.#listener = listener;
      address = await listener.listen();
    }

    this.bus.emit('STARTED', {
      listen: formatHostPort(address),
      smarthost: settings.smarthost ? formatHostPort(settings.smarthost) : 'none',
      security: settings.security,
      queued: this.queue.size,
      allow: networks.cidrs.join(','),
      'data-dir': options.dataDir,
    });
    this.scheduler.release();
    this.#queueAgeTimer = setInterval(() => this.#checkQueueAge(), QUEUE_AGE_CHECK_MS);
    this.#queueAgeTimer.unref();
    if (!settings.smarthost) {
      this.bus.emit('WAITING', {
        queued: this.queue.size,
        reason: 'No smart host is configured, so mail is accepted and held. Set one with --smarthost or in settings.json.',
      });
    }
  }

  get settings(): Settings {
    return this.#settings;
  }

  get listenAddress(): { host: string; port: number } | null {
    return this.#listener?.address ?? null;
  }

  #smartHostName(): string {
    const host = this.#settings.smarthost;
    return host ? formatHostPort(host) : 'none';
  }

  /** Raises the "queue getting old" alert once per episode, and clears it. */
  #checkQueueAge(): void {
    const oldest = this.queue.oldestReceivedAt();
    const limitMs = this.#settings.queueAgeAlertMinutes * 60 * 1000;
    const ageMs = oldest === null ? 0 : this.#now() - oldest;
    if (ageMs > limitMs) {
      this.alerts.raise({
        kind: 'queue-old',
        smartHost: null,
        reply: this.feedback.lastReply,
        explanation: `The oldest message has waited ${Math.round(ageMs / 60_000)} minutes to be delivered.`,
        advice: 'Open the queue to see the last reply of the smart host for the waiting messages, and check the smart-host settings and the network.',
      });
    } else {
      this.alerts.clear(['queue-old'], null, 'queue caught up');
    }
  }

  status(): RelayStatus {
    const counts = this.budget.counts();
    const settings = this.#settings;
    const smartHost: SmartHostStatus = {
      name: this.#smartHostName(),
      state: this.feedback.state,
      since: this.feedback.since,
      resumesAt: this.feedback.resumesAt,
      lastReply: this.feedback.lastReply,
      maxConnections: settings.maxConnections,
      connectionLimit: this.feedback.connectionLimit(),
      openConnections: this.scheduler.openConnections,
      sentLastMinute: counts.messagesLastMinute,
      sentLastHour: counts.messagesLastHour,
      sentLastDay: counts.messagesLastDay,
      recipientsLastDay: counts.recipientsLastDay,
      maxMessagesPerDay: settings.maxMessagesPerDay,
      maxRecipientsPerDay: settings.maxRecipientsPerDay,
    };
    const address = this.listenAddress;
    return {
      version: RELAY_VERSION,
      startedAt: this.startedAt,
      listen: address ? formatHostPort(address) : null,
      queue: this.queue.counts(),
      oldestQueuedAt: this.queue.oldestReceivedAt(),
      openConnections: this.scheduler.openConnections,
      smartHosts: [smartHost],
      alerts: this.alerts.list(),
    };
  }

  listQueue(query: QueueQuery): QueuePage {
    return this.queue.list(query);
  }

  /** Pauses sending to the smart host until resume(); the queue keeps filling. */
  pause(): void {
    this.feedback.pause('user', null, null, 'Sending was paused by a user.', 'Press Resume to start sending again.');
  }

  resume(): boolean {
    return this.feedback.resume('user');
  }

  /**
   * Applies new settings to the running relay and returns them. Limits,
   * the smart host and its credentials apply at once; listener settings
   * (address, TLS, allowed networks, device users) apply at the next start.
   * NOTE: the caller persists the settings (settings.json or electron-store).
   */
  updateSettings(patch: Partial<Settings>, password?: string | null): Settings {
    const next = mergeSettings(this.#settings, patch);
    const credentialsChanged =
      password !== undefined ||
      next.user !== this.#settings.user ||
      JSON.stringify(next.smarthost) !== JSON.stringify(this.#settings.smarthost);
    const changed = (Object.keys(next) as (keyof Settings)[]).filter(
      (key) => JSON.stringify(next[key]) !== JSON.stringify(this.#settings[key]),
    );
    this.#settings = next;
    if (password !== undefined) this.#password = password;
    // Names only: a value may be a secret or a device's password hash.
    if (changed.length > 0 || password !== undefined) {
      let passwordChange: string | undefined;
      if (password !== undefined) passwordChange = password ? 'set' : 'cleared';
      this.bus.emit('SETTINGS_CHANGED', { keys: changed.join(',') || undefined, password: passwordChange });
    }
    if (next.smarthostCa) this.#smarthostCa = readCaFile(next.smarthostCa);
    if (credentialsChanged) this.feedback.credentialsChanged();
    this.scheduler.pump();
    return next;
  }

  /** Uses a new OAuth2 sign-in; a credentials stop gets one new attempt. */
  setTokenProvider(tokens: AccessTokenProvider | null): void {
    this.#tokens = tokens;
    this.bus.emit('SIGNED_IN', { relay: this.#smartHostName(), method: 'xoauth2' });
    this.feedback.credentialsChanged();
    this.scheduler.pump();
  }

  get passwordSet(): boolean {
    return this.#password !== null && this.#password !== '';
  }

  #smartHostConfig(): SmartHostConfig | null {
    const settings = this.#settings;
    if (!settings.smarthost) return null;
    return {
      host: settings.smarthost.host,
      port: settings.smarthost.port,
      security: settings.security,
      user: settings.user,
      password: this.#password,
      tlsVerify: settings.tlsVerify,
      ca: this.#smarthostCa,
      clientName: settings.hostname,
      replyTimeoutMs: settings.replyTimeoutSeconds * 1000,
      authMethod: settings.authMethod,
      tokens: this.#tokens,
    };
  }

  /**
   * Stops gracefully: no new sessions from devices, messages in flight get
   * STOP_GRACE_MS to finish, then everything still queued stays on disk.
   */
  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  async #stop(): Promise<void> {
    this.bus.emit('STOPPING', { queued: this.queue.size, open: this.scheduler.openConnections });
    if (this.#queueAgeTimer) clearInterval(this.#queueAgeTimer);
    this.feedback.stop();
    await Promise.all([this.#listener?.close(), this.scheduler.stop(STOP_GRACE_MS)]);
    this.bus.emit('STOPPED', { queued: this.queue.size });
    await this.#closeFiles();
  }
}

/** Reads the smart host's CA file; an unreadable one is a settings error. */
function readCaFile(file: string): string {
  try {
    return fsSync.readFileSync(file, 'utf8');
  } catch (error) {
    throw new SettingsError('--smarthost-ca', file, `a readable PEM file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}
