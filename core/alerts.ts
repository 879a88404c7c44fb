/**
 * Alerts: the problems a person has to act on, one per episode. An
 * episode starts when a smart host enters a paused state (or the queue
 * gets old) and ends when it resumes; replies that arrive during the same
 * episode do not raise a second alert.
 *
 * Logs ALERT and ALERT_CLEARED; the tray and the desktop notifications
 * listen for the same events.
 */
import crypto from 'node:crypto';
import type { EventBus } from './events.ts';
import type { Alert, AlertKind } from './api/model.ts';

// Cleared alerts stay listed for the UI's history, up to this many.
const MAX_CLEARED_ALERTS = 50;

export class AlertBook {
  readonly #bus: EventBus;
  readonly #now: () => number;
  #alerts: Alert[] = [];

  constructor(bus: EventBus, now: () => number) {
    this.#bus = bus;
    this.#now = now;
  }

  /** Raises an alert unless one of the same kind is already active for the same smart host. */
  raise(fields: Omit<Alert, 'id' | 'raisedAt' | 'active'>): Alert | null {
    const open = this.#alerts.find(
      (alert) => alert.active && alert.kind === fields.kind && alert.smartHost === fields.smartHost,
    );
    if (open) return null;

    const alert: Alert = {
      ...fields,
      id: crypto.randomBytes(6).toString('hex'),
      raisedAt: this.#now(),
      active: true,
    };
    this.#alerts.push(alert);
    this.#bus.emit('ALERT', {
      alert: alert.id,
      kind: alert.kind,
      relay: alert.smartHost ?? undefined,
      reply: alert.reply ?? undefined,
      explanation: alert.explanation,
      advice: alert.advice,
    });
    return alert;
  }

  /** Ends the active episode(s) of the given kind(s) for a smart host. */
  clear(kinds: readonly AlertKind[], smartHost: string | null, reason: string): void {
    this.#alerts = this.#alerts.map((alert) => {
      if (!alert.active || !kinds.includes(alert.kind) || alert.smartHost !== smartHost) return alert;
      this.#bus.emit('ALERT_CLEARED', { alert: alert.id, kind: alert.kind, reason });
      return { ...alert, active: false };
    });
    const cleared = this.#alerts.filter((alert) => !alert.active);
    if (cleared.length > MAX_CLEARED_ALERTS) {
      const drop = new Set(cleared.slice(0, cleared.length - MAX_CLEARED_ALERTS));
      this.#alerts = this.#alerts.filter((alert) => !drop.has(alert));
    }
  }

  list(): readonly Alert[] {
    return this.#alerts;
  }

  active(): Alert[] {
    return this.#alerts.filter((alert) => alert.active);
  }
}
