import { useCallback, useEffect, useId, useState } from 'react';
import type { LogEntry } from '../../../core/api/model.ts';
import { ErrorNotice } from '../components/ErrorNotice.tsx';
import { useAction, useLoaded, useRelayApi } from '../hooks.ts';

const PAGE_LINES = 200;
const SEARCH_DELAY_MS = 300;

// Event words that mean trouble, and those that mean mail went out.
const BAD_EVENTS = new Set(['BOUNCED', 'EXPIRED', 'REJECTED', 'AUTH_FAILED', 'PAUSED', 'ALERT', 'ERROR', 'CORRUPT', 'CONNECT_FAILED']);
const WARN_EVENTS = new Set(['DEFERRED', 'THROTTLED', 'HELD', 'WAITING']);
const GOOD_EVENTS = new Set(['SENT', 'RESUMED', 'ALERT_CLEARED']);

function toneOf(event: string): string {
  if (BAD_EVENTS.has(event)) return 'bad';
  if (WARN_EVENTS.has(event)) return 'warn';
  if (GOOD_EVENTS.has(event)) return 'good';
  return 'neutral';
}

function LogLine({ entry }: { entry: LogEntry }) {
  const rest = entry.event ? entry.line.slice(entry.line.indexOf(entry.event) + entry.event.length) : entry.line;
  const time = entry.line.slice(0, entry.line.indexOf(' '));
  return (
    <li>
      {entry.event ? (
        <>
          <span className="log-time">{time}</span> <span className={`log-event tone-${toneOf(entry.event)}`}>{entry.event}</span>
          <span className="log-fields">{rest}</span>
        </>
      ) : (
        entry.line
      )}
    </li>
  );
}

export function ActivityLog() {
  const api = useRelayApi();
  const id = useId();
  const [searchText, setSearchText] = useState('');
  const [search, setSearch] = useState('');
  const [follow, setFollow] = useState(true);
  const [older, setOlder] = useState<{ entries: LogEntry[]; nextBefore: number | null; search: string } | null>(null);
  const more = useAction();

  useEffect(() => {
    const timer = setTimeout(() => setSearch(searchText.trim()), SEARCH_DELAY_MS);
    return () => clearTimeout(timer);
  }, [searchText]);

  const load = useCallback(
    () => api.readLog({ limit: PAGE_LINES, search: search === '' ? undefined : search }),
    [api, search],
  );
  const newest = useLoaded(load, { events: follow ? [] : ['(none)'] });
  const olderEntries = older?.search === search ? older.entries : [];
  const nextBefore = older?.search === search ? older.nextBefore : (newest.data?.nextBefore ?? null);
  const entries = [...(newest.data?.entries ?? []), ...olderEntries];

  const loadOlder = () =>
    more.run(async () => {
      if (nextBefore === null) return;
      const page = await api.readLog({ limit: PAGE_LINES, search: search === '' ? undefined : search, before: nextBefore });
      setOlder({ entries: [...olderEntries, ...page.entries], nextBefore: page.nextBefore, search });
    });

  return (
    <>
      <h1>Activity log</h1>
      <p className="lead">One line per event, newest first, as written to logs/activity.log in the data folder.</p>
      <div className="toolbar">
        <label htmlFor={`${id}-search`}>Search</label>
        <input
          id={`${id}-search`}
          type="search"
          placeholder="Queue id, address or event word"
          value={searchText}
          onChange={(event) => setSearchText(event.target.value)}
        />
        <label className="checkbox">
          <input type="checkbox" checked={follow} onChange={(event) => setFollow(event.target.checked)} /> Show new events as
          they happen
        </label>
      </div>
      <ErrorNotice error={newest.error ?? more.error} />
      {newest.data && entries.length === 0 ? <p className="muted">No lines match.</p> : null}
      <ol className="log" aria-label="Activity log lines, newest first">
        {entries.map((entry, index) => (
          <LogLine key={`${index}-${entry.line}`} entry={entry} />
        ))}
      </ol>
      {nextBefore !== null ? (
        <button type="button" onClick={loadOlder} disabled={more.busy}>
          {more.busy ? 'Loading…' : 'Load older lines'}
        </button>
      ) : null}
    </>
  );
}
