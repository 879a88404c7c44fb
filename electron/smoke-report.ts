/**
 * Progress lines for scripts/smoke-electron.ts, printed on stdout when
 * SMARTHOST_RELAY_SMOKE=1: one JSON object per line.
 *
 *   {"smoke":"ready","listen":"127.0.0.1:40123","tray":"idle"}
 *   {"smoke":"event","event":"SENT","id":"..."}   (QUEUED, SENT, DEFERRED, BOUNCED)
 */
import type { DesktopApp } from './desktop-app.ts';

export const SMOKE_ENV = 'SMARTHOST_RELAY_SMOKE';
const REPORTED_EVENTS: ReadonlySet<string> = new Set(['QUEUED', 'SENT', 'DEFERRED', 'BOUNCED']);

export function reportSmokeProgress(desktop: DesktopApp, write: (line: string) => void): void {
  const relay = desktop.relay;
  if (!relay) return;

  relay.bus.subscribe((event) => {
    if (!REPORTED_EVENTS.has(event.event)) return;
    write(`${JSON.stringify({ smoke: 'event', event: event.event, id: event.fields.id })}\n`);
  });
  const status = relay.status();
  write(`${JSON.stringify({ smoke: 'ready', listen: status.listen, tray: desktop.tray?.state ?? null })}\n`);
}
