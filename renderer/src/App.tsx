import { useCallback, useEffect, useRef, useState } from 'react';
import type { RelayApi } from '../../core/api/definition.ts';
import type { ConnectionState } from '../../core/api/http-client.ts';
import type { RelayStatus } from '../../core/api/model.ts';
import { ErrorNotice } from './components/ErrorNotice.tsx';
import { StateBadge } from './components/StateBadge.tsx';
import { stateWords } from './format.ts';
import { RelayApiContext, useAction, useLoaded, useRelayApi } from './hooks.ts';
import { ActivityLog } from './screens/ActivityLog.tsx';
import { Alerts } from './screens/Alerts.tsx';
import { Dashboard } from './screens/Dashboard.tsx';
import { DeviceHelp } from './screens/DeviceHelp.tsx';
import { Limits } from './screens/Limits.tsx';
import { Queue } from './screens/Queue.tsx';
import { Setup } from './screens/Setup.tsx';

export const SCREENS = [
  { path: 'dashboard', title: 'Dashboard' },
  { path: 'queue', title: 'Queue' },
  { path: 'log', title: 'Activity log' },
  { path: 'alerts', title: 'Alerts' },
  { path: 'setup', title: 'Setup' },
  { path: 'limits', title: 'Limits' },
  { path: 'devices', title: 'Device help' },
] as const;

export type ScreenPath = (typeof SCREENS)[number]['path'];

// Events after which the status (counts, state, alerts) is stale.
const STATUS_EVENTS = [
  'QUEUED', 'SENT', 'DEFERRED', 'BOUNCED', 'EXPIRED', 'THROTTLED', 'PAUSED', 'RESUMED',
  'ALERT', 'ALERT_CLEARED', 'HELD', 'RELEASED', 'DELETED', 'CONNECT_FAILED',
];

interface HashRoute {
  readonly screen: ScreenPath | null;
  /** Part of the screen to show, such as `sign-in` in `#/setup/sign-in`, or null. */
  readonly section: string | null;
}

