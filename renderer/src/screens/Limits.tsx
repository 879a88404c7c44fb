import { useCallback, useId, useState } from 'react';
import type { FormEvent } from 'react';
import type { SettingsPatch } from '../../../core/api/definition.ts';
import type { PresetView, SettingField, SettingsDescription, SettingsValues, SettingsView } from '../../../core/api/model.ts';
import { ErrorNotice } from '../components/ErrorNotice.tsx';
import { formatCount } from '../format.ts';
import { useAction, useLoaded, useRelayApi } from '../hooks.ts';

type LimitKey = keyof SettingsValues & keyof SettingsPatch;

interface LimitRow {
  readonly key: LimitKey;
  readonly label: string;
  readonly unit: string;
}

// The limits beside the connection slider, in the order a person thinks
// about them: per connection, per message, then the rolling budgets.
const LIMIT_GROUPS: readonly { title: string; rows: readonly LimitRow[] }[] = [
  {
    title: 'Per connection and message',
    rows: [
      { key: 'maxMessagesPerConnection', label: 'Messages per connection', unit: 'messages' },
      { key: 'maxRecipientsPerMessage', label: 'Recipients per message', unit: 'recipients' },
      { key: 'minGapMs', label: 'Minimum gap between messages', unit: 'ms' },
    ],
  },
  {
    title: 'Message budgets (empty: no budget)',
    rows: [
      { key: 'maxMessagesPerMinute', label: 'Messages per minute', unit: 'messages' },
      { key: 'maxMessagesPerHour', label: 'Messages per hour', unit: 'messages' },
      { key: 'maxMessagesPerDay', label: 'Messages per 24 hours', unit: 'messages' },
    ],
  },
  {
    title: 'Recipient budgets (empty: no budget)',
    rows: [
      { key: 'maxRecipientsPerMinute', label: 'Recipients per minute', unit: 'recipients' },
      { key: 'maxRecipientsPerHour', label: 'Recipients per hour', unit: 'recipients' },
      { key: 'maxRecipientsPerDay', label: 'Recipients per 24 hours', unit: 'recipients' },
    ],
  },
  {
    title: 'Retries',
    rows: [
      { key: 'retryInitialSeconds', label: 'First retry after', unit: 'seconds' },
      { key: 'retryMaxSeconds', label: 'Longest wait between retries', unit: 'seconds' },
      { key: 'queueLifetimeHours', label: 'Give up and bounce after', unit: 'hours' },
    ],
  },
];

const MICROSOFT_365 = 'microsoft365';

/** Writes the sentences under the slider: what the value does, why, and the chosen provider's limit. */
export function connectionLimitSentence(limit: number, presets: readonly PresetView[], presetName: string | null): string {
  const chosen = presets.find((preset) => preset.name === presetName);
  const example = chosen ?? presets.find((preset) => preset.name === MICROSOFT_365);
  const what = `The relay opens at most ${limit} ${limit === 1 ? 'connection' : 'connections'} to the smart host at once.`;
  const why = 'Your provider refuses or blocks senders that open too many connections at once.';
  if (!example) return `${what} ${why}`;
  return `${what} ${why} The limit of ${example.label} is ${example.limits.maxConnections}.`;
}

function rangeOf(field: SettingField | undefined): { min: number; max: number } | null {
  const kind = field?.kind;
  if (kind && (kind.type === 'integer' || kind.type === 'number' || kind.type === 'optional-integer')) {
    return { min: kind.min, max: kind.max };
  }
  return null;
}

type Draft = Record<string, string>;

function draftFrom(settings: SettingsView): Draft {
  const draft: Draft = { maxConnections: String(settings.maxConnections) };
  for (const row of LIMIT_GROUPS.flatMap((group) => group.rows)) {
    const value = settings[row.key];
    draft[row.key] = value === null || value === undefined ? '' : String(value);
  }
  return draft;
}

/** Builds a patch of the changed keys only. An empty budget field becomes null (no budget). */
function patchFrom(draft: Draft, original: Draft): SettingsPatch {
  const patch: Record<string, number | null> = {};
  for (const [key, text] of Object.entries(draft)) {
    if (text === original[key]) continue;
    patch[key] = text.trim() === '' ? null : Number(text);
  }
  return patch as SettingsPatch;
}

