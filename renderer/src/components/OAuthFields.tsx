import type { SettingsPatch } from '../../../core/api/definition.ts';
import type { SettingsView } from '../../../core/api/model.ts';

export type OAuthProvider = SettingsView['oauthProvider'];

/** OAuth2 settings as typed into the setup form, where '' means not set. */
export interface OAuthDraft {
  readonly provider: OAuthProvider;
  readonly clientId: string;
  readonly tenant: string;
  readonly tokenUrl: string;
  readonly authorizationUrl: string;
  readonly deviceAuthorizationUrl: string;
  readonly scope: string;
}

const PROVIDER_CHOICES: readonly { value: OAuthProvider; label: string }[] = [
  { value: 'microsoft', label: 'Microsoft 365' },
  { value: 'google', label: 'Google (Gmail, Workspace)' },
  { value: 'custom', label: 'Another OAuth2 provider' },
];

export function oauthDraftFrom(settings: SettingsView): OAuthDraft {
  return {
    provider: settings.oauthProvider,
    clientId: settings.oauthClientId ?? '',
    tenant: settings.oauthTenant ?? '',
    tokenUrl: settings.oauthTokenUrl ?? '',
    authorizationUrl: settings.oauthAuthorizationUrl ?? '',
    deviceAuthorizationUrl: settings.oauthDeviceAuthorizationUrl ?? '',
    scope: settings.oauthScope ?? '',
  };
}

function orNull(text: string): string | null {
  const trimmed = text.trim();
  return trimmed === '' ? null : trimmed;
}

/**
 * Returns the settings that the draft sets. The endpoint fields are shown only
 * for another provider, so only then are they sent. Endpoints left over
 * from another provider are cleared when the form switches to Microsoft
 * or Google, because they would replace that provider's own endpoints.
 */
export function oauthPatch(draft: OAuthDraft, saved: SettingsView): SettingsPatch {
  const custom = draft.provider === 'custom';
  const leavingCustom = saved.oauthProvider === 'custom' && !custom;
  const endpoints = {
    oauthTokenUrl: custom ? orNull(draft.tokenUrl) : null,
    oauthAuthorizationUrl: custom ? orNull(draft.authorizationUrl) : null,
    oauthDeviceAuthorizationUrl: custom ? orNull(draft.deviceAuthorizationUrl) : null,
    oauthScope: custom ? orNull(draft.scope) : null,
  };
  return {
    oauthProvider: draft.provider,
    oauthClientId: orNull(draft.clientId),
    oauthTenant: draft.provider === 'microsoft' ? orNull(draft.tenant) : null,
    ...(custom || leavingCustom ? endpoints : {}),
  };
}

type FieldProps = (name: string) => {
  id: string;
  'aria-invalid': boolean | undefined;
  'aria-describedby': string | undefined;
};

interface TextRow {
  readonly key: keyof OAuthDraft;
  /** Setting key, which API errors name. */
  readonly setting: string;
  readonly label: string;
  readonly placeholder: string;
}

const CUSTOM_ROWS: readonly TextRow[] = [
  { key: 'tokenUrl', setting: 'oauthTokenUrl', label: 'Token URL', placeholder: 'https://login.example.com/oauth2/token' },
  {
    key: 'authorizationUrl',
    setting: 'oauthAuthorizationUrl',
    label: 'Authorization URL',
    placeholder: 'https://login.example.com/oauth2/authorize',
  },
  {
    key: 'deviceAuthorizationUrl',
    setting: 'oauthDeviceAuthorizationUrl',
    label: 'Device authorization URL',
    placeholder: 'empty: no sign-in with a code',
  },
  { key: 'scope', setting: 'oauthScope', label: 'Scope', placeholder: 'space-separated scopes for SMTP' },
];

/**
 * Renders the rows of the setup form's grid for OAuth2: provider, client id, the
 * Microsoft tenant, and the endpoints of another provider.
 */
export function OAuthFields({
  draft,
  onChange,
  fieldProps,
}: {
  draft: OAuthDraft;
  onChange: (changes: Partial<OAuthDraft>) => void;
  fieldProps: FieldProps;
}) {
  const idOf = (name: string) => fieldProps(name).id;

  return (
    <>
      <label htmlFor={idOf('oauthProvider')}>Provider</label>
      <select
        {...fieldProps('oauthProvider')}
        value={draft.provider}
        onChange={(event) => onChange({ provider: event.target.value as OAuthProvider })}
      >
        {PROVIDER_CHOICES.map((choice) => (
          <option key={choice.value} value={choice.value}>
            {choice.label}
          </option>
        ))}
      </select>

      <label htmlFor={idOf('oauthClientId')}>Client ID</label>
      <div>
        <input
          {...fieldProps('oauthClientId')}
          type="text"
          autoComplete="off"
          spellCheck={false}
          value={draft.clientId}
          onChange={(event) => onChange({ clientId: event.target.value })}
          aria-describedby={[`${idOf('oauthClientId')}-hint`, fieldProps('oauthClientId')['aria-describedby'] ?? '']
            .join(' ')
            .trim()}
        />
        <p className="hint" id={`${idOf('oauthClientId')}-hint`}>
          The application (client) ID of the app your administrator registered for the relay.
        </p>
      </div>

      {draft.provider === 'microsoft' ? (
        <>
          <label htmlFor={idOf('oauthTenant')}>Tenant</label>
          <input
            {...fieldProps('oauthTenant')}
            type="text"
            autoComplete="off"
            spellCheck={false}
            placeholder="organizations, or contoso.onmicrosoft.com"
            value={draft.tenant}
            onChange={(event) => onChange({ tenant: event.target.value })}
          />
        </>
      ) : null}

      {draft.provider === 'custom'
        ? CUSTOM_ROWS.map((row) => (
            <TextField key={row.key} row={row} draft={draft} onChange={onChange} fieldProps={fieldProps} />
          ))
        : null}
    </>
  );
}

function TextField({
  row,
  draft,
  onChange,
  fieldProps,
}: {
  row: TextRow;
  draft: OAuthDraft;
  onChange: (changes: Partial<OAuthDraft>) => void;
  fieldProps: FieldProps;
}) {
  return (
    <>
      <label htmlFor={fieldProps(row.setting).id}>{row.label}</label>
      <input
        {...fieldProps(row.setting)}
        type="text"
        autoComplete="off"
        spellCheck={false}
        placeholder={row.placeholder}
        value={draft[row.key]}
        onChange={(event) => onChange({ [row.key]: event.target.value })}
      />
    </>
  );
}
