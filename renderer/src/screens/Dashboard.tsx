import { useCallback, useState } from 'react';
import type { RelayStatus, SmartHostStatus, ThroughputRange } from '../../../core/api/model.ts';
import { ErrorNotice } from '../components/ErrorNotice.tsx';
import { StateBadge } from '../components/StateBadge.tsx';
import { ThroughputChart } from '../components/ThroughputChart.tsx';
import { formatCount, formatDuration, formatRelative, stateSentence, stateWords } from '../format.ts';
import { useAction, useLoaded, useNow, useRelayApi } from '../hooks.ts';

const CHART_EVENTS = ['QUEUED', 'SENT', 'DEFERRED', 'BOUNCED'];

function SmartHostCard({ host, now, onChanged }: { host: SmartHostStatus; now: number; onChanged: () => void }) {
  const api = useRelayApi();
  const action = useAction();
  const words = stateWords(host.state);
  const paused = host.state.startsWith('paused') || host.state === 'stopped-credentials';

  const toggle = async () => {
    const ok = await action.run(() => (paused ? api.resumeSending({}) : api.pauseSending({})));
    if (ok) onChanged();
  };

  return (
    <section className="card" aria-labelledby="smarthost-heading">
      <h2 id="smarthost-heading">Smart host</h2>
      <p className="big">{host.name === 'none' ? 'None set up' : host.name}</p>
      <p>
        <StateBadge label={words.label} tone={words.tone} />{' '}
        <span className="muted">since {formatRelative(host.since, now)}</span>
      </p>
      <p>{stateSentence(host, now)}</p>
      {host.lastReply ? (
        <p className="muted">
          Last reply: <code className="reply">{host.lastReply}</code>
        </p>
      ) : null}
      {host.state !== 'unconfigured' ? (
        <button type="button" onClick={toggle} disabled={action.busy}>
          {paused ? 'Resume sending' : 'Pause sending'}
        </button>
      ) : (
        <a className="button" href="#/setup">Set up the smart host</a>
      )}
      <ErrorNotice error={action.error} />
    </section>
  );
}

function QueueCard({ status, now }: { status: RelayStatus; now: number }) {
  const counts = status.queue;
  const rows: [string, number][] = [
    ['Waiting to be sent', counts.active],
    ['Sending now', counts.sending],
    ['Deferred (will retry)', counts.deferred],
    ['Held', counts.held],
  ];
  return (
    <section className="card" aria-labelledby="queue-heading">
      <h2 id="queue-heading">Queue</h2>
      <p className="big">{formatCount(counts.total)} {counts.total === 1 ? 'message' : 'messages'}</p>
      <dl className="counts">
        {rows.map(([label, value]) => (
          <div key={label}>
            <dt>{label}</dt>
            <dd>{formatCount(value)}</dd>
          </div>
        ))}
      </dl>
      {status.oldestQueuedAt !== null ? (
        <p className="muted">The oldest message has waited {formatDuration(now - status.oldestQueuedAt)}.</p>
      ) : (
        <p className="muted">Nothing is waiting.</p>
      )}
      <a href="#/queue">Open the queue</a>
    </section>
  );
}

function BudgetCard({ host }: { host: SmartHostStatus }) {
  const budget = host.maxMessagesPerDay;
  return (
    <section className="card" aria-labelledby="budget-heading">
      <h2 id="budget-heading">Daily budget</h2>
      <p className="big">
        {formatCount(host.sentLastDay)}
        {budget !== null ? <span className="muted"> of {formatCount(budget)}</span> : null}
      </p>
      <p className="muted">Messages handed to the smart host in the last 24 hours, accepted or not.</p>
      {budget !== null ? (
        <meter
          min={0}
          max={budget}
          low={budget * 0.8}
          high={budget * 0.95}
          optimum={0}
          value={Math.min(host.sentLastDay, budget)}
          aria-label="Share of the daily message budget used"
        />
      ) : (
        <p className="muted">No daily budget is set. <a href="#/limits">Set one under Limits</a>.</p>
      )}
      <p className="muted">
        {formatCount(host.sentLastHour)} in the last hour, {formatCount(host.sentLastMinute)} in the last minute,{' '}
        {formatCount(host.recipientsLastDay)} recipients today.
      </p>
    </section>
  );
}

function ThroughputCard() {
  const api = useRelayApi();
  const [range, setRange] = useState<ThroughputRange>('hour');
  const load = useCallback(() => api.getThroughput({ range }), [api, range]);
  const throughput = useLoaded(load, { events: CHART_EVENTS, pollMs: 60_000 });

  return (
    <section className="card card-wide" aria-labelledby="throughput-heading">
      <div className="card-header">
        <h2 id="throughput-heading">Throughput</h2>
        <div className="segmented" role="group" aria-label="Time range">
          <button type="button" aria-pressed={range === 'hour'} onClick={() => setRange('hour')}>
            Last hour
          </button>
          <button type="button" aria-pressed={range === 'day'} onClick={() => setRange('day')}>
            Last 24 hours
          </button>
        </div>
      </div>
      <ErrorNotice error={throughput.error} />
      {throughput.data ? <ThroughputChart series={throughput.data} /> : <p className="muted">Loading…</p>}
    </section>
  );
}

export function Dashboard({ status, onChanged }: { status: RelayStatus; onChanged: () => void }) {
  const now = useNow(5_000);

  return (
    <>
      <h1>Dashboard</h1>
      <div className="cards">
        {status.smartHosts.map((host) => (
          <SmartHostCard key={host.name} host={host} now={now} onChanged={onChanged} />
        ))}
        <QueueCard status={status} now={now} />
        {status.smartHosts[0] ? <BudgetCard host={status.smartHosts[0]} /> : null}
        <ThroughputCard />
      </div>
    </>
  );
}
