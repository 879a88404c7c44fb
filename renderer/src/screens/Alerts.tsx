import type { Alert } from '../../../core/api/model.ts';
import { ErrorNotice } from '../components/ErrorNotice.tsx';
import { StateBadge } from '../components/StateBadge.tsx';
import { alertTitle, formatRelative, formatTime } from '../format.ts';
import { useAction, useNow, useRelayApi } from '../hooks.ts';

function AlertCard({ alert, now, onChanged }: { alert: Alert; now: number; onChanged: () => void }) {
  const api = useRelayApi();
  const resume = useAction();
  const headingId = `alert-${alert.id}`;

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
        <button type="button" className="primary" onClick={pressResume} disabled={resume.busy}>
          Resume sending
        </button>
      ) : null}
      {alert.active && alert.kind === 'queue-old' ? <a href="#/queue">Open the queue</a> : null}
      <ErrorNotice error={resume.error} />
    </article>
  );
}

export function Alerts({ alerts, onChanged }: { alerts: readonly Alert[]; onChanged: () => void }) {
  const now = useNow();
  const active = alerts.filter((alert) => alert.active);
  const cleared = alerts.filter((alert) => !alert.active).reverse();

  return (
    <>
      <h1>Alerts</h1>
      {active.length === 0 ? <p className="notice notice-good">Nothing needs your attention.</p> : null}
      {active.map((alert) => (
        <AlertCard key={alert.id} alert={alert} now={now} onChanged={onChanged} />
      ))}
      {cleared.length > 0 ? (
        <section aria-labelledby="alert-history">
          <h2 id="alert-history">Earlier alerts</h2>
          {cleared.map((alert) => (
            <AlertCard key={alert.id} alert={alert} now={now} onChanged={onChanged} />
          ))}
        </section>
      ) : null}
    </>
  );
}
