/**
 * Queue manager: owns the queue records in memory and on disk, and turns
 * each delivery result into the next state of a message.
 *
 *   every recipient accepted         SENT, the message leaves the queue;
 *   a recipient refused for good     BOUNCED for that recipient, with an
 *                                    RFC 3464 DSN queued to the sender;
 *   anything else                    DEFERRED with exponential backoff,
 *                                    until the queue lifetime ends, then
 *                                    EXPIRED and bounced.
 * A message leaves the queue only when the smart host accepted it, it
 * was bounced (the DSN is stored first), or a user deleted it.
 *
 * Tunables (see settings.ts): retryInitialSeconds, retryMaxSeconds,
 * queueLifetimeHours.
 */
import type { Settings } from './settings.ts';
import type { Spool } from './spool.ts';
import { newQueueId } from './spool.ts';
import type { EventBus } from './events.ts';
import type { QueueRecord, Recipient } from './queue-record.ts';
import { pendingRecipients } from './queue-record.ts';
import type { SendOutcome, SmartHostSession } from './smart-host-session.ts';
import { SessionFailure } from './smart-host-session.ts';
import type { DeliveryAgent, Scheduler } from './scheduler.ts';
import { classifyReply } from './reply-classifier.ts';
import { retryDelayMs } from './backoff.ts';
import { buildBounce, headerSection, statusFromReply } from './bounce.ts';
import type { FailedRecipient } from './bounce.ts';

const HOUR_MS = 60 * 60 * 1000;

export interface QueueManagerOptions {
  readonly spool: Spool;
  readonly bus: EventBus;
  readonly settings: () => Settings;
  readonly now: () => number;
  readonly random?: () => number;
}

export interface QueueCounts {
  readonly total: number;
  readonly active: number;
  readonly deferred: number;
  readonly held: number;
}

function angle(addresses: readonly string[]): string {
  return addresses.map((address) => `<${address}>`).join(',');
}

export class QueueManager implements DeliveryAgent {
  readonly #options: QueueManagerOptions;
  readonly #records = new Map<string, QueueRecord>();
  #scheduler: Scheduler | null = null;

  constructor(options: QueueManagerOptions) {
    this.#options = options;
  }

  attach(scheduler: Scheduler): void {
    this.#scheduler = scheduler;
  }

  get size(): number {
    return this.#records.size;
  }

  get(id: string): QueueRecord | undefined {
    return this.#records.get(id);
  }

  records(): IterableIterator<QueueRecord> {
    return this.#records.values();
  }

  counts(): QueueCounts {
    let deferred = 0;
    let held = 0;
    for (const record of this.#records.values()) {
      if (record.state === 'held') held += 1;
      else if (record.attempts > 0) deferred += 1;
    }
    const total = this.#records.size;
    return { total, active: total - deferred - held, deferred, held };
  }

  /** Reads the spool back at start-up and schedules every queued message. */
  async load(): Promise<void> {
    const { records, corrupt, orphans } = await this.#options.spool.load();
    for (const item of corrupt) {
      this.#options.bus.emit('CORRUPT', { id: item.id, reason: item.reason, moved: 'corrupt/' });
    }
    for (const id of orphans) {
      this.#options.bus.emit('ORPHAN', { id, reason: 'message file without its record; it never got a 250' });
    }
    for (const record of records) this.add(record);
  }

  /** Adds a stored message and schedules it. */
  add(record: QueueRecord): void {
    this.#records.set(record.id, record);
    if (record.state !== 'held') this.#scheduler?.schedule(record.id, record.nextAttemptAt);
  }

  async deliver(session: SmartHostSession, id: string): Promise<boolean> {
    const record = this.#records.get(id);
    if (!record || record.state === 'held') return true;
    const pending = pendingRecipients(record);
    const relay = this.#relayName();

    let outcome: SendOutcome;
    try {
      outcome = await session.send(
        {
          from: record.from,
          to: pending.map((recipient) => recipient.address),
          size: record.size,
          eightBit: record.eightBit,
        },
        this.#options.spool.openMessage(id),
      );
    } catch (error) {
      if (!(error instanceof SessionFailure)) throw error;
      await this.#applyFailure(record, error, relay);
      return this.#resetAfterFailure(session, !error.connectionLost);
    }

    await this.#applyOutcome(record, outcome, relay);
    // A transaction with no accepted recipient ends before DATA, so the
    // session needs RSET before the next MAIL FROM.
    if (outcome.accepted.length === 0) return this.#resetAfterFailure(session, true);
    return true;
  }

