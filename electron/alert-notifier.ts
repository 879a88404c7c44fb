/**
 * Desktop notifications for the alerts a person has to act on: a
 * blocklist or reputation rejection, rejected credentials, a used-up
 * quota, a provider that needs a person, and a queue that is getting old.
 *
 * Driven by the relay's ALERT and ALERT_CLEARED events, so there is one
 * notification per episode, never one per message. The relay's AlertBook
 * already raises one ALERT per episode. This class also keeps its own list
 * of open episodes (kind and smart host), so that an ALERT repeated before
 * its ALERT_CLEARED does not notify twice.
 *
 * A click on a notification opens the window on the screen where the
 * person can act (see routeForAlert).
 */
import type { AlertKind } from '../core/api/model.ts';
import type { RelayEvent } from '../core/events.ts';
import type { NotificationClass, NotificationPort } from './modules.ts';
import { ROUTES } from './main-window.ts';
import type { Route } from './main-window.ts';

// Windows shows about four lines of a toast's body and cuts the rest, so
// the text stops at a sentence end before this many characters.
export const MAX_NOTIFICATION_BODY_LENGTH = 250;

interface AlertText {
  readonly title: string;
  readonly route: Route;
}

const ALERT_TEXTS: Readonly<Record<AlertKind, AlertText>> = {
  blacklisted: { title: 'The smart host is refusing mail', route: ROUTES.alerts },
  credentials: { title: 'The smart host rejected the password', route: ROUTES.setup },
  quota: { title: 'Sending quota reached', route: ROUTES.alerts },
  'needs-person': { title: 'Your mail provider needs you', route: ROUTES.alerts },
  'queue-old': { title: 'Mail is waiting in the queue', route: ROUTES.queue },
};

export function isAlertKind(value: unknown): value is AlertKind {
  return typeof value === 'string' && Object.hasOwn(ALERT_TEXTS, value);
}

/** Returns the screen that a click on the alert's notification opens. */
export function routeForAlert(kind: AlertKind): Route {
  return ALERT_TEXTS[kind].route;
}

/**
 * Joins the explanation and the advice, and shortens the result at the
 * last sentence end that fits, or with an ellipsis when none does.
 */
export function notificationBody(explanation: string, advice: string): string {
  const text = [explanation, advice].filter((part) => part !== '').join(' ');
  if (text.length <= MAX_NOTIFICATION_BODY_LENGTH) return text;

  const head = text.slice(0, MAX_NOTIFICATION_BODY_LENGTH);
  const sentenceEnd = head.lastIndexOf('. ');
  if (sentenceEnd > explanation.length / 2) return head.slice(0, sentenceEnd + 1);
  return `${head.slice(0, MAX_NOTIFICATION_BODY_LENGTH - 1)}…`;
}

export interface AlertNotifierOptions {
  readonly Notification: NotificationClass;
  readonly iconPath?: string | undefined;
  readonly openRoute: (route: Route) => void;
  readonly reportError: (context: string, error: unknown) => void;
}

export class AlertNotifier {
  readonly #options: AlertNotifierOptions;
  /** Open episodes: alert id to `kind|smart host`. */
  readonly #episodesById = new Map<string, string>();
  readonly #openEpisodes = new Set<string>();
  // Electron drops the click handler of a notification that was garbage
  // collected, so each one is kept until it closes.
  readonly #shown = new Set<NotificationPort>();

  constructor(options: AlertNotifierOptions) {
    this.#options = options;
  }

  /** Notifications still on screen or in the notification centre. */
  get shownCount(): number {
    return this.#shown.size;
  }

  /** Feeds one relay event; only ALERT and ALERT_CLEARED matter. */
  handleEvent(event: RelayEvent): void {
    if (event.event === 'ALERT') this.#onAlert(event.fields);
    if (event.event === 'ALERT_CLEARED') this.#onCleared(event.fields);
  }

  #onAlert(fields: RelayEvent['fields']): void {
    const { alert: id, kind, relay, explanation, advice } = fields;
    if (typeof id !== 'string' || !isAlertKind(kind)) return;

    const episode = `${kind}|${typeof relay === 'string' ? relay : ''}`;
    this.#episodesById.set(id, episode);
    if (this.#openEpisodes.has(episode)) return;
    this.#openEpisodes.add(episode);

    this.#show(kind, String(explanation ?? ''), String(advice ?? ''));
  }

  #onCleared(fields: RelayEvent['fields']): void {
    const id = fields.alert;
    if (typeof id !== 'string') return;
    const episode = this.#episodesById.get(id);
    if (episode === undefined) return;
    this.#episodesById.delete(id);
    this.#openEpisodes.delete(episode);
  }

  #show(kind: AlertKind, explanation: string, advice: string): void {
    this.notify(ALERT_TEXTS[kind].title, notificationBody(explanation, advice), routeForAlert(kind));
  }

  /** Shows a notification whose click opens `route`; does nothing where the OS has none. */
  notify(title: string, body: string, route: Route): void {
    const { Notification, iconPath, openRoute, reportError } = this.#options;
    if (!Notification.isSupported()) return;

    try {
      const notification = new Notification({ title, body, ...(iconPath ? { icon: iconPath } : {}) });
      notification.on('click', () => openRoute(route));
      notification.on('close', () => this.#shown.delete(notification));
      this.#shown.add(notification);
      notification.show();
    } catch (error) {
      reportError(`show the notification "${title}"`, error);
    }
  }
}
