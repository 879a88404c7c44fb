/**
 * Relay: builds the relay from its parts and runs it. The same object
 * runs inside the desktop app and as the headless `serve` command.
 *
 *   Listener -> Spool -> QueueManager <-> Scheduler -> smart host
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
import { QueueManager } from './queue-manager.ts';
import { Scheduler } from './scheduler.ts';
import { SmartHostSession } from './smart-host-session.ts';
import type { SmartHostConfig } from './smart-host-session.ts';

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
}

export class Relay {
  readonly bus: EventBus;
  readonly queue: QueueManager;
  readonly scheduler: Scheduler;
  readonly spool: Spool;
  readonly dataDir: string;
  #settings: Settings;
  #password: string | null;
  #smarthostCa: string | null = null;
  #listener: Listener | null = null;
  #log: ActivityLog | null = null;
  #stopped: Promise<void> | null = null;

  private constructor(options: RelayOptions) {
    const now = options.now ?? Date.now;
    this.dataDir = options.dataDir;
    this.#settings = options.settings;
    this.#password = options.password;
    this.bus = new EventBus(now);
    this.spool = new Spool({ dataDir: options.dataDir, fileSystem: options.fileSystem, bus: this.bus });
    this.queue = new QueueManager({
      spool: this.spool,
      bus: this.bus,
      settings: () => this.#settings,
      now,
      random: options.random,
    });
    this.scheduler = new Scheduler({
      settings: () => this.#settings,
      smartHost: () => this.#smartHostConfig(),
      openSession: (config) => SmartHostSession.open(config),
      agent: this.queue,
      bus: this.bus,
      now,
    });
    this.queue.attach(this.scheduler);
  }

  static async start(options: RelayOptions): Promise<Relay> {
    await fs.mkdir(options.dataDir, { recursive: true, mode: 0o700 });
    const relay = new Relay(options);
    relay.#log = new ActivityLog(relay.bus, {
      logDir: path.join(options.dataDir, 'logs'),
      echo: options.echo,
    });
    await relay.#start(options);
    return relay;
  }

  async #start(options: RelayOptions): Promise<void> {
    const settings = this.#settings;
    if (settings.smarthostCa) this.#smarthostCa = fsSync.readFileSync(settings.smarthostCa, 'utf8');

    await this.spool.init();
    await this.queue.load();

    const certificate = await loadOrCreateCertificate({
      dataDir: options.dataDir,
      hostname: settings.hostname,
      certFile: settings.tlsCert,
      keyFile: settings.tlsKey,
    });
    const networks = AllowedNetworks.fromSettings(settings);
    this.#listener = new Listener({
      settings,
      networks,
      certificate,
      spool: this.spool,
      bus: this.bus,
      now: options.now ?? Date.now,
      onQueued: (record) => this.queue.add(record),
    });
    const address = await this.#listener.listen();

    this.bus.emit('STARTED', {
      listen: formatHostPort(address),
      smarthost: settings.smarthost ? formatHostPort(settings.smarthost) : 'none',
      security: settings.security,
      queued: this.queue.size,
      allow: networks.cidrs.join(','),
      'data-dir': options.dataDir,
    });
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
    await Promise.all([this.#listener?.close(), this.scheduler.stop(STOP_GRACE_MS)]);
    this.bus.emit('STOPPED', { queued: this.queue.size });
    await this.#log?.close();
  }
}
