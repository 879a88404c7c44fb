/**
 * Smart-host feedback: how the relay reacts to what one smart host says,
 * in the way an experienced postmaster would.
 *
 *   throttled    lower the connection limit and hold it for a cool-down,
 *                then raise it by one per RECOVERY_SUCCESSES deliveries,
 *                never above the user's limit;
 *   quota        pause for quotaPauseMinutes, then probe with one message
 *                (the provider's reply does not say when its window resets);
 *   blacklisted  pause, alert, resume on Resume or after blacklistCooldownMinutes;
 *   credentials  stop until the credentials change or the user resumes,
 *                so known-bad credentials are never retried into a lockout;
 *   needs-person pause and alert until the user resumes;
 *   network      "retrying" until a session opens again.
 *
 * Why the limit drops fast and climbs slowly: a smart host that refuses
 * connections is protecting itself, and every refused connection or
 * rate-limit reply costs a deferral; climbing back one step at a time
 * finds the level the smart host tolerates without repeated overshoot
 * (the asymmetry TCP congestion control and Postfix's destination
 * concurrency feedback use too).
 *
 * Logs THROTTLED, PAUSED and RESUMED; raises alerts through AlertBook.
 */
import type { EventBus } from './events.ts';
import type { AlertBook } from './alerts.ts';
import type { Settings } from './settings.ts';
import type { SmartHostState, AlertKind } from './api/model.ts';
import type { ReplyClassification } from './reply-classifier.ts';

const MINUTE_MS = 60 * 1000;
/** No increase of the connection limit for this long after a throttle. */
export const THROTTLE_COOLDOWN_MS = 5 * MINUTE_MS;
/** Successful deliveries needed for each step back up after the cool-down. */
export const RECOVERY_SUCCESSES = 20;

type PauseKind = 'quota' | 'blacklisted' | 'credentials' | 'needs-person' | 'user';

const PAUSE_STATE: Record<PauseKind, SmartHostState> = {
  quota: 'paused-quota',
  blacklisted: 'paused-blacklist',
  credentials: 'stopped-credentials',
  'needs-person': 'paused-needs-person',
  user: 'paused-user',
};

const ALERT_KIND: Partial<Record<PauseKind, AlertKind>> = {
  quota: 'quota',
  blacklisted: 'blacklisted',
  credentials: 'credentials',
  'needs-person': 'needs-person',
};

export interface FeedbackOptions {
  readonly name: () => string;
  readonly settings: () => Settings;
  readonly bus: EventBus;
  readonly alerts: AlertBook;
  readonly now: () => number;
  /** Called when sending may start again, so the scheduler can open sessions. */
  readonly onResume: () => void;
}

export class SmartHostFeedback {
  readonly #options: FeedbackOptions;
  #pause: PauseKind | null = null;
  #resumesAt: number | null = null;
  #resumeTimer: NodeJS.Timeout | null = null;
  #since: number;
  #lastReply: string | null = null;
  /** Lowered connection limit, or null when the user's limit applies. */
  #reducedLimit: number | null = null;
  #throttledUntil = 0;
  #successesSinceStep = 0;
  #retrying = false;
  /** Alert kind whose episode ends at the next delivery (after a timed resume). */
  #clearOnDelivery: AlertKind | null = null;

  constructor(options: FeedbackOptions) {
    this.#options = options;
    this.#since = options.now();
  }