  async #resetAfterFailure(session: SmartHostSession, usable: boolean): Promise<boolean> {
    if (!usable || session.closed) return false;
    try {
      await session.reset();
      return true;
    } catch (error) {
      this.#options.bus.emit('ERROR', { what: 'RSET failed', error: (error as Error).message });
      return false;
    }
  }

  async connectFailed(ids: readonly string[], failure: SessionFailure): Promise<void> {
    const relay = this.#relayName();
    for (const id of ids) {
      const record = this.#records.get(id);
      if (!record || record.state === 'held') continue;
      await this.#applyFailure(record, failure, relay);
    }
  }

  #relayName(): string {
    const host = this.#options.settings().smarthost;
    return host ? `${host.host}:${host.port}` : 'none';
  }

  #delaySeconds(record: QueueRecord): string {
    return `${((this.#options.now() - record.receivedAt) / 1000).toFixed(1)}s`;
  }

  async #applyOutcome(record: QueueRecord, outcome: SendOutcome, relay: string): Promise<void> {
    const now = this.#options.now();
    const accepted = new Set(outcome.accepted.map((address) => address.toLowerCase()));
    const rejected = new Map(outcome.rejected.map((item) => [item.address.toLowerCase(), item]));
    const bounced: FailedRecipient[] = [];
    const attempts = record.attempts + 1;

    const recipients = record.recipients.map((recipient): Recipient => {
      if (recipient.status !== 'pending') return recipient;
      const key = recipient.address.toLowerCase();
      if (accepted.has(key)) return { ...recipient, status: 'sent', reply: outcome.reply };
      const rejection = rejected.get(key);
      if (!rejection) return recipient;

      const verdict = classifyReply({ code: rejection.responseCode, text: rejection.reply, stage: 'rcpt' });
      if (verdict.kind === 'permanent') {
        bounced.push({
          address: recipient.address,
          diagnostic: rejection.reply,
          status: statusFromReply(rejection.reply, rejection.responseCode),
        });
        return { ...recipient, status: 'bounced', reply: rejection.reply };
      }
      return { ...recipient, reply: rejection.reply };
    });

    const sentNow = record.recipients.filter(
      (recipient, index) => recipient.status === 'pending' && recipients[index]!.status === 'sent',
    );
    let next: QueueRecord = {
      ...record,
      recipients,
      attempts,
      lastAttemptAt: now,
      lastReply: outcome.reply || record.lastReply,
    };
    if (sentNow.length > 0) {
      this.#options.bus.emit('SENT', {
        id: record.id,
        to: angle(sentNow.map((recipient) => recipient.address)),
        relay,
        delay: this.#delaySeconds(record),
        attempts,
        reply: outcome.reply,
      });
    }
    if (bounced.length > 0) await this.#bounce(next, bounced, relay, false);

    const stillPending = pendingRecipients(next);
    if (stillPending.length === 0) {
      await this.#finish(next);
      return;
    }
    // The reply that matters for the retry is the last refusal, not the 250.
    next = { ...next, lastReply: outcome.rejected.at(-1)?.reply ?? next.lastReply };
    await this.#defer(next, relay);
  }

  async #applyFailure(record: QueueRecord, failure: SessionFailure, relay: string): Promise<void> {
    const now = this.#options.now();
    const next: QueueRecord = {
      ...record,
      attempts: record.attempts + 1,
      lastAttemptAt: now,
      lastReply: failure.reply,
    };
    const verdict = classifyReply({ code: failure.responseCode, text: failure.reply, stage: failure.stage });

    // A 5xx to MAIL FROM or to the final dot refuses the message for every
    // recipient at once; the other verdicts are about the smart host or
    // the moment, so the message waits.
    if (verdict.kind === 'permanent' && (failure.stage === 'mail' || failure.stage === 'data' || failure.stage === 'rcpt')) {
      const failed = pendingRecipients(next).map((recipient) => ({
        address: recipient.address,
        diagnostic: failure.reply,
        status: statusFromReply(failure.reply, failure.responseCode),
      }));
      const marked = this.#markBounced(next, failed, failure.reply);
      await this.#bounce(marked, failed, relay, false);
      await this.#finish(marked);
      return;
    }
    await this.#defer(next, relay, verdict.kind);
  }

  #markBounced(record: QueueRecord, failed: readonly FailedRecipient[], reply: string): QueueRecord {
    const addresses = new Set(failed.map((item) => item.address));
    return {
      ...record,
      recipients: record.recipients.map((recipient) =>
        recipient.status === 'pending' && addresses.has(recipient.address)
          ? { ...recipient, status: 'bounced', reply }
          : recipient,
      ),
    };
  }

  /** Schedules the next attempt, or bounces the rest once the lifetime is over. */
  async #defer(record: QueueRecord, relay: string, reason?: string): Promise<void> {
    const settings = this.#options.settings();
    const now = this.#options.now();
    const expiresAt = record.receivedAt + settings.queueLifetimeHours * HOUR_MS;
    const lastReply = record.lastReply ?? 'no reply';

    if (now >= expiresAt) {
      const failed = pendingRecipients(record).map((recipient) => ({
        address: recipient.address,
        diagnostic: `delivery time expired after ${record.attempts} attempts; last reply: ${recipient.reply ?? lastReply}`,
        status: '4.4.7',
      }));
      this.#options.bus.emit('EXPIRED', {
        id: record.id,
        to: angle(failed.map((item) => item.address)),
        attempts: record.attempts,
        delay: this.#delaySeconds(record),
        reply: lastReply,
      });
      const marked = this.#markBounced(record, failed, lastReply);
      await this.#bounce(marked, failed, relay, true);
      await this.#finish(marked);
      return;
    }

    const delay = retryDelayMs(record.attempts, settings, this.#options.random);
    const next: QueueRecord = { ...record, nextAttemptAt: Math.min(now + delay, expiresAt) };
    this.#records.set(next.id, next);
    await this.#options.spool.update(next);
    this.#options.bus.emit('DEFERRED', {
      id: next.id,
      to: angle(pendingRecipients(next).map((recipient) => recipient.address)),
      relay,
      delay: this.#delaySeconds(next),
      attempts: next.attempts,
      reason,
      reply: lastReply,
      next: new Date(next.nextAttemptAt).toISOString(),
    });
    this.#scheduler?.schedule(next.id, next.nextAttemptAt);
  }

  /** Removes a message whose recipients are all sent or bounced. */
  async #finish(record: QueueRecord): Promise<void> {
    this.#records.delete(record.id);
    this.#scheduler?.unschedule(record.id);
    await this.#options.spool.remove(record.id);
  }

  /**
   * Queues a DSN for the failed recipients (stored before the original
   * leaves the queue, so a crash cannot lose both), and logs BOUNCED.
   */
  async #bounce(
    record: QueueRecord,
    failed: readonly FailedRecipient[],
    relay: string,
    expired: boolean,
  ): Promise<void> {
    const { spool, bus, now } = this.#options;
    // RFC 5321 section 4.5.5: never bounce to the null sender, which is
    // also how a DSN that fails is kept from bouncing again.
    const dsnId = record.from === '' || record.dsn ? null : newQueueId(now());

    if (dsnId !== null) {
      const original = await spool.readMessage(record.id);
      const message = buildBounce({
        queueId: record.id,
        sender: record.from,
        reportingHost: this.#options.settings().hostname,
        remoteMta: expired ? null : relay,
        arrivalDate: new Date(record.receivedAt),
        now: new Date(now()),
        failed,
        expired,
        originalHeaders: headerSection(original),
      });
      const { record: dsn } = await spool.accept(
        {
          version: 1,
          id: dsnId,
          from: '',
          recipients: [{ address: record.from, status: 'pending', reply: null }],
          receivedAt: now(),
          client: { address: 'local', helo: this.#options.settings().hostname, user: null },
          dsn: true,
          state: 'queued',
          attempts: 0,
          lastReply: null,
          lastAttemptAt: null,
          nextAttemptAt: now(),
        },
        Buffer.alloc(0),
        [message],
      );
      this.add(dsn);
    }

    for (const item of failed) {
      bus.emit('BOUNCED', {
        id: record.id,
        to: `<${item.address}>`,
        relay: expired ? undefined : relay,
        status: item.status,
        attempts: record.attempts,
        reply: item.diagnostic,
        dsn: dsnId ?? 'none',
      });
    }
  }
}
