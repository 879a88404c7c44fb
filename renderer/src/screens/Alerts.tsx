import { useCallback } from 'react';
import type { Alert } from '../../../core/api/model.ts';
import { ErrorNotice } from '../components/ErrorNotice.tsx';
import { StateBadge } from '../components/StateBadge.tsx';
import { alertTitle, formatRelative, formatTime } from '../format.ts';
import { useAction, useLoaded, useNow, useRelayApi } from '../hooks.ts';

/** Route of the sign-in on the setup screen. */
const SIGN_IN_ROUTE = '#/setup/sign-in';

interface AlertCardProps {
  readonly alert: Alert;
  readonly now: number;
  readonly onChanged: () => void;
  /** True while the relay signs in with OAuth2, so a credentials alert offers a new sign-in. */
  readonly oauth: boolean;
}

function AlertCard({ alert, now, onChanged, oauth }: AlertCardProps) {
  const api = useRelayApi();
  const resume = useAction();
  const headingId = `alert-${alert.id}`;
  const offerSignIn = alert.active && alert.kind === 'credentials' && oauth;

  const pressResume = async () => {
    if (await resume.run(() => api.resumeSending({}))) onChanged();
  };

  return (
    <article className={`card alert ${alert.active ? 'alert-active' : 'alert-cleared'}`} aria-labelledby={headingId}>
      <h2 id={headingId}>
        {alertTitle(alert.kind)}{' '}
        <StateBadge label={alert.active ? 'Active' : 'Resolved'} tone={alert.active ? 'bad' : 'neutral'} />
      </h2>
      <p className="muted">
        {alert.smartHost ? `${alert.smartHost}, ` : ''}
        <time dateTime={new Date(alert.raisedAt).toISOString()} title={formatTime(alert.raisedAt)}>
          {formatRelative(alert.raisedAt, now)}
        </time>
      </p>
      <p>{alert.explanation}</p>
      <p>
        <strong>What to do: </strong>
        {alert.advice}
      </p>
      {alert.reply ? (
        <p>
          The smart host replied: <code className="reply">{alert.reply}</code>
        </p>
      ) : null}
      {alert.active && alert.kind !== 'queue-old' ? (
        <div className="actions">
          {offerSignIn ? (
            <button type="button" className="primary" onClick={() => (window.location.hash = SIGN_IN_ROUTE)}>
              Sign in again
            </button>
          ) : null}
          <button type="button" className={offerSignIn ? undefined : 'primary'} onClick={pressResume} disabled={resume.busy}>
            Resume sending
          </button>
        </div>
      ) : null}
      {alert.active && alert.kind === 'queue-old' ? <a href="#/queue">Open the queue</a> : null}
      <ErrorNotice error={resume.error} />
    </article>
  );
}

export function Alerts({ alerts, onChanged }: { alerts: readonly Alert[]; onChanged: () => void }) {
  const api = useRelayApi();
  const now = useNow();
  const loadSignIn = useCallback(() => api.getSignInStatus({}), [api]);
  const signIn = useLoaded(loadSignIn, { events: ['SETTINGS_CHANGED'] });
  const oauth = signIn.data?.available === true && signIn.data.authMethod === 'xoauth2';
  const active = alerts.filter((alert) => alert.active);
  const cleared = alerts.filter((alert) => !alert.active).reverse();

  return (
    <>
      <h1>Alerts</h1>
      {active.length === 0 ? <p className="notice notice-good">Nothing needs your attention.</p> : null}
      {active.map((alert) => (
        <AlertCard key={alert.id} alert={alert} now={now} onChanged={onChanged} oauth={oauth} />
      ))}
      {cleared.length > 0 ? (
        <section aria-labelledby="alert-history">
          <h2 id="alert-history">Earlier alerts</h2>
          {cleared.map((alert) => (
            <AlertCard key={alert.id} alert={alert} now={now} onChanged={onChanged} oauth={oauth} />
          ))}
        </section>
      ) : null}
    </>
  );
}
