import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AlertBook } from '../core/alerts.ts';
import { EventBus } from '../core/events.ts';
import type { RelayEvent } from '../core/events.ts';
import {
  AlertNotifier,
  MAX_NOTIFICATION_BODY_LENGTH,
  notificationBody,
  routeForAlert,
} from '../electron/alert-notifier.ts';
import { ROUTES } from '../electron/main-window.ts';
import type { Route } from '../electron/main-window.ts';
import { createFakeElectron } from './support/electron-fakes.ts';
import { PROJECT_ROOT } from './support/serve-process.ts';

function setup() {
  const fake = createFakeElectron({ userData: '/tmp/unused' });
  const opened: Route[] = [];
  const errors: string[] = [];
  const notifier = new AlertNotifier({
    Notification: fake.modules.Notification,
    iconPath: '/icons/icon.png',
    openRoute: (route) => opened.push(route),
    reportError: (context) => errors.push(context),
  });
  const bus = new EventBus(() => 1_000);
  bus.subscribe((event) => notifier.handleEvent(event));
  const alerts = new AlertBook(bus, () => 1_000);
  return { fake, notifier, opened, errors, bus, alerts };
}

const BLOCKLIST = {
  kind: 'blacklisted' as const,
  smartHost: 'smtp.example.com:587',
  reply: '554 5.7.1 Service unavailable; client host blocked using Spamhaus',
  explanation: 'The smart host refuses mail from this office because its address is on a blocklist.',
  advice: 'Sending is paused and the mail stays queued. Ask your provider to remove the listing, then press Resume.',
};

describe('AlertNotifier', () => {
  it('notifies once per blocklist episode', () => {
    const { fake, alerts } = setup();
    alerts.raise(BLOCKLIST);
    alerts.raise(BLOCKLIST);
    alerts.raise({ ...BLOCKLIST, reply: '554 5.7.1 still blocked' });

    expect(fake.state.notifications).toHaveLength(1);
    const notification = fake.state.notifications[0];
    expect(notification?.shown).toBe(true);
    expect(notification?.options.title).toBe('The smart host is refusing mail');
    expect(notification?.options.body).toBe(`${BLOCKLIST.explanation} ${BLOCKLIST.advice}`);
    expect(notification?.options.icon).toBe('/icons/icon.png');
  });

  it('notifies again after the episode ends', () => {
    const { fake, alerts } = setup();
    alerts.raise(BLOCKLIST);
    alerts.clear(['blacklisted'], BLOCKLIST.smartHost, 'resumed');
    alerts.raise(BLOCKLIST);
    expect(fake.state.notifications).toHaveLength(2);
  });

  it('ignores a repeated ALERT of an open episode', () => {
    const { fake, notifier } = setup();
    const event = (id: string): RelayEvent => ({
      event: 'ALERT',
      time: 0,
      fields: { alert: id, kind: 'quota', relay: 'smtp.example.com:587', explanation: 'Quota used up.', advice: 'Wait.' },
    });
    notifier.handleEvent(event('a1'));
    notifier.handleEvent(event('a2'));
    expect(fake.state.notifications).toHaveLength(1);

    notifier.handleEvent({ event: 'ALERT_CLEARED', time: 0, fields: { alert: 'a2', kind: 'quota', reason: 'window reset' } });
    notifier.handleEvent(event('a3'));
    expect(fake.state.notifications).toHaveLength(2);
  });

  it('keeps episodes of different kinds apart', () => {
    const { fake, alerts } = setup();
    alerts.raise(BLOCKLIST);
    alerts.raise({ ...BLOCKLIST, kind: 'credentials', explanation: 'The password was rejected.', advice: 'Enter it again.' });
    alerts.raise({ ...BLOCKLIST, kind: 'queue-old', smartHost: null, explanation: 'Old mail.', advice: 'Look at the queue.' });
    const titles = fake.state.notifications.map((notification) => notification.options.title);
    expect(titles).toEqual([
      'The smart host is refusing mail',
      'The smart host rejected the password',
      'Mail is waiting in the queue',
    ]);
  });

  it('ignores events that are no alert', () => {
    const { fake, bus } = setup();
    bus.emit('SENT', { id: 'ABC', to: '<a@example.com>' });
    bus.emit('PAUSED', { reason: 'user' });
    bus.emit('ALERT', { alert: 'x', kind: 'unknown-kind' });
    expect(fake.state.notifications).toHaveLength(0);
  });

  it('click opens the screen for the alert', () => {
    const { fake, alerts, opened } = setup();
    alerts.raise(BLOCKLIST);
    alerts.raise({ ...BLOCKLIST, kind: 'credentials' });
    fake.state.notifications[0]?.click();
    fake.state.notifications[1]?.click();
    expect(opened).toEqual([ROUTES.alerts, ROUTES.setup]);
  });

  it('routes each kind', () => {
    expect(routeForAlert('blacklisted')).toBe(ROUTES.alerts);
    expect(routeForAlert('credentials')).toBe(ROUTES.setup);
    expect(routeForAlert('quota')).toBe(ROUTES.alerts);
    expect(routeForAlert('needs-person')).toBe(ROUTES.alerts);
    expect(routeForAlert('queue-old')).toBe(ROUTES.queue);
  });

  it('routes name screens of the renderer', () => {
    const app = fs.readFileSync(path.join(PROJECT_ROOT, 'renderer', 'src', 'App.tsx'), 'utf8');
    for (const route of Object.values(ROUTES)) {
      if (route === ROUTES.home) continue;
      expect(app, route).toContain(`{ path: '${route.slice(2)}'`);
    }
  });

  it('shows nothing where notifications are unsupported', () => {
    const { fake, alerts } = setup();
    fake.state.notificationsSupported = false;
    alerts.raise(BLOCKLIST);
    expect(fake.state.notifications).toHaveLength(0);
  });

  it('releases a notification once closed', () => {
    const { fake, alerts, notifier } = setup();
    alerts.raise(BLOCKLIST);
    expect(notifier.shownCount).toBe(1);
    fake.state.notifications[0]?.close();
    expect(notifier.shownCount).toBe(0);
  });
});

describe('notificationBody', () => {
  it('joins explanation and advice', () => {
    expect(notificationBody('It broke.', 'Fix it.')).toBe('It broke. Fix it.');
  });

  it('cuts long text at a sentence end', () => {
    const explanation = 'The smart host refuses mail from this office because its address is on a blocklist.';
    const advice = 'Ask your provider to remove the listing. '.repeat(10);
    const body = notificationBody(explanation, advice);
    expect(body.length).toBeLessThanOrEqual(MAX_NOTIFICATION_BODY_LENGTH);
    expect(body.endsWith('.')).toBe(true);
    expect(body.startsWith(explanation)).toBe(true);
  });

  it('cuts text without sentences with an ellipsis', () => {
    const body = notificationBody('x'.repeat(400), '');
    expect(body).toHaveLength(MAX_NOTIFICATION_BODY_LENGTH);
    expect(body.endsWith('…')).toBe(true);
  });
});
