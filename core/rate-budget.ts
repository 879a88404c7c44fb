/**
 * Rate budget: rolling per-minute, per-hour and per-day windows of
 * messages and recipients sent to one smart host, plus the minimum gap
 * between two messages, shared by all its connections.
 *
 * A transaction is counted when it starts, not when it succeeds: smart
 * hosts count submissions, and counting early means two connections can
 * never both take the last unit of a budget.
 *
 * The counts survive restarts: each transaction appends one line
 * `<ms since epoch> <recipients>` to `<data-dir>/budget.log`, and
 * the file is compacted to the last day at start-up. A line is written
 * with appendFileSync and no fsync, so a power loss can forget the last
 * few seconds of counts (a kill -9 cannot, the OS still has them).
 */
import fs from 'node:fs';

/**
 * Extra time each window is held for. The smart host counts a message
 * when its MAIL arrives, a little after the relay counted it, and that
 * delay varies; without a margin, two messages a window apart by the
 * relay's clock can land inside one window by the smart host's.
 */
export const WINDOW_MARGIN_MS = 1000;
export const MINUTE_MS = 60 * 1000;
export const HOUR_MS = 60 * MINUTE_MS;
export const DAY_MS = 24 * HOUR_MS;

export interface BudgetLimits {
  readonly minGapMs: number;
  readonly maxMessagesPerMinute: number | null;
  readonly maxMessagesPerHour: number | null;
  readonly maxMessagesPerDay: number | null;
  readonly maxRecipientsPerMinute: number | null;
  readonly maxRecipientsPerHour: number | null;
  readonly maxRecipientsPerDay: number | null;
}

export interface BudgetCounts {
  readonly messagesLastMinute: number;
  readonly messagesLastHour: number;
  readonly messagesLastDay: number;
  readonly recipientsLastMinute: number;
  readonly recipientsLastHour: number;
  readonly recipientsLastDay: number;
}

interface Window {
  readonly lengthMs: number;
  readonly maxMessages: number | null;
  readonly maxRecipients: number | null;
}

export class RateBudget {
  readonly #file: string | null;
  readonly #now: () => number;
  readonly #marginMs: number;
  /** Start times of counted transactions, oldest first. */
  #times: number[] = [];
  /** Recipients of each transaction, same order. */
  #recipients: number[] = [];
  #lastAt = -Infinity;

  constructor(options: {
    readonly file: string | null;
    readonly now: () => number;
    /** Defaults to WINDOW_MARGIN_MS. */
    readonly windowMarginMs?: number;
  }) {
    this.#file = options.file;
    this.#now = options.now;
    this.#marginMs = options.windowMarginMs ?? WINDOW_MARGIN_MS;
    this.#load();
  }

  #load(): void {
    if (this.#file === null) return;
    let text = '';
    try {
      text = fs.readFileSync(this.#file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    const cutoff = this.#now() - DAY_MS - this.#marginMs;
    for (const line of text.split('\n')) {
      const [at, count] = line.split(' ').map(Number);
      // A torn last line from a crash parses as NaN and is dropped.
      if (at === undefined || count === undefined || !Number.isFinite(at) || !Number.isFinite(count)) continue;
      if (at <= cutoff) continue;
      this.#times.push(at);
      this.#recipients.push(count);
    }
    this.#lastAt = this.#times.at(-1) ?? -Infinity;
    const kept = this.#times.map((at, index) => `${at} ${this.#recipients[index]}\n`).join('');
    fs.writeFileSync(this.#file, kept);
  }

  #prune(now: number): void {
    const cutoff = now - DAY_MS - this.#marginMs;
    let drop = 0;
    while (drop < this.#times.length && this.#times[drop]! <= cutoff) drop += 1;
    if (drop > 0) {
      this.#times.splice(0, drop);
      this.#recipients.splice(0, drop);
    }
  }

  /** Index of the first transaction inside the window ending now. */
  #windowStart(now: number, lengthMs: number): number {
    const cutoff = now - lengthMs;
    let low = 0;
    let high = this.#times.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (this.#times[middle]! <= cutoff) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  #sum(from: number): number {
    let total = 0;
    for (let index = from; index < this.#recipients.length; index += 1) total += this.#recipients[index]!;
    return total;
  }

  /**
   * Returns how long, in ms, a transaction with `recipients` recipients
   * must wait before every budget and the gap allow it; 0 means now.
   */
  waitMs(recipients: number, limits: BudgetLimits): number {
    const now = this.#now();
    this.#prune(now);
    let wait = Math.max(0, this.#lastAt + limits.minGapMs - now);

    const windows: Window[] = [
      {
        lengthMs: MINUTE_MS + this.#marginMs,
        maxMessages: limits.maxMessagesPerMinute,
        maxRecipients: limits.maxRecipientsPerMinute,
      },
      {
        lengthMs: HOUR_MS + this.#marginMs,
        maxMessages: limits.maxMessagesPerHour,
        maxRecipients: limits.maxRecipientsPerHour,
      },
      {
        lengthMs: DAY_MS + this.#marginMs,
        maxMessages: limits.maxMessagesPerDay,
        maxRecipients: limits.maxRecipientsPerDay,
      },
    ];
    for (const window of windows) wait = Math.max(wait, this.#windowWait(now, window, recipients));
    return wait;
  }

  #windowWait(now: number, window: Window, recipients: number): number {
    const start = this.#windowStart(now, window.lengthMs);
    const end = this.#times.length;
    let first = start;

    // Messages: the window must drop enough old entries to fit one more.
    if (window.maxMessages !== null && end - first + 1 > window.maxMessages) {
      first = Math.max(first, end - window.maxMessages + 1);
    }
    // Recipients: drop old entries until this transaction fits. One that
    // is larger than the whole budget goes alone into an empty window, so
    // it waits but is never stuck.
    if (window.maxRecipients !== null) {
      let total = this.#sum(first);
      while (first < end && total + recipients > window.maxRecipients) {
        total -= this.#recipients[first]!;
        first += 1;
      }
    }
    if (first === start) return 0;
    // The entry just before `first` has to leave the window.
    return Math.max(0, this.#times[first - 1]! + window.lengthMs - now + 1);
  }

  /** Counts a transaction that starts now. */
  record(recipients: number): void {
    const now = this.#now();
    this.#times.push(now);
    this.#recipients.push(recipients);
    this.#lastAt = now;
    if (this.#file !== null) fs.appendFileSync(this.#file, `${now} ${recipients}\n`);
  }

  counts(): BudgetCounts {
    const now = this.#now();
    this.#prune(now);
    const minute = this.#windowStart(now, MINUTE_MS);
    const hour = this.#windowStart(now, HOUR_MS);
    return {
      messagesLastMinute: this.#times.length - minute,
      messagesLastHour: this.#times.length - hour,
      messagesLastDay: this.#times.length,
      recipientsLastMinute: this.#sum(minute),
      recipientsLastHour: this.#sum(hour),
      recipientsLastDay: this.#sum(0),
    };
  }
}
