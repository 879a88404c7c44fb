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
import type { DeliveryAgent, Scheduler, TransactionGate } from './scheduler.ts';
import { classifyReply } from './reply-classifier.ts';
import type { ReplyClassification } from './reply-classifier.ts';
import type { SmartHostFeedback } from './feedback.ts';
import type { AlertBook } from './alerts.ts';
import { envelopeSender, openWithRewrittenFrom } from './sender-rewrite.ts';
import { retryDelayMs } from './backoff.ts';
import { buildBounce, headerSection, statusFromReply } from './bounce.ts';
import type { FailedRecipient } from './bounce.ts';
import type { QueueItem, QueueItemState, QueuePage, QueueQuery } from './api/model.ts';

const MINUTE_MS = 60 * 1000;
const HOUR_MS = 60 * MINUTE_MS;

/** Splits recipients into transactions of at most `size`. */
function chunk<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let index = 0; index < items.length; index += size) chunks.push(items.slice(index, index + size));
  return chunks;
}

/** Result of one call of deliver(), gathered over its transactions. */
interface AttemptResult {
  record: QueueRecord;
  bounced: FailedRecipient[];
  /** A transaction ran, so this counts as a delivery attempt. */
  tried: boolean;
  failure: SessionFailure | null;
  /** The gate refused a transaction; the rest waits until then. */
  postponedTo: number | null;
  /** Recipients refused with a temporary reply in this attempt. */
  refusedForNow: number;
  /** Reply class of those refusals, for the DEFERRED line. */
  deferReason: 'transient' | 'throttled';
}

export interface QueueManagerOptions {
  readonly spool: Spool;
  readonly bus: EventBus;
  readonly settings: () => Settings;
  readonly now: () => number;
  readonly random?: () => number;
  readonly feedback: SmartHostFeedback;
  readonly alerts: AlertBook;
}

export interface QueueCounts {
  readonly total: number;
  readonly active: number;
  readonly deferred: number;
  readonly held: number;
  readonly sending: number;
}

/** A queue action on a message that is not there (anymore). */
export class MessageNotFoundError extends Error {
  readonly code = 'ENOT_FOUND';

  constructor(id: string) {
    super(`No queued message has the id ${id}; it may have been delivered or deleted.`);
    this.name = 'MessageNotFoundError';
  }
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

