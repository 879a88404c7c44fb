/**
 * Scheduler: decides when each queued message is tried and on which
 * connection, for one smart host, while holding its connection limits:
 *
 *   maxConnections            never more sessions open at once, counted
 *                             from connect until the socket has closed;
 *   maxMessagesPerConnection  QUIT after that many messages, then a new
 *                             session if more mail is ready;
 *   idleTimeoutSeconds        QUIT a session that has had nothing to
 *                             send for that long.
 * The settings are read at each decision, so a change applies to the
 * mail already queued.
 *
 * Messages wait in a min-heap by due time; due ones move to a FIFO ready
 * list that the sessions take from. A session is opened only when ready
 * messages outnumber the idle and connecting sessions.
 *
 * When a session cannot be opened and no other is open, the smart host is
 * taken to be down and every ready message is deferred with the reason
 * (Postfix marks the destination dead the same way); while other sessions
 * are open, the ready messages stay with them instead.
 */
import type { Settings } from './settings.ts';
import type { SmartHostConfig, SmartHostSession } from './smart-host-session.ts';
import { SessionFailure } from './smart-host-session.ts';
import type { EventBus } from './events.ts';
import type { SmartHostFeedback } from './feedback.ts';
import type { RateBudget } from './rate-budget.ts';
import { classifyReply } from './reply-classifier.ts';
import { isOAuthError } from './oauth/errors.ts';

/** Permission for one transaction, or the time to try again. */
export type GateResult = { readonly ok: true } | { readonly ok: false; readonly retryAt: number };

/**
 * Hands out transactions on one session within the per-connection limit,
 * the rate budgets and the minimum gap.
 */
export interface TransactionGate {
  acquire(recipients: number): Promise<GateResult>;
}

/** Delivery work the scheduler hands to the queue manager. */
export interface DeliveryAgent {
  /** Sends one message; resolves false when the session cannot go on. */
  deliver(session: SmartHostSession, id: string, gate: TransactionGate): Promise<boolean>;
  /** Records one failed attempt for each message after a failed connect. */
  connectFailed(ids: readonly string[], failure: SessionFailure): Promise<void>;
  /** Returns the number of recipients still to send for a message, 0 if gone. */
  pendingCount(id: string): number;
}

export interface SchedulerOptions {
  readonly settings: () => Settings;
  /** The smart host to use now, or null while none is configured. */
  readonly smartHost: () => SmartHostConfig | null;
  /** Opens a session; `onGreeted` runs once the smart host greeted it. */
  readonly openSession: (config: SmartHostConfig, onGreeted: () => void) => Promise<SmartHostSession>;
  readonly agent: DeliveryAgent;
  readonly bus: EventBus;
  readonly now: () => number;
  readonly feedback: SmartHostFeedback;
  readonly budget: RateBudget;
}

// After a connect failure while other sessions stay open, wait this long
// before trying to open another one.
const EXTRA_CONNECTION_HOLD_MS = 5 * 1000;
// A closed connection's slot is given back this long after its socket
// closed. The smart host reads that close in its own time, and a server
// busy accepting a new connection may count the old one a moment longer;
// without the pause it could see one connection over the limit.
const SLOT_RELEASE_DELAY_MS = 50;
// Wait before trying a message again whose delivery step threw.
const RECOVERY_DELAY_MS = 60 * 1000;
// Maximum delay of one timer; setTimeout overflows past 2^31 - 1 ms.
const MAX_TIMER_MS = 2 ** 31 - 1;

interface HeapEntry {
  readonly id: string;
  readonly dueAt: number;
}

/** A binary min-heap of due times. Stale entries are skipped on pop. */
class DueHeap {
  readonly #items: HeapEntry[] = [];

  get size(): number {
    return this.#items.length;
  }

  peek(): HeapEntry | undefined {
    return this.#items[0];
  }

  push(entry: HeapEntry): void {
    const items = this.#items;
    items.push(entry);
    let index = items.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (items[parent]!.dueAt <= entry.dueAt) break;
      items[index] = items[parent]!;
      index = parent;
    }
    items[index] = entry;
  }

  pop(): HeapEntry | undefined {
    const items = this.#items;
    const top = items[0];
    const last = items.pop();
    if (top === undefined || last === undefined || items.length === 0) return top;

    // Sift the last entry down from the root.
    let index = 0;
    for (;;) {
      const left = 2 * index + 1;
      const right = left + 1;
      let child = left;
      if (right < items.length && items[right]!.dueAt < items[left]!.dueAt) child = right;
      if (child >= items.length || items[child]!.dueAt >= last.dueAt) break;
      items[index] = items[child]!;
      index = child;
    }
    items[index] = last;
    return top;
  }
}

