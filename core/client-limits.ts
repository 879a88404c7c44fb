/**
 * Client limits: the listener's defences against a device, or anything
 * else on the LAN, that misbehaves.
 *
 *   AuthLockout    counts failed AUTH attempts per IP address. An address
 *                  with authFailureLimit failures within
 *                  authLockoutMinutes gets AUTH rejected for that long.
 *   ClientDeadline gives a client clientTimeoutSeconds to send each
 *                  complete command. In DATA, the message must keep
 *                  arriving at MIN_DATA_RATE_BYTES_PER_SECOND. So a client
 *                  that trickles bytes cannot hold a connection.
 *
 * The per-address connection limit (maxConnectionsPerClient) counts
 * smtp-server's own connection list, in listener.ts.
 *
 * None of these logs: the listener emits AUTH_FAILED, AUTH_LOCKED and
 * REJECTED, the last through a RepeatFilter.
 */

// The rate a message in DATA must keep up, averaged over each client
// timeout. NOTE: a chosen value, not one measured on devices. It is far
// below any LAN or WAN link, and a client slower than that would take
// hours over a message of the default 25 MB limit.
export const MIN_DATA_RATE_BYTES_PER_SECOND = 1024;

// Addresses tracked at once. An attacker who cycles through IPv6
// addresses could otherwise grow the table without bound; past this
// size the oldest entry is dropped.
const MAX_TRACKED_ADDRESSES = 10_000;

export interface AuthLockoutOptions {
  /** Failures within `windowMs` that lock an address. */
  readonly limit: number;
  /** Both the counting window and the lockout, in ms. */
  readonly windowMs: number;
  readonly now: () => number;
}

/** The state of one address that has failed to authenticate. */
interface FailureRecord {
  /** Times of the failures still inside the window, oldest first. */
  failures: number[];
  lockedUntil: number | null;
}

export interface LockoutStatus {
  readonly lockedUntil: number;
  readonly failures: number;
}

/**
 * Failed AUTH attempts by client address. A correct password does not
 * end a lockout: a brute-force attack that guesses right while locked out
 * must not find out.
 */
export class AuthLockout {
  readonly #options: AuthLockoutOptions;
  readonly #records = new Map<string, FailureRecord>();

  constructor(options: AuthLockoutOptions) {
    this.#options = options;
  }

  /** Returns when the lockout of `address` ends, or null if it is not locked. */
  lockedUntil(address: string): number | null {
    const record = this.#records.get(address);
    if (!record?.lockedUntil) return null;
    if (record.lockedUntil > this.#options.now()) return record.lockedUntil;

    this.#records.delete(address);
    return null;
  }

  /**
   * Counts one failure. Returns the new lockout when this failure
   * reached the limit, otherwise null.
   */
  recordFailure(address: string): LockoutStatus | null {
    const now = this.#options.now();
    const record = this.#records.get(address) ?? { failures: [], lockedUntil: null };
    const windowStart = now - this.#options.windowMs;
    record.failures = record.failures.filter((time) => time > windowStart);
    record.failures.push(now);

    // Re-inserting keeps the map in order of the last failure, so the
    // first key is the one to drop when the table is full.
    this.#records.delete(address);
    this.#records.set(address, record);
    this.#dropOldest();

    if (record.failures.length < this.#options.limit) return null;
    record.lockedUntil = now + this.#options.windowMs;
    return { lockedUntil: record.lockedUntil, failures: record.failures.length };
  }

  /** Forgets the failures of an address that authenticated while not locked. */
  recordSuccess(address: string): void {
    if (this.lockedUntil(address) === null) this.#records.delete(address);
  }

  #dropOldest(): void {
    while (this.#records.size > MAX_TRACKED_ADDRESSES) {
      const oldest = this.#records.keys().next();
      if (oldest.done) return;
      this.#records.delete(oldest.value);
    }
  }
}

/**
 * Lets one log line per key through per interval and counts the others,
 * so a client that opens hundreds of connections a second cannot flood
 * the activity log.
 */
export class RepeatFilter {
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #lines = new Map<string, { loggedAt: number; skipped: number }>();

  constructor(intervalMs: number, now: () => number) {
    this.#intervalMs = intervalMs;
    this.#now = now;
  }

  /**
   * Returns null when the line for `key` is to be skipped, otherwise the
   * number of lines skipped for it since the last one let through.
   */
  admit(key: string): number | null {
    const now = this.#now();
    const entry = this.#lines.get(key);
    if (entry && now - entry.loggedAt < this.#intervalMs) {
      entry.skipped += 1;
      return null;
    }

    const skipped = entry?.skipped ?? 0;
    this.#lines.delete(key);
    this.#lines.set(key, { loggedAt: now, skipped: 0 });
    while (this.#lines.size > MAX_TRACKED_ADDRESSES) {
      const oldest = this.#lines.keys().next();
      if (oldest.done) break;
      this.#lines.delete(oldest.value);
    }
    return skipped;
  }
}

/** The view of one SMTP connection that ClientDeadline reads and closes. */
export interface DeadlineTarget {
  /** True while the relay owes the next step: a handler runs or a message is stored. */
  serverBusy(): boolean;
  /** True while the client sends message content after DATA. */
  inData(): boolean;
  /** Bytes read from the client so far, on the current socket. */
  bytesRead(): number;
  closed(): boolean;
  /** Replies 421 and closes the connection. */
  expire(): void;
}

/**
 * The deadline of one connection. The idle timeout alone cannot free a
 * connection from a client that sends a byte now and then, because each
 * byte restarts it. This deadline restarts only when a whole command
 * line arrives: RFC 5321 section 4.5.3.2.7 has a server wait 5 minutes
 * for the next command, not for the next byte. In DATA it restarts only
 * while the message arrives at MIN_DATA_RATE_BYTES_PER_SECOND or faster.
 */
export class ClientDeadline {
  readonly #target: DeadlineTarget;
  readonly #timeoutMs: number;
  #timer: NodeJS.Timeout | null = null;
  #bytesAtLastCheck = 0;

  constructor(target: DeadlineTarget, timeoutMs: number) {
    this.#target = target;
    this.#timeoutMs = timeoutMs;
  }

  /** Starts the clock for the next command (at connect, and after each command line). */
  restart(): void {
    this.#bytesAtLastCheck = this.#target.bytesRead();
    this.#arm();
  }

  stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #arm(): void {
    this.stop();
    this.#timer = setTimeout(() => this.#check(), this.#timeoutMs);
    this.#timer.unref();
  }

  #check(): void {
    this.#timer = null;
    if (this.#target.closed()) return;

    const bytes = this.#target.bytesRead();
    // A smaller count means STARTTLS replaced the socket, which is progress.
    const received = bytes >= this.#bytesAtLastCheck ? bytes - this.#bytesAtLastCheck : bytes;
    this.#bytesAtLastCheck = bytes;

    // The client waits for the relay, which is not the client's delay.
    if (this.#target.serverBusy()) {
      this.#arm();
      return;
    }
    const minimumBytes = (MIN_DATA_RATE_BYTES_PER_SECOND * this.#timeoutMs) / 1000;
    if (this.#target.inData() && received >= minimumBytes) {
      this.#arm();
      return;
    }
    this.#target.expire();
  }
}