  #itemState(record: QueueRecord): QueueItemState {
    if (this.#scheduler?.isInFlight(record.id)) return 'sending';
    if (record.state === 'held') return 'held';
    if (record.attempts > 0 && record.nextAttemptAt > this.#options.now()) return 'deferred';
    return 'active';
  }

  counts(): QueueCounts {
    const counts = { active: 0, deferred: 0, held: 0, sending: 0 };
    for (const record of this.#records.values()) counts[this.#itemState(record)] += 1;
    return { total: this.#records.size, ...counts };
  }

  oldestReceivedAt(): number | null {
    let oldest: number | null = null;
    for (const record of this.#records.values()) {
      if (oldest === null || record.receivedAt < oldest) oldest = record.receivedAt;
    }
    return oldest;
  }

  #toItem(record: QueueRecord): QueueItem {
    const state = this.#itemState(record);
    return {
      id: record.id,
      from: record.from,
      recipients: record.recipients,
      subject: record.subject,
      size: record.size,
      receivedAt: record.receivedAt,
      attempts: record.attempts,
      lastReply: record.lastReply,
      nextAttemptAt: state === 'held' ? null : record.nextAttemptAt,
      state,
      dsn: record.dsn,
    };
  }

  /** Lists one page of the queue, oldest first, filtered by state and text. */
  list(query: QueueQuery): QueuePage {
    const search = query.search?.trim().toLowerCase() ?? '';
    const matches = (record: QueueRecord): boolean => {
      if (query.state && this.#itemState(record) !== query.state) return false;
      if (search === '') return true;
      if (record.id.toLowerCase().includes(search)) return true;
      if (record.from.toLowerCase().includes(search)) return true;
      if (record.subject.toLowerCase().includes(search)) return true;
      return record.recipients.some((recipient) => recipient.address.toLowerCase().includes(search));
    };

    const items: QueueItem[] = [];
    let total = 0;
    // Records sit in the map in arrival order, so one pass pages them
    // without sorting (the map keeps insertion order).
    for (const record of this.#records.values()) {
      if (!matches(record)) continue;
      if (total >= query.offset && items.length < query.limit) items.push(this.#toItem(record));
      total += 1;
    }
    return { total, offset: query.offset, items };
  }

  #require(id: string): QueueRecord {
    const record = this.#records.get(id);
    if (!record) throw new MessageNotFoundError(id);
    return record;
  }

  /** Makes a message due now, whatever its backoff. */
  async retryNow(id: string): Promise<void> {
    const record = this.#require(id);
    const next: QueueRecord = { ...record, state: 'queued', nextAttemptAt: this.#options.now() };
    this.#records.set(id, next);
    await this.#options.spool.update(next);
    this.#scheduler?.schedule(id, next.nextAttemptAt);
  }

  /** Keeps a message in the queue without sending it until released. */
  async hold(id: string): Promise<void> {
    const record = this.#require(id);
    if (record.state === 'held') return;
    const next: QueueRecord = { ...record, state: 'held' };
    this.#records.set(id, next);
    this.#scheduler?.unschedule(id);
    await this.#options.spool.update(next);
    this.#options.bus.emit('HELD', { id, reason: 'user' });
  }

  async release(id: string): Promise<void> {
    const record = this.#require(id);
    if (record.state !== 'held') return;
    const next: QueueRecord = { ...record, state: 'queued', nextAttemptAt: this.#options.now() };
    this.#records.set(id, next);
    await this.#options.spool.update(next);
    this.#options.bus.emit('RELEASED', { id });
    this.#scheduler?.schedule(id, next.nextAttemptAt);
    if (!this.#hasHeldForPerson()) this.#options.alerts.clear(['needs-person'], this.#relayName(), 'released');
  }

  #hasHeldForPerson(): boolean {
    for (const record of this.#records.values()) if (record.state === 'held') return true;
    return false;
  }

  /** Deletes a message for good, without a DSN. A message being sent finishes first. */
  async remove(id: string): Promise<void> {
    const record = this.#require(id);
    this.#records.delete(id);
    this.#scheduler?.unschedule(id);
    await this.#options.spool.remove(id);
    this.#options.bus.emit('DELETED', {
      id,
      from: `<${record.from}>`,
      to: angle(pendingRecipients(record).map((recipient) => recipient.address)),
    });
  }

  /** Returns the stored message as an .eml file (with the Received: header added on arrival). */
  async exportMessage(id: string): Promise<Buffer> {
    const record = this.#require(id);
    return this.#options.spool.readMessage(id, record.size);
  }

  /** Reads the spool back at start-up and schedules every queued message. */
  async load(): Promise<void> {
    const { records, corrupt, orphans } = await this.#options.spool.load();
    for (const item of corrupt) {
      this.#options.bus.emit('CORRUPT', { id: item.id, reason: item.reason, moved: 'corrupt/' });
    }
    for (const id of orphans) {
      this.#options.bus.emit('ORPHAN', { id, reason: 'record without its message file, left by a removal that was cut short' });
    }
    for (const record of records) this.add(record);
  }

  /** Adds a stored message and schedules it. */
  add(record: QueueRecord): void {
    this.#records.set(record.id, record);
    if (record.state !== 'held') this.#scheduler?.schedule(record.id, record.nextAttemptAt);
  }

  pendingCount(id: string): number {
    const record = this.#records.get(id);
    return record && record.state !== 'held' ? pendingRecipients(record).length : 0;
  }

  /**
   * Sends one message on a session, split into transactions of at most
   * maxRecipientsPerMessage recipients, each allowed by the gate.
   * Resolves false when the session cannot carry another transaction.
   */
  async deliver(session: SmartHostSession, id: string, gate: TransactionGate): Promise<boolean> {
    const record = this.#records.get(id);
    if (!record || record.state === 'held') return true;
    const relay = this.#relayName();
    const result: AttemptResult = {
      record,
      bounced: [],
      tried: false,
      failure: null,
      postponedTo: null,
      refusedForNow: 0,
      deferReason: 'transient',
    };

    let usable = true;
    const size = this.#options.settings().maxRecipientsPerMessage;
    for (const recipients of chunk(pendingRecipients(record), size)) {
      const permit = await gate.acquire(recipients.length);
      if (!permit.ok) {
        result.postponedTo = permit.retryAt;
        usable = false;
        break;
      }
      result.tried = true;
      usable = await this.#sendTransaction(session, result, recipients, relay);
      if (!usable || result.failure) break;
    }

    await this.#settle(result, relay);
    if (result.failure && usable) return this.#resetAfterFailure(session, true);
    return usable;
  }

  /** Runs one transaction and folds its result into `result`. */
  async #sendTransaction(
    session: SmartHostSession,
    result: AttemptResult,
    recipients: readonly Recipient[],
    relay: string,
  ): Promise<boolean> {
    const record = result.record;
    const settings = this.#options.settings();
    const message = settings.rewriteSender && settings.rewriteFromHeader && !record.dsn
      ? await openWithRewrittenFrom(this.#options.spool.emlPath(record.id), record.size, settings.rewriteSender)
      : { stream: this.#options.spool.openMessage(record.id, record.size), size: record.size };

    let outcome: SendOutcome;
    try {
      outcome = await session.send(
        {
          from: envelopeSender(record.from, record.dsn, settings.rewriteSender),
          to: recipients.map((recipient) => recipient.address),
          size: message.size,
          eightBit: record.eightBit,
        },
        message.stream,
      );
    } catch (error) {
      if (!(error instanceof SessionFailure)) throw error;
      result.failure = error;
      return !error.connectionLost;
    }

    this.#applyOutcome(result, outcome, relay);
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
    const now = this.#options.now();
    for (const id of ids) {
      const record = this.#records.get(id);
      if (!record || record.state === 'held') continue;
      await this.#applyFailure({ ...record, attempts: record.attempts + 1, lastAttemptAt: now }, failure, relay);
    }
  }

  #relayName(): string {
    const host = this.#options.settings().smarthost;
    return host ? `${host.host}:${host.port}` : 'none';
  }

  #delaySeconds(record: QueueRecord): string {
    return `${((this.#options.now() - record.receivedAt) / 1000).toFixed(1)}s`;
  }

  /** Marks each recipient of a transaction as sent, bounced or still pending. */
  #applyOutcome(result: AttemptResult, outcome: SendOutcome, relay: string): void {
    const record = result.record;
    const accepted = new Set(outcome.accepted.map((address) => address.toLowerCase()));
    const rejected = new Map(outcome.rejected.map((item) => [item.address.toLowerCase(), item]));
    const sentNow: string[] = [];
    let throttledBy: string | undefined;

    const recipients = record.recipients.map((recipient): Recipient => {
      if (recipient.status !== 'pending') return recipient;
      const key = recipient.address.toLowerCase();
      if (accepted.has(key)) {
        sentNow.push(recipient.address);
        return { ...recipient, status: 'sent', reply: outcome.reply };
      }
      const rejection = rejected.get(key);
      if (!rejection) return recipient;

      const verdict = classifyReply({ code: rejection.responseCode, text: rejection.reply, stage: 'rcpt' });
      if (verdict.kind === 'permanent') {
        result.bounced.push({
          address: recipient.address,
          diagnostic: rejection.reply,
          status: statusFromReply(rejection.reply, rejection.responseCode),
        });
        return { ...recipient, status: 'bounced', reply: rejection.reply };
      }
      // A quota or blocklist reply to RCPT is about the smart host, and so
      // is a rate limit, except "too many recipients" (x.5.3), which only
      // means the rest goes in the next transaction.
      if (verdict.kind === 'throttled' && !/\.5\.3$/.test(verdict.enhancedCode ?? '')) {
        throttledBy ??= rejection.reply;
      } else if (verdict.affectsSmartHost && verdict.kind !== 'throttled') {
        this.#reactToSmartHost(verdict, rejection.reply);
      }
      result.refusedForNow += 1;
      return { ...recipient, reply: rejection.reply };
    });

    // One rate-limit reply per transaction lowers the limit once, however
    // many recipients it refused.
    if (throttledBy !== undefined) {
      result.deferReason = 'throttled';
      this.#options.feedback.throttled(throttledBy, this.#scheduler?.openConnections ?? 1, false);
    }
    result.record = {
      ...record,
      recipients,
      lastReply: outcome.rejected.at(-1)?.reply ?? outcome.reply ?? record.lastReply,
    };
    if (sentNow.length === 0) return;
    this.#options.feedback.delivered();
    this.#options.bus.emit('SENT', {
      id: record.id,
      to: angle(sentNow),
      relay,
      delay: this.#delaySeconds(record),
      attempts: record.attempts + 1,
      reply: outcome.reply,
    });
  }