type Waiter = (id: string | undefined) => void;

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class Scheduler {
  readonly #options: SchedulerOptions;
  /** Due time of every scheduled message; the heap may hold stale copies. */
  readonly #dueAt = new Map<string, number>();
  readonly #heap = new DueHeap();
  readonly #ready: string[] = [];
  #readyHead = 0;
  readonly #inFlight = new Set<string>();
  readonly #waiters: Waiter[] = [];
  readonly #sessions = new Set<SmartHostSession>();
  readonly #workers = new Set<Promise<void>>();
  #openCount = 0;
  #connectingCount = 0;
  /** Sessions the smart host has greeted, logged in or not. */
  #greetedCount = 0;
  #holdExtraConnectionsUntil = 0;
  #timer: NodeJS.Timeout | null = null;
  #timerDueAt = Infinity;
  #budgetTimer: NodeJS.Timeout | null = null;
  #stopping = false;
  #holding = false;

  constructor(options: SchedulerOptions) {
    this.#options = options;
  }

  /** Number of sessions open now, including ones still connecting. */
  get openConnections(): number {
    return this.#openCount;
  }

  get readyCount(): number {
    return this.#ready.length - this.#readyHead;
  }

  isInFlight(id: string): boolean {
    return this.#inFlight.has(id);
  }

  /** Puts a message in line for `dueAt` (now or earlier means at once). */
  schedule(id: string, dueAt: number): void {
    if (this.#stopping) return;
    this.#dueAt.set(id, dueAt);
    if (dueAt <= this.#options.now()) {
      this.#makeReady(id);
    } else {
      this.#heap.push({ id, dueAt });
      this.#armTimer();
    }
    this.pump();
  }

  /** Takes a message out of line (held or deleted). In-flight ones finish. */
  unschedule(id: string): void {
    this.#dueAt.delete(id);
  }

  #makeReady(id: string): void {
    this.#dueAt.set(id, -Infinity);
    const waiter = this.#waiters.shift();
    if (waiter) waiter(id);
    else this.#ready.push(id);
  }

  #armTimer(): void {
    const next = this.#heap.peek();
    if (!next || next.dueAt >= this.#timerDueAt) return;
    if (this.#timer) clearTimeout(this.#timer);
    const delay = Math.min(Math.max(0, next.dueAt - this.#options.now()), MAX_TIMER_MS);
    this.#timerDueAt = next.dueAt;
    this.#timer = setTimeout(() => this.#onTimer(), delay);
    this.#timer.unref();
  }

  #onTimer(): void {
    this.#timer = null;
    this.#timerDueAt = Infinity;
    const now = this.#options.now();
    for (let next = this.#heap.peek(); next && next.dueAt <= now; next = this.#heap.peek()) {
      this.#heap.pop();
      // Skip copies left behind by unschedule() or a later schedule().
      if (this.#dueAt.get(next.id) === next.dueAt) this.#makeReady(next.id);
    }
    this.#armTimer();
    this.pump();
  }

  #takeReady(): string | undefined {
    while (this.#readyHead < this.#ready.length) {
      const id = this.#ready[this.#readyHead]!;
      this.#readyHead += 1;
      if (this.#readyHead > 1024 && this.#readyHead * 2 > this.#ready.length) {
        this.#ready.splice(0, this.#readyHead);
        this.#readyHead = 0;
      }
      if (this.#dueAt.get(id) === -Infinity) {
        this.#dueAt.delete(id);
        return id;
      }
    }
    return undefined;
  }

  /** Waits up to the idle timeout for a ready message. */
  #nextMessage(): Promise<string | undefined> {
    const id = this.#takeReady();
    if (id !== undefined || this.#stopping) return Promise.resolve(id);

    const idleMs = this.#options.settings().idleTimeoutSeconds * 1000;
    return new Promise((resolve) => {
      const waiter: Waiter = (readyId) => {
        clearTimeout(timer);
        if (readyId !== undefined) this.#dueAt.delete(readyId);
        resolve(readyId);
      };
      const timer = setTimeout(() => {
        const index = this.#waiters.indexOf(waiter);
        if (index !== -1) this.#waiters.splice(index, 1);
        resolve(undefined);
      }, idleMs);
      this.#waiters.push(waiter);
    });
  }

  /** Opens sessions while ready mail outnumbers the sessions that could take it. */
  pump(): void {
    const config = this.#options.smartHost();
    if (this.#holding || this.#stopping || config === null || this.#options.feedback.paused) return;
    if (this.readyCount === 0) return;

    // Opening a session only to wait for the budget would hold the smart
    // host's slot idle, so wait here until the budget allows one message.
    const budgetWait = this.#options.budget.waitMs(1, this.#options.settings());
    if (budgetWait > 0) {
      this.#pumpLater(budgetWait);
      return;
    }

    const limit = this.#options.feedback.connectionLimit();
    while (
      this.#openCount < limit &&
      this.readyCount > this.#waiters.length + this.#connectingCount &&
      (this.#openCount === 0 || this.#options.now() >= this.#holdExtraConnectionsUntil)
    ) {
      // Until one session is up, probe with a single connection: a smart
      // host that is down, or rejects the credentials, then sees one
      // attempt instead of one per connection slot.
      if (this.#sessions.size === 0 && this.#connectingCount > 0) break;
      this.#startWorker(config);
    }
  }

  #pumpLater(delayMs: number): void {
    if (this.#budgetTimer) return;
    this.#budgetTimer = setTimeout(() => {
      this.#budgetTimer = null;
      this.pump();
    }, Math.min(delayMs, MAX_TIMER_MS));
    this.#budgetTimer.unref();
  }

  #startWorker(config: SmartHostConfig): void {
    this.#openCount += 1;
    this.#connectingCount += 1;
    const worker = this.#runWorker(config)
      .catch((error: unknown) => {
        this.#options.bus.emit('ERROR', { what: 'smart-host session failed', error: (error as Error).message });
      })
      .then(() => delay(SLOT_RELEASE_DELAY_MS))
      .finally(() => {
        this.#workers.delete(worker);
        this.#openCount -= 1;
        this.pump();
      });
    this.#workers.add(worker);
  }

  async #runWorker(config: SmartHostConfig): Promise<void> {
    let greeted = false;
    const onGreeted = (): void => {
      greeted = true;
      this.#greetedCount += 1;
    };
    try {
      await this.#runSession(config, onGreeted);
    } finally {
      if (greeted) this.#greetedCount -= 1;
    }
  }

  async #runSession(config: SmartHostConfig, onGreeted: () => void): Promise<void> {
    let session: SmartHostSession;
    try {
      session = await this.#options.openSession(config, onGreeted);
    } catch (error) {
      this.#connectingCount -= 1;
      await this.#connectFailed(error, config);
      return;
    }
    this.#connectingCount -= 1;
    this.#sessions.add(session);
    this.#options.feedback.connected();

    try {
      await this.#useSession(session);
    } finally {
      await this.#closeSession(session);
      this.#sessions.delete(session);
    }
  }

  async #useSession(session: SmartHostSession): Promise<void> {
    const gate = new SessionGate(this.#options, () => this.#stopping);
    while (!this.#stopping && !session.closed && !this.#options.feedback.paused) {
      // Read each time: a lowered limit applies to open sessions too.
      if (gate.transactions >= this.#options.settings().maxMessagesPerConnection) break;
      const id = await this.#nextMessage();
      if (id === undefined) break;
      // The first session is up and has its message: if more mail is
      // ready, more sessions may open now.
      if (gate.transactions === 0) this.pump();

      this.#inFlight.add(id);
      let usable: boolean;
      try {
        usable = await this.#options.agent.deliver(session, id, gate);
      } catch (error) {
        // A broken step (a DSN that cannot be stored on a full disk) must
        // not lose the message: it stays queued and is tried again later.
        this.#options.bus.emit('ERROR', {
          id,
          what: 'delivery step failed',
          error: (error as Error).message,
        });
        this.schedule(id, this.#options.now() + RECOVERY_DELAY_MS);
        usable = false;
      } finally {
        this.#inFlight.delete(id);
      }
      if (!usable) break;
    }
  }

  async #closeSession(session: SmartHostSession): Promise<void> {
    try {
      await session.quit();
    } catch (error) {
      this.#options.bus.emit('ERROR', { what: 'QUIT failed', error: (error as Error).message });
      session.close();
      await session.whenClosed();
    }
  }

  async #connectFailed(error: unknown, config: SmartHostConfig): Promise<void> {
    // A refused or missing OAuth2 sign-in is a credentials problem that
    // only a new sign-in fixes; retrying would only hammer the token
    // endpoint. A token endpoint that is down is transient.
    if (isOAuthError(error) && !error.transient) {
      this.#options.feedback.pause(
        'credentials',
        error.message,
        null,
        'The smart-host account could not sign in with OAuth2: the sign-in is missing, expired or was revoked.',
        'Sign in again to the smart-host account in the settings (or run serve with --oauth-sign-in); mail waits until then.',
      );
      return;
    }
    const failure =
      error instanceof SessionFailure
        ? error
        : new SessionFailure('connect', undefined, (error as Error).message, true);
    const othersOpen = this.#openCount - 1;
    this.#options.bus.emit('CONNECT_FAILED', {
      relay: `${config.host}:${config.port}`,
      stage: failure.stage,
      reply: failure.reply,
      open: othersOpen,
    });

    const verdict = classifyReply({ code: failure.responseCode, text: failure.reply, stage: failure.stage });
    if (verdict.kind === 'throttled') {
      // The sessions it greeted are the number the smart host accepts.
      this.#options.feedback.throttled(failure.reply, this.#greetedCount, true);
    } else if (verdict.affectsSmartHost) {
      // Quota, blocklist, credentials: the messages wait for the pause to
      // end, they did nothing wrong.
      this.#options.feedback.react(verdict, failure.reply);
      return;
    }

    if (othersOpen > 0) {
      this.#holdExtraConnectionsUntil = this.#options.now() + EXTRA_CONNECTION_HOLD_MS;
      const retry = setTimeout(() => this.pump(), EXTRA_CONNECTION_HOLD_MS);
      retry.unref();
      return;
    }

    if (verdict.kind !== 'throttled') this.#options.feedback.unreachable(failure.reply);
    const ids: string[] = [];
    for (let id = this.#takeReady(); id !== undefined; id = this.#takeReady()) ids.push(id);
    if (ids.length > 0) await this.#options.agent.connectFailed(ids, failure);
  }

  /** Opens no sessions until release(); messages still become due meanwhile. */
  hold(): void {
    this.#holding = true;
  }

  release(): void {
    this.#holding = false;
    this.pump();
  }

  /**
   * Stops opening sessions, lets messages in flight finish for up to
   * `graceMs`, then cuts the rest off. Messages cut off stay queued.
   */
  async stop(graceMs: number): Promise<void> {
    this.#stopping = true;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#budgetTimer) clearTimeout(this.#budgetTimer);
    for (const waiter of this.#waiters.splice(0)) waiter(undefined);

    const allDone = Promise.allSettled([...this.#workers]);
    let graceTimer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      graceTimer = setTimeout(resolve, graceMs);
    });
    await Promise.race([allDone, grace]);
    clearTimeout(graceTimer);

    for (const session of this.#sessions) session.close();
    await Promise.allSettled([...this.#workers]);
  }
}

/**
 * The transactions of one session. acquire() waits in the session for a
 * budget or gap shorter than the idle timeout; a longer wait ends the
 * session instead, so no smart-host slot is held idle for long.
 */
class SessionGate implements TransactionGate {
  readonly #options: SchedulerOptions;
  readonly #stopping: () => boolean;
  transactions = 0;

  constructor(options: SchedulerOptions, stopping: () => boolean) {
    this.#options = options;
    this.#stopping = stopping;
  }

  async acquire(recipients: number): Promise<GateResult> {
    const { settings, budget, feedback, now } = this.#options;
    for (;;) {
      const current = settings();
      if (this.#stopping() || feedback.paused) return { ok: false, retryAt: now() };
      if (this.transactions >= current.maxMessagesPerConnection) return { ok: false, retryAt: now() };

      const wait = budget.waitMs(recipients, current);
      if (wait === 0) {
        budget.record(recipients);
        this.transactions += 1;
        return { ok: true };
      }
      if (wait > current.idleTimeoutSeconds * 1000) return { ok: false, retryAt: now() + wait };
      await delay(wait);
    }
  }
}
