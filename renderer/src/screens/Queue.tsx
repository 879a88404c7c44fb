import { useCallback, useEffect, useId, useState } from 'react';
import type { QueueItem, QueueItemState } from '../../../core/api/model.ts';
import { ErrorNotice } from '../components/ErrorNotice.tsx';
import { StateBadge } from '../components/StateBadge.tsx';
import type { Tone } from '../format.ts';
import { formatBytes, formatCount, formatDuration, formatRelative } from '../format.ts';
import { useAction, useLoaded, useNow, useRelayApi } from '../hooks.ts';

const PAGE_SIZES = [25, 50, 100, 200];
const SEARCH_DELAY_MS = 300;
const QUEUE_EVENTS = ['QUEUED', 'SENT', 'DEFERRED', 'BOUNCED', 'EXPIRED', 'HELD', 'RELEASED', 'DELETED'];

const STATE_LABELS: Readonly<Record<QueueItemState, { label: string; tone: Tone }>> = {
  active: { label: 'Waiting', tone: 'neutral' },
  sending: { label: 'Sending', tone: 'good' },
  deferred: { label: 'Deferred', tone: 'warn' },
  held: { label: 'Held', tone: 'bad' },
};

/** Saves bytes as a file through a temporary object URL. */
function download(fileName: string, content: Uint8Array): void {
  const url = URL.createObjectURL(new Blob([content as BlobPart], { type: 'message/rfc822' }));
  const link = document.createElement('a');
  link.href = url;
  link.download = fileName;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function recipientsText(item: QueueItem): string {
  const pending = item.recipients.filter((recipient) => recipient.status === 'pending');
  const shown = pending.length > 0 ? pending : item.recipients;
  const first = shown[0]?.address ?? '';
  return shown.length > 1 ? `${first} and ${shown.length - 1} more` : first;
}

function QueueRow({ item, now, onChanged }: { item: QueueItem; now: number; onChanged: () => void }) {
  const api = useRelayApi();
  const action = useAction();
  const state = STATE_LABELS[item.state];
  const label = item.subject || '(no subject)';

  const act = async (run: () => Promise<unknown>) => {
    if (await action.run(run)) onChanged();
  };
  const remove = () => {
    if (window.confirm(`Delete the message "${label}" for good? Its sender gets no bounce.`)) {
      void act(() => api.deleteMessage({ id: item.id }));
    }
  };
  const exportFile = () =>
    act(async () => {
      const file = await api.exportMessage({ id: item.id });
      download(file.fileName, file.content);
    });

  return (
    <tr>
      <td className="message-cell">
        <span className="subject" title={label}>{label}</span>
        <span className="muted envelope" title={item.recipients.map((recipient) => recipient.address).join(', ')}>
          {item.from || '<>'} → {recipientsText(item)}
        </span>
        <span className="muted id">{item.id}</span>
      </td>
      <td><StateBadge label={state.label} tone={state.tone} /></td>
      <td className="number">{formatBytes(item.size)}</td>
      <td className="number">{formatDuration(now - item.receivedAt)}</td>
      <td className="number">{item.attempts}</td>
      <td className="reply-cell">
        {item.lastReply ? <code className="reply" title={item.lastReply}>{item.lastReply}</code> : <span className="muted">–</span>}
      </td>
      <td>{item.nextAttemptAt === null ? '–' : formatRelative(item.nextAttemptAt, now)}</td>
      <td>
        <div className="row-actions">
          <button type="button" onClick={() => act(() => api.retryMessage({ id: item.id }))} disabled={action.busy} aria-label={`Retry now: ${label}`}>
            Retry
          </button>
          {item.state === 'held' ? (
            <button type="button" onClick={() => act(() => api.releaseMessage({ id: item.id }))} disabled={action.busy} aria-label={`Release: ${label}`}>
              Release
            </button>
          ) : (
            <button type="button" onClick={() => act(() => api.holdMessage({ id: item.id }))} disabled={action.busy} aria-label={`Hold: ${label}`}>
              Hold
            </button>
          )}
          <button type="button" onClick={exportFile} disabled={action.busy} aria-label={`Export as .eml: ${label}`}>
            Export
          </button>
          <button type="button" className="danger" onClick={remove} disabled={action.busy} aria-label={`Delete: ${label}`}>
            Delete
          </button>
        </div>
        <ErrorNotice error={action.error} />
      </td>
    </tr>
  );
}

export function Queue() {
  const api = useRelayApi();
  const id = useId();
  const now = useNow(5_000);
  const [state, setState] = useState<QueueItemState | ''>('');
  const [searchText, setSearchText] = useState('');
  const [search, setSearch] = useState('');
  const [offset, setOffset] = useState(0);
  const [limit, setLimit] = useState(50);

  // Searching on every key press would page through the whole queue
  // per letter; wait until typing pauses.
  useEffect(() => {
    const timer = setTimeout(() => {
      setSearch(searchText.trim());
      setOffset(0);
    }, SEARCH_DELAY_MS);
    return () => clearTimeout(timer);
  }, [searchText]);

  const load = useCallback(
    () => api.listQueue({ offset, limit, state: state === '' ? undefined : state, search: search === '' ? undefined : search }),
    [api, offset, limit, state, search],
  );
  const page = useLoaded(load, { events: QUEUE_EVENTS, pollMs: 10_000 });
  const total = page.data?.total ?? 0;
  const items = page.data?.items ?? [];
  const first = total === 0 ? 0 : offset + 1;
  const last = Math.min(offset + items.length, total);

  return (
    <>
      <h1>Queue</h1>
      <div className="toolbar">
        <label htmlFor={`${id}-search`}>Search</label>
        <input
          id={`${id}-search`}
          type="search"
          placeholder="Sender, recipient, subject or id"
          value={searchText}
          onChange={(event) => setSearchText(event.target.value)}
        />
        <label htmlFor={`${id}-state`}>Show</label>
        <select
          id={`${id}-state`}
          value={state}
          onChange={(event) => {
            setState(event.target.value as QueueItemState | '');
            setOffset(0);
          }}
        >
          <option value="">All messages</option>
          <option value="active">Waiting</option>
          <option value="sending">Sending</option>
          <option value="deferred">Deferred</option>
          <option value="held">Held</option>
        </select>
      </div>
      <ErrorNotice error={page.error} />

      <p className="muted" role="status" aria-live="polite">
        {total === 0 ? 'No messages match.' : `Messages ${formatCount(first)} to ${formatCount(last)} of ${formatCount(total)}, oldest first.`}
      </p>

      {items.length > 0 ? (
        <div className="table-wrap">
          <table className="queue-table">
            <caption className="visually-hidden">Queued messages</caption>
            <thead>
              <tr>
                <th scope="col">Message</th>
                <th scope="col">State</th>
                <th scope="col" className="number">Size</th>
                <th scope="col" className="number">Age</th>
                <th scope="col" className="number">Attempts</th>
                <th scope="col">Last reply</th>
                <th scope="col">Next attempt</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {items.map((item) => (
                <QueueRow key={item.id} item={item} now={now} onChanged={page.reload} />
              ))}
            </tbody>
          </table>
        </div>
      ) : null}

      <nav className="pager" aria-label="Queue pages">
        <button type="button" onClick={() => setOffset(Math.max(0, offset - limit))} disabled={offset === 0}>
          Previous page
        </button>
        <button type="button" onClick={() => setOffset(offset + limit)} disabled={offset + limit >= total}>
          Next page
        </button>
        <label htmlFor={`${id}-size`}>Per page</label>
        <select
          id={`${id}-size`}
          value={limit}
          onChange={(event) => {
            setLimit(Number(event.target.value));
            setOffset(0);
          }}
        >
          {PAGE_SIZES.map((size) => (
            <option key={size} value={size}>
              {size}
            </option>
          ))}
        </select>
      </nav>
    </>
  );
}