function routeFromHash(hash: string): HashRoute {
  const [path, section] = hash.replace(/^#\/?/, '').split('/');
  const screen = SCREENS.find((candidate) => candidate.path === path)?.path ?? null;
  return { screen, section: screen && section ? section : null };
}

function useHashRoute(): HashRoute {
  const [route, setRoute] = useState(() => routeFromHash(window.location.hash));
  useEffect(() => {
    const onChange = () => setRoute(routeFromHash(window.location.hash));
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

function AlertBanner({ count, explanation, onResumed }: { count: number; explanation: string; onResumed: () => void }) {
  const api = useRelayApi();
  const resume = useAction();
  return (
    <div className="banner banner-bad" role="region" aria-label="Problems">
      <p>
        <strong>{count === 1 ? 'Sending needs attention:' : `${count} problems need attention:`}</strong> {explanation}
      </p>
      <button type="button" onClick={async () => (await resume.run(() => api.resumeSending({}))) && onResumed()} disabled={resume.busy}>
        Resume sending
      </button>
      <a href="#/alerts">What to do</a>
      <ErrorNotice error={resume.error} />
    </div>
  );
}

function Shell({ connection }: { connection: ConnectionState | null }) {
  const api = useRelayApi();
  const { screen: hashScreen, section } = useHashRoute();
  const loadStatus = useCallback(() => api.getStatus({}), [api]);
  const status = useLoaded(loadStatus, { events: STATUS_EVENTS, pollMs: 5_000 });
  const main = useRef<HTMLElement>(null);
  const data = status.data;
  const host = data?.smartHosts[0];
  // A relay without a smart host opens on Setup, as a first run should.
  // The choice goes into the address, so saving the settings later does
  // not move the user away from the screen they are on.
  const firstScreen: ScreenPath = host?.state === 'unconfigured' ? 'setup' : 'dashboard';
  const screen: ScreenPath = hashScreen ?? firstScreen;
  useEffect(() => {
    if (hashScreen === null && host) window.location.replace(`#/${firstScreen}`);
  }, [hashScreen, host, firstScreen]);
  const activeAlerts = data?.alerts.filter((alert) => alert.active && alert.kind !== 'queue-old') ?? [];
  const title = SCREENS.find((candidate) => candidate.path === screen)?.title ?? '';

  useEffect(() => {
    document.title = `${title} · Smarthost Relay`;
  }, [title]);

  // Focus moves to the new screen, so screen readers announce the change.
  const previous = useRef(screen);
  useEffect(() => {
    if (previous.current !== screen) main.current?.focus();
    previous.current = screen;
  }, [screen]);

  const hostWords = host ? stateWords(host.state) : null;

  return (
    <div className="layout">
      <a className="skip-link" href="#main" onClick={(event) => { event.preventDefault(); main.current?.focus(); }}>
        Skip to content
      </a>
      <header className="sidebar">
        <p className="brand">Smarthost Relay</p>
        {hostWords ? <StateBadge label={hostWords.label} tone={hostWords.tone} /> : null}
        <nav aria-label="Screens">
          <ul>
            {SCREENS.map((candidate) => (
              <li key={candidate.path}>
                <a href={`#/${candidate.path}`} aria-current={candidate.path === screen ? 'page' : undefined}>
                  {candidate.title}
                  {candidate.path === 'alerts' && activeAlerts.length > 0 ? (
                    <span className="count" aria-label={`${activeAlerts.length} active`}>{activeAlerts.length}</span>
                  ) : null}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        {data ? <p className="muted version">Version {data.version}</p> : null}
      </header>
      <main id="main" ref={main} tabIndex={-1}>
        {connection === 'disconnected' || connection === 'connecting' ? (
          <p className="banner banner-warn" role="status">Lost the live connection to the relay; reconnecting…</p>
        ) : null}
        {connection === 'unauthorized' ? (
          <p className="banner banner-bad" role="alert">The access token was rejected. Open the console with the URL that serve printed.</p>
        ) : null}
        {activeAlerts[0] && screen !== 'alerts' ? (
          <AlertBanner count={activeAlerts.length} explanation={activeAlerts[0].explanation} onResumed={status.reload} />
        ) : null}
        <ErrorNotice error={status.error} />
        {data ? (
          <Screen screen={screen} section={section} status={data} reloadStatus={status.reload} />
        ) : (
          <p className="muted">Loading…</p>
        )}
      </main>
    </div>
  );
}

interface ScreenProps {
  readonly screen: ScreenPath;
  readonly section: string | null;
  readonly status: RelayStatus;
  readonly reloadStatus: () => void;
}

function Screen({ screen, section, status, reloadStatus }: ScreenProps) {
  switch (screen) {
    case 'dashboard':
      return <Dashboard status={status} onChanged={reloadStatus} />;
    case 'queue':
      return <Queue />;
    case 'log':
      return <ActivityLog />;
    case 'alerts':
      return <Alerts alerts={status.alerts} onChanged={reloadStatus} />;
    case 'setup':
      return <Setup onSaved={reloadStatus} section={section} />;
    case 'limits':
      return <Limits onSaved={reloadStatus} />;
    case 'devices':
      return <DeviceHelp status={status} />;
  }
}

export function App({ api, connection = null }: { api: RelayApi; connection?: ConnectionState | null }) {
  return (
    <RelayApiContext.Provider value={api}>
      <Shell connection={connection} />
    </RelayApiContext.Provider>
  );
}

export function NoToken() {
  return (
    <main className="no-token">
      <h1>Smarthost Relay</h1>
      <p>
        This page needs the console&apos;s access token. Open the address that <code>serve</code> printed when it
        started; it ends with <code>#token=…</code>.
      </p>
      <p className="muted">The token is also in the file console-token in the relay&apos;s data folder.</p>
    </main>
  );
}
