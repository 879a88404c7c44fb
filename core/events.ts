/**
 * The relay's event stream. Every event word the activity log, the web
 * console, the tray and the notifications use is declared here, once.
 *
 * An event is one fact with `key=value` fields. The queue id, when there
 * is one, is always the `id` field so a postmaster can grep one message's
 * whole history.
 */
import { EventEmitter } from 'node:events';

export const EVENT_WORDS = [
  // Life cycle of the service.
  'STARTED',
  'STOPPING',
  'STOPPED',
  'WAITING',
  'SETTINGS_CHANGED',
  // Listener side.
  'QUEUED',
  'REJECTED',
  'AUTH_FAILED',
  'AUTH_LOCKED',
  // Delivery side.
  'SENT',
  'DEFERRED',
  'BOUNCED',
  'EXPIRED',
  'CONNECT_FAILED',
  'THROTTLED',
  'PAUSED',
  'RESUMED',
  'ALERT',
  'ALERT_CLEARED',
  // OAuth2 sign-in and token refresh (tokens themselves are never logged).
  'SIGN_IN_STARTED',
  'SIGNED_IN',
  'SIGN_IN_FAILED',
  'OAUTH_REFRESHED',
  'OAUTH_REFRESH_FAILED',
  'OAUTH_TOKEN_STORE_FAILED',
  // Queue maintenance.
  'HELD',
  'RELEASED',
  'DELETED',
  'CORRUPT',
  'ORPHAN',
  'ERROR',
] as const;

export type EventWord = (typeof EVENT_WORDS)[number];

export type EventFieldValue = string | number | boolean | undefined;

export interface RelayEvent {
  readonly event: EventWord;
  /** Milliseconds since the epoch, from the relay's clock. */
  readonly time: number;
  readonly fields: Readonly<Record<string, EventFieldValue>>;
}

type Listener = (event: RelayEvent) => void;

/** Fan-out of relay events to the log, the console and the UI. */
export class EventBus {
  readonly #emitter = new EventEmitter();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
    // Every UI client subscribes once; dozens are normal for a web console.
    this.#emitter.setMaxListeners(0);
  }

  emit(event: EventWord, fields: Record<string, EventFieldValue>): void {
    const record: RelayEvent = { event, time: this.#now(), fields };
    this.#emitter.emit('event', record);
  }

  /** Passes on an event made elsewhere (the accept thread), keeping its time. */
  publish(event: RelayEvent): void {
    this.#emitter.emit('event', event);
  }

  subscribe(listener: Listener): () => void {
    this.#emitter.on('event', listener);
    return () => this.#emitter.off('event', listener);
  }
}
