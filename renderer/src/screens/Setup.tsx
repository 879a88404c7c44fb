import { useCallback, useId, useState } from 'react';
import type { FormEvent } from 'react';
import type { ApiError, SettingsPatch, SmartHostDraft } from '../../../core/api/definition.ts';
import type { PresetView, SecurityMode, SettingsView, SmartHostTestResult } from '../../../core/api/model.ts';
import { ErrorNotice } from '../components/ErrorNotice.tsx';
import { OAuthFields, oauthDraftFrom, oauthPatch } from '../components/OAuthFields.tsx';
import type { OAuthDraft } from '../components/OAuthFields.tsx';
import { SignInPanel } from '../components/SignInPanel.tsx';
import { TestResultView } from '../components/TestResultView.tsx';
import { useAction, useLoaded, useRelayApi } from '../hooks.ts';

const SECURITY_CHOICES: readonly { value: SecurityMode; label: string; port: number }[] = [
  { value: 'starttls', label: 'STARTTLS (usually port 587)', port: 587 },
  { value: 'tls', label: 'TLS (usually port 465)', port: 465 },
  { value: 'none', label: 'None: unencrypted, for a server on your own network', port: 25 },
];

const NO_PRESET = '';

type AuthMethod = SettingsView['authMethod'];

const AUTH_CHOICES: readonly { value: AuthMethod; label: string; description: string }[] = [
  { value: 'password', label: 'User name and password', description: 'AUTH PLAIN or LOGIN, or no sign-in without a user name.' },
  {
    value: 'xoauth2',
    label: 'Sign in with Microsoft or Google (OAuth2)',
    description: 'For accounts whose provider no longer accepts a password for mail. The relay never sees the password.',
  },
];

interface Draft {
  preset: string;
  host: string;
  port: string;
  security: SecurityMode;
  user: string;
  password: string;
  testTo: string;
  authMethod: AuthMethod;
  oauth: OAuthDraft;
}

function draftFrom(settings: SettingsView): Draft {
  return {
    preset: settings.preset ?? NO_PRESET,
    host: settings.smarthost?.host ?? '',
    port: String(settings.smarthost?.port ?? 587),
    security: settings.security,
    user: settings.user ?? '',
    password: '',
    testTo: settings.user?.includes('@') ? settings.user : '',
    authMethod: settings.authMethod,
    oauth: oauthDraftFrom(settings),
  };
}

/** Returns the parts of the draft that Save stores, to tell whether the form differs from the saved settings. */
function savedPart(draft: Draft): string {
  const { password: _password, testTo: _testTo, ...stored } = draft;
  return JSON.stringify(stored);
}

/** Returns the form field that an API error names, or null. */
function fieldOf(error: ApiError | null): string | null {
  if (!error?.field) return null;
  if (error.field === 'smarthost' || error.field === 'host') return 'host';
  return error.field;
}

interface SetupFormProps {
  readonly settings: SettingsView;
  readonly presets: readonly PresetView[];
  readonly onSaved: () => void;
  /** Moves the focus to the sign-in, for "Sign in again" on the Alerts screen. */
  readonly focusSignIn: boolean;
}

interface PasswordFieldProps {
  readonly fieldProps: { id: string; 'aria-invalid': boolean | undefined };
  readonly passwordSet: boolean;
  readonly value: string;
  readonly onChange: (password: string) => void;
  readonly invalid: boolean;
  /** Id of the form's error message, for aria-describedby. */
  readonly errorId: string;
}

function PasswordField({ fieldProps, passwordSet, value, onChange, invalid, errorId }: PasswordFieldProps) {
  const hintId = `${fieldProps.id}-hint`;
  return (
    <>
      <label htmlFor={fieldProps.id}>Password</label>
      <div>
        <input
          id={fieldProps.id}
          aria-invalid={fieldProps['aria-invalid']}
          type="password"
          autoComplete="new-password"
          placeholder={passwordSet ? 'Saved; type to replace it' : 'Not set'}
          value={value}
          onChange={(event) => onChange(event.target.value)}
          aria-describedby={[hintId, invalid ? errorId : ''].join(' ').trim()}
        />
        <p className="hint" id={hintId}>
          {passwordSet ? 'A password is saved. It is never shown here.' : 'No password is saved yet.'}
        </p>
      </div>
    </>
  );
}