  /**
   * Ends an attempt: queues one DSN for the recipients bounced in it, then
   * removes, defers or postpones the message.
   */
  async #settle(result: AttemptResult, relay: string): Promise<void> {
    // A user deleted the message while it was being sent: nothing to keep.
    if (!this.#records.has(result.record.id)) return;
    let record = result.record;
    if (result.tried) {
      record = { ...record, attempts: record.attempts + 1, lastAttemptAt: this.#options.now() };
    }
    if (result.bounced.length > 0) await this.#bounce(record, result.bounced, relay, false);

    if (result.failure) {
      await this.#applyFailure(record, result.failure, relay);
      return;
    }
    if (pendingRecipients(record).length === 0) {
      await this.#finish(record);
      return;
    }
    if (result.refusedForNow > 0) {
      await this.#defer(record, relay, result.deferReason);
      return;
    }
    // Only transactions the gate did not allow yet are left: no failure,
    // so no backoff, just the wait the gate asked for.
    const next = { ...record, nextAttemptAt: result.postponedTo ?? this.#options.now() };
    this.#records.set(next.id, next);
    await this.#persist(next);
    this.#scheduler?.schedule(next.id, next.nextAttemptAt);
  }

  /**
   * Applies a failure of a whole transaction. `record` already counts the
   * attempt.
   */
  async #applyFailure(record: QueueRecord, failure: SessionFailure, relay: string): Promise<void> {
    const next: QueueRecord = { ...record, lastReply: failure.reply };
    const verdict = classifyReply({ code: failure.responseCode, text: failure.reply, stage: failure.stage });

    // A 5xx to MAIL FROM or to the final dot refuses the message for every
    // recipient at once.
    if (verdict.kind === 'permanent' && ['mail', 'rcpt', 'data'].includes(failure.stage)) {
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

    if (verdict.kind === 'throttled') {
      this.#options.feedback.throttled(failure.reply, this.#scheduler?.openConnections ?? 1, false);
      await this.#defer(next, relay, verdict.kind);
      return;
    }

    if (verdict.kind === 'needs-person' && !isSmartHostWide(verdict)) {
      await this.#holdForPerson(next, verdict, failure.reply);
      return;
    }

    if (failure.afterFinalDot) {
      // RFC 5321 section 6.1: the smart host may have the message already.
      // Retrying at once risks a duplicate for every timeout, so the next
      // attempt waits one backoff step longer than usual.
      await this.#defer(next, relay, 'unknown-outcome', 1);
      return;
    }

    if (verdict.affectsSmartHost) {
      // The message did nothing wrong: it stays due, without growing its
      // backoff, and goes as soon as the pause ends (by its timer or by
      // a user's Resume, whichever comes first).
      this.#reactToSmartHost(verdict, failure.reply);
      await this.#wait(next, relay, verdict.kind, this.#options.now());
      return;
    }
    await this.#defer(next, relay, verdict.kind);
  }

  /** Pauses the smart host for a quota, blocklist, credentials or provider problem. */
  #reactToSmartHost(verdict: ReplyClassification, reply: string): void {
    this.#options.feedback.react(verdict, reply);
  }

  /** Reschedules a message for `at` without counting toward its backoff. */
  async #wait(record: QueueRecord, relay: string, reason: string, at: number): Promise<void> {
    const next = { ...record, nextAttemptAt: at };
    this.#records.set(next.id, next);
    await this.#persist(next);
    this.#options.bus.emit('DEFERRED', {
      id: next.id,
      to: angle(pendingRecipients(next).map((recipient) => recipient.address)),
      relay,
      delay: this.#delaySeconds(next),
      attempts: next.attempts,
      reason,
      reply: next.lastReply ?? undefined,
      next: new Date(at).toISOString(),
    });
    this.#scheduler?.schedule(next.id, at);
  }

  /**
   * Holds a message the provider refuses for a reason only a person can
   * fix (send-as permission, the sender's mailbox full), with one alert.
   */
  async #holdForPerson(record: QueueRecord, verdict: ReplyClassification, reply: string): Promise<void> {
    const next: QueueRecord = { ...record, state: 'held' };
    this.#records.set(next.id, next);
    this.#scheduler?.unschedule(next.id);
    await this.#persist(next);
    this.#options.bus.emit('HELD', { id: next.id, reason: 'needs-person', reply });
    this.#options.alerts.raise({
      kind: 'needs-person',
      smartHost: this.#relayName(),
      reply,
      explanation: verdict.explanation,
      advice: `${verdict.advice} The message is held; release it from the queue once this is fixed.`,
    });
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
  async #defer(record: QueueRecord, relay: string, reason?: string, extraBackoffSteps = 0): Promise<void> {
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

    const delay = retryDelayMs(record.attempts + extraBackoffSteps, settings, this.#options.random);
    const next: QueueRecord = { ...record, nextAttemptAt: Math.min(now + delay, expiresAt) };
    this.#records.set(next.id, next);
    await this.#persist(next);
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
    try {
      await this.#options.spool.remove(record.id);
    } catch (error) {
      // The message is done; a file left behind comes back at the next
      // start and costs one more delivery, never a lost message.
      this.#options.bus.emit('ERROR', {
        id: record.id,
        what: 'removing a delivered message from the spool failed',
        error: (error as Error).message,
      });
    }
  }

  /**
   * Writes a changed record to disk. A failure (a full disk) is logged and
   * delivery goes on from the record in memory: after a restart the older
   * record on disk comes back, which can only cost one more attempt.
   */
  async #persist(record: QueueRecord): Promise<void> {
    try {
      await this.#options.spool.update(record);
    } catch (error) {
      this.#options.bus.emit('ERROR', {
        id: record.id,
        what: 'writing the queue record failed',
        error: (error as Error).message,
      });
    }
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
      const original = await spool.readMessage(record.id, record.size);
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

/** Microsoft's continuous-error throttling (5.2.251 to 5.2.255) stops the whole account. */
function isSmartHostWide(verdict: ReplyClassification): boolean {
  return /^5\.2\.25[1-5]$/.test(verdict.enhancedCode ?? '');
}