  get state(): SmartHostState {
    if (this.#options.settings().smarthost === null) return 'unconfigured';
    if (this.#pause) return PAUSE_STATE[this.#pause];
    if (this.#retrying) return 'retrying';
    if (this.#options.now() < this.#throttledUntil) return 'throttled';
    return 'active';
  }

  get since(): number {
    return this.#since;
  }

  get resumesAt(): number | null {
    return this.#resumesAt;
  }

  get lastReply(): string | null {
    return this.#lastReply;
  }

  /** True while nothing may be sent. */
  get paused(): boolean {
    return this.#pause !== null;
  }

  /** Returns the connection limit in force now. */
  connectionLimit(): number {
    const userLimit = this.#options.settings().maxConnections;
    return this.#reducedLimit === null ? userLimit : Math.min(this.#reducedLimit, userLimit);
  }

  #changed(): void {
    this.#since = this.#options.now();
  }

  /** Marks the smart host reachable again after a session opened. */
  connected(): void {
    if (!this.#retrying) return;
    this.#retrying = false;
    this.#changed();
  }

  /** Marks the smart host unreachable: a session failed for a network reason and none is open. */
  unreachable(reply: string): void {
    this.#lastReply = reply;
    if (this.#retrying) return;
    this.#retrying = true;
    this.#changed();
  }

  /** Counts an accepted message, stepping the limit back up after the cool-down. */
  delivered(): void {
    if (this.#clearOnDelivery) {
      this.#options.alerts.clear([this.#clearOnDelivery], this.#options.name(), 'delivering again');
      this.#clearOnDelivery = null;
    }
    if (this.#reducedLimit === null) return;
    if (this.#options.now() < this.#throttledUntil) return;
    this.#successesSinceStep += 1;
    if (this.#successesSinceStep < RECOVERY_SUCCESSES) return;

    this.#successesSinceStep = 0;
    const next = this.#reducedLimit + 1;
    this.#reducedLimit = next >= this.#options.settings().maxConnections ? null : next;
    this.#options.bus.emit('THROTTLED', {
      relay: this.#options.name(),
      limit: this.connectionLimit(),
      reason: 'recovering',
    });
    this.#options.onResume();
  }

  /**
   * The smart host asked for less. A refused connection tells exactly how
   * many it accepts (the ones already open); a rate reply inside a session
   * does not, so the limit is halved.
   */
  throttled(reply: string, openSessions: number, atConnect: boolean): void {
    const current = this.connectionLimit();
    const target = atConnect ? Math.max(1, openSessions) : Math.max(1, Math.floor(current / 2));
    const lowered = Math.min(current, target);
    this.#reducedLimit = lowered;
    this.#throttledUntil = this.#options.now() + THROTTLE_COOLDOWN_MS;
    this.#successesSinceStep = 0;
    this.#lastReply = reply;
    this.#changed();
    this.#options.bus.emit('THROTTLED', {
      relay: this.#options.name(),
      limit: lowered,
      previous: current,
      until: new Date(this.#throttledUntil).toISOString(),
      reply,
    });
  }

  /**
   * Reacts to a smart-host-wide verdict other than throttling, and returns
   * when the pause ends by itself (null: only Resume or new credentials
   * end it).
   */
  react(verdict: ReplyClassification, reply: string): number | null {
    const kind: PauseKind | null =
      verdict.kind === 'quota' || verdict.kind === 'blacklisted' || verdict.kind === 'credentials' || verdict.kind === 'needs-person'
        ? verdict.kind
        : null;
    if (kind === null) return null;

    const settings = this.#options.settings();
    const now = this.#options.now();
    let resumeAt: number | null = null;
    if (kind === 'quota') resumeAt = now + settings.quotaPauseMinutes * MINUTE_MS;
    if (kind === 'blacklisted' && settings.blacklistCooldownMinutes > 0) {
      resumeAt = now + settings.blacklistCooldownMinutes * MINUTE_MS;
    }
    this.pause(kind, reply, resumeAt, verdict.explanation, verdict.advice);
    return resumeAt;
  }

  /** Pauses sending; a second reply of the same episode changes nothing. */
  pause(kind: PauseKind, reply: string | null, resumeAt: number | null, explanation: string, advice: string): void {
    this.#lastReply = reply ?? this.#lastReply;
    if (this.#pause === kind) return;

    this.#pause = kind;
    this.#setResumeTimer(resumeAt);
    this.#changed();
    this.#options.bus.emit('PAUSED', {
      relay: this.#options.name(),
      reason: kind,
      until: resumeAt === null ? 'resume' : new Date(resumeAt).toISOString(),
      reply: reply ?? undefined,
    });
    const alertKind = ALERT_KIND[kind];
    if (alertKind) {
      this.#options.alerts.raise({
        kind: alertKind,
        smartHost: this.#options.name(),
        reply,
        explanation,
        advice,
      });
    }
  }

  #setResumeTimer(resumeAt: number | null): void {
    if (this.#resumeTimer) clearTimeout(this.#resumeTimer);
    this.#resumeTimer = null;
    this.#resumesAt = resumeAt;
    if (resumeAt === null) return;
    const delay = Math.max(0, resumeAt - this.#options.now());
    this.#resumeTimer = setTimeout(() => this.resume('timer'), Math.min(delay, 2 ** 31 - 1));
    this.#resumeTimer.unref();
  }

  /** Ends a pause: by the user, by its timer, or because the credentials changed. */
  resume(by: 'user' | 'timer' | 'settings'): boolean {
    if (this.#pause === null) return false;
    const kind = this.#pause;
    this.#pause = null;
    this.#setResumeTimer(null);
    this.#retrying = false;
    this.#changed();
    this.#options.bus.emit('RESUMED', { relay: this.#options.name(), after: kind, by });
    // A timed resume is a probe: the episode (and its alert) ends only
    // when a message goes through, so a second refusal raises no new alert.
    const alertKind = ALERT_KIND[kind];
    if (alertKind && by === 'timer') this.#clearOnDelivery = alertKind;
    else if (alertKind) this.#options.alerts.clear([alertKind], this.#options.name(), `resumed by ${by}`);
    this.#options.onResume();
    return true;
  }

  /** New credentials end a credentials stop: they deserve one attempt. */
  credentialsChanged(): void {
    if (this.#pause === 'credentials') this.resume('settings');
  }

  stop(): void {
    if (this.#resumeTimer) clearTimeout(this.#resumeTimer);
    this.#resumeTimer = null;
  }
}