function SetupForm({ settings, presets, onSaved, focusSignIn }: SetupFormProps) {
  const api = useRelayApi();
  const id = useId();
  const [draft, setDraft] = useState<Draft>(() => draftFrom(settings));
  const [result, setResult] = useState<SmartHostTestResult | null>(null);
  const [saved, setSaved] = useState(false);
  const test = useAction();
  const save = useAction();
  const error = save.error ?? test.error;
  const errorField = fieldOf(error);
  const chosenPreset = presets.find((preset) => preset.name === draft.preset);

  const update = (changes: Partial<Draft>) => {
    setDraft((current) => ({ ...current, ...changes }));
    setSaved(false);
  };

  const choosePreset = (name: string) => {
    const preset = presets.find((candidate) => candidate.name === name);
    if (!preset) {
      update({ preset: NO_PRESET });
      return;
    }
    update({
      preset: name,
      host: preset.host ?? (draft.preset === NO_PRESET ? draft.host : ''),
      port: String(preset.port),
      security: preset.security,
    });
  };

  const chooseSecurity = (security: SecurityMode) => {
    const usualPorts = SECURITY_CHOICES.map((choice) => String(choice.port));
    const usual = SECURITY_CHOICES.find((choice) => choice.value === security)?.port ?? 587;
    update({ security, port: usualPorts.includes(draft.port) ? String(usual) : draft.port });
  };

  const smartHostDraft = (): SmartHostDraft => ({
    host: draft.host.trim(),
    port: Number(draft.port),
    security: draft.security,
    user: draft.user.trim() === '' ? null : draft.user.trim(),
    ...(draft.password !== '' ? { password: draft.password } : {}),
  });

  const runTest = async (kind: 'connection' | 'message') => {
    setResult(null);
    await test.run(async () => {
      const smartHost = smartHostDraft();
      setResult(
        kind === 'message'
          ? await api.sendTestMessage({ to: draft.testTo.trim(), smartHost })
          : await api.testConnection({ smartHost }),
      );
    });
  };

  const saveForm = async (): Promise<boolean> => {
    const presetChanged = draft.preset !== (settings.preset ?? NO_PRESET);
    const patch: SettingsPatch = {
      preset: draft.preset === NO_PRESET ? null : draft.preset,
      smarthost: draft.host.trim() === '' ? null : { host: draft.host.trim(), port: Number(draft.port) },
      security: draft.security,
      user: draft.user.trim() === '' ? null : draft.user.trim(),
      authMethod: draft.authMethod,
      ...(draft.authMethod === 'xoauth2' ? oauthPatch(draft.oauth, settings) : {}),
      // A new preset brings its provider's limits; the Limits screen can change them after.
      ...(presetChanged && chosenPreset ? chosenPreset.limits : {}),
    };
    const ok = await save.run(() =>
      api.updateSettings({ settings: patch, ...(draft.password !== '' ? { password: draft.password } : {}) }),
    );
    if (ok) {
      setSaved(true);
      setDraft((current) => ({ ...current, password: '' }));
      onSaved();
    }
    return ok;
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    await saveForm();
  };

  const fieldProps = (name: string) => ({
    id: `${id}-${name}`,
    'aria-invalid': errorField === name ? true : undefined,
    'aria-describedby': errorField === name ? `${id}-error` : undefined,
  });

  return (
    <form onSubmit={submit} noValidate>
      <fieldset className="presets">
        <legend>Email provider</legend>
        {presets.map((preset) => (
          <label key={preset.name} className="preset">
            <input
              type="radio"
              name={`${id}-preset`}
              value={preset.name}
              checked={draft.preset === preset.name}
              onChange={() => choosePreset(preset.name)}
            />
            <span>
              <strong>{preset.label}</strong>
              <span className="muted">{preset.description}</span>
            </span>
          </label>
        ))}
        <label className="preset">
          <input
            type="radio"
            name={`${id}-preset`}
            value={NO_PRESET}
            checked={draft.preset === NO_PRESET}
            onChange={() => choosePreset(NO_PRESET)}
          />
          <span>
            <strong>Enter the settings myself</strong>
            <span className="muted">Keeps the current limits; set them under Limits.</span>
          </span>
        </label>
      </fieldset>

      <fieldset className="presets">
        <legend>How the relay signs in</legend>
        {AUTH_CHOICES.map((choice) => (
          <label key={choice.value} className="preset">
            <input
              type="radio"
              name={`${id}-auth`}
              value={choice.value}
              checked={draft.authMethod === choice.value}
              onChange={() => update({ authMethod: choice.value })}
            />
            <span>
              <strong>{choice.label}</strong>
              <span className="muted">{choice.description}</span>
            </span>
          </label>
        ))}
      </fieldset>

      <div className="form-grid">
        <label htmlFor={`${id}-host`}>Smart host name</label>
        <input
          {...fieldProps('host')}
          type="text"
          autoComplete="off"
          spellCheck={false}
          placeholder="smtp.example.com"
          value={draft.host}
          onChange={(event) => update({ host: event.target.value })}
        />

        <label htmlFor={`${id}-port`}>Port</label>
        <input
          {...fieldProps('port')}
          type="number"
          min={1}
          max={65535}
          inputMode="numeric"
          value={draft.port}
          onChange={(event) => update({ port: event.target.value })}
        />

        <label htmlFor={`${id}-security`}>Security</label>
        <select
          {...fieldProps('security')}
          value={draft.security}
          onChange={(event) => chooseSecurity(event.target.value as SecurityMode)}
        >
          {SECURITY_CHOICES.map((choice) => (
            <option key={choice.value} value={choice.value}>
              {choice.label}
            </option>
          ))}
        </select>

        <label htmlFor={`${id}-user`}>User name</label>
        <input
          {...fieldProps('user')}
          type="text"
          autoComplete="username"
          spellCheck={false}
          placeholder="office@example.com (empty: no sign-in)"
          value={draft.user}
          onChange={(event) => update({ user: event.target.value })}
        />

        {draft.authMethod === 'xoauth2' ? (
          <OAuthFields
            draft={draft.oauth}
            onChange={(changes) => update({ oauth: { ...draft.oauth, ...changes } })}
            fieldProps={fieldProps}
          />
        ) : (
          <PasswordField
            fieldProps={fieldProps('password')}
            passwordSet={settings.passwordSet}
            value={draft.password}
            onChange={(password) => update({ password })}
            invalid={errorField === 'password'}
            errorId={`${id}-error`}
          />
        )}
      </div>

      {draft.authMethod === 'xoauth2' ? (
        <SignInPanel
          beforeStart={saveForm}
          unsaved={savedPart(draft) !== savedPart(draftFrom(settings))}
          focus={focusSignIn}
        />
      ) : null}

      {error ? (
        <p className="notice notice-bad" role="alert" id={`${id}-error`}>
          {error.message}
        </p>
      ) : null}

      <div className="actions">
        <button type="submit" className="primary" disabled={save.busy}>
          {save.busy ? 'Saving…' : 'Save settings'}
        </button>
        <button type="button" onClick={() => runTest('connection')} disabled={test.busy || draft.host.trim() === ''}>
          Test connection
        </button>
      </div>
      {saved ? (
        <p className="notice notice-good" role="status">
          Saved. The relay uses these settings now.
        </p>
      ) : null}

      <fieldset className="test-message">
        <legend>Send test message</legend>
        <p className="muted">Sends a short message straight to the smart host and shows its actual reply.</p>
        <div className="inline-form">
          <label htmlFor={`${id}-to`}>To</label>
          <input
            {...fieldProps('to')}
            type="email"
            placeholder="you@example.com"
            value={draft.testTo}
            onChange={(event) => update({ testTo: event.target.value })}
          />
          <button
            type="button"
            onClick={() => runTest('message')}
            disabled={test.busy || draft.host.trim() === '' || draft.testTo.trim() === ''}
          >
            {test.busy ? 'Talking to the smart host…' : 'Send test message'}
          </button>
        </div>
      </fieldset>

      <section aria-live="polite" aria-busy={test.busy} aria-label="Test result">
        {result ? <TestResultView result={result} /> : null}
      </section>
    </form>
  );
}

export function Setup({ onSaved, section = null }: { onSaved: () => void; section?: string | null }) {
  const api = useRelayApi();
  const load = useCallback(
    async () => ({ settings: await api.getSettings({}), description: await api.describeSettings({}) }),
    [api],
  );
  const loaded = useLoaded(load);

  return (
    <>
      <h1>Smart-host setup</h1>
      <p className="lead">
        Choose your email provider, enter the account the relay signs in with, and send a test message to see the
        provider&apos;s answer.
      </p>
      <ErrorNotice error={loaded.error} />
      {loaded.data ? (
        <SetupForm
          settings={loaded.data.settings}
          presets={loaded.data.description.presets}
          focusSignIn={section === 'sign-in'}
          onSaved={() => {
            loaded.reload();
            onSaved();
          }}
        />
      ) : null}
    </>
  );
}