function LimitsForm({ settings, description, onSaved }: { settings: SettingsView; description: SettingsDescription; onSaved: () => void }) {
  const api = useRelayApi();
  const id = useId();
  const [original, setOriginal] = useState(() => draftFrom(settings));
  const [draft, setDraft] = useState(original);
  const [saved, setSaved] = useState(false);
  const save = useAction();
  const fieldOf = (key: string) => description.fields.find((field) => field.key === key);
  const sliderRange = rangeOf(fieldOf('maxConnections')) ?? { min: 1, max: 20 };
  const errorField = save.error?.field ?? null;

  const update = (key: string, value: string) => {
    setDraft((current) => ({ ...current, [key]: value }));
    setSaved(false);
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const patch = patchFrom(draft, original);
    if (Object.keys(patch).length === 0) {
      setSaved(true);
      return;
    }
    const ok = await save.run(async () => {
      const next = await api.updateSettings({ settings: patch });
      const fresh = draftFrom(next);
      setOriginal(fresh);
      setDraft(fresh);
    });
    if (ok) {
      setSaved(true);
      onSaved();
    }
  };

  const describedBy = (key: string) =>
    [`${id}-${key}-help`, errorField === key ? `${id}-error` : ''].join(' ').trim();

  return (
    <form onSubmit={submit} noValidate>
      <section className="card slider-card" aria-labelledby={`${id}-connections-heading`}>
        <h2 id={`${id}-connections-heading`}>Connections at once</h2>
        <div className="slider-row">
          <label htmlFor={`${id}-maxConnections`}>Connection limit</label>
          <input
            id={`${id}-maxConnections`}
            type="range"
            min={sliderRange.min}
            max={sliderRange.max}
            step={1}
            value={draft.maxConnections}
            onChange={(event) => update('maxConnections', event.target.value)}
            aria-describedby={describedBy('maxConnections')}
            aria-invalid={errorField === 'maxConnections' ? true : undefined}
          />
          <output htmlFor={`${id}-maxConnections`} className="big">
            {draft.maxConnections}
          </output>
        </div>
        <p id={`${id}-maxConnections-help`}>{connectionLimitSentence(Number(draft.maxConnections), description.presets, settings.preset)}</p>
      </section>

      <div className="limit-groups">
        {LIMIT_GROUPS.map((group) => (
          <fieldset key={group.title} className="card">
            <legend>{group.title}</legend>
            {group.rows.map((row) => {
              const field = fieldOf(row.key);
              const range = rangeOf(field);
              return (
                <div key={row.key} className="limit-row">
                  <label htmlFor={`${id}-${row.key}`}>{row.label}</label>
                  <div className="with-unit">
                    <input
                      id={`${id}-${row.key}`}
                      type="number"
                      inputMode="decimal"
                      min={range?.min}
                      max={range?.max}
                      value={draft[row.key] ?? ''}
                      onChange={(event) => update(row.key, event.target.value)}
                      aria-describedby={describedBy(row.key)}
                      aria-invalid={errorField === row.key ? true : undefined}
                    />
                    <span className="unit">{row.unit}</span>
                  </div>
                  <p className="hint" id={`${id}-${row.key}-help`}>
                    {field?.description}
                    {range ? ` (${formatCount(range.min)} to ${formatCount(range.max)})` : ''}
                  </p>
                </div>
              );
            })}
          </fieldset>
        ))}
      </div>

      {save.error ? (
        <p className="notice notice-bad" role="alert" id={`${id}-error`}>
          {save.error.message}
        </p>
      ) : null}
      <div className="actions">
        <button type="submit" className="primary" disabled={save.busy}>
          {save.busy ? 'Saving…' : 'Save limits'}
        </button>
      </div>
      {saved ? (
        <p className="notice notice-good" role="status">
          Saved. The new limits apply now.
        </p>
      ) : null}
    </form>
  );
}

export function Limits({ onSaved }: { onSaved: () => void }) {
  const api = useRelayApi();
  const load = useCallback(
    async () => ({ settings: await api.getSettings({}), description: await api.describeSettings({}) }),
    [api],
  );
  const loaded = useLoaded(load);

  return (
    <>
      <h1>Sending limits</h1>
      <p className="lead">
        The relay stays inside these limits so the smart host keeps accepting your mail. Choosing a provider in Setup
        fills them in; change them here if your provider told you other numbers.
      </p>
      <ErrorNotice error={loaded.error} />
      {loaded.data ? (
        <LimitsForm settings={loaded.data.settings} description={loaded.data.description} onSaved={onSaved} />
      ) : null}
    </>
  );
}
