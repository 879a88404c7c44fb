import { useCallback, useEffect, useId, useRef } from 'react';
import type { PendingSignIn, SignInStatus } from '../../../core/api/sign-in-status.ts';
import { formatClock, formatRelative } from '../format.ts';
import { useAction, useLoaded, useNow, useRelayApi } from '../hooks.ts';
import { ErrorNotice } from './ErrorNotice.tsx';

// Events after which the sign-in status is stale.
const SIGN_IN_EVENTS = [
  'SIGN_IN_STARTED',
  'SIGNED_IN',
  'SIGN_IN_FAILED',
  'OAUTH_REFRESHED',
  'OAUTH_REFRESH_FAILED',
  'OAUTH_TOKEN_STORE_FAILED',
  'SETTINGS_CHANGED',
];

/** Returns the state of the sign-in as a sentence for the screen. */
function stateSentence(status: SignInStatus, now: number): string {
  const account = status.account ?? 'the smart-host account';
  const token = status.token;
  if (!status.signedIn || token === null) {
    return status.authMethod === 'xoauth2'
      ? `Not signed in as ${account}. Mail waits until someone signs in.`
      : `Not signed in as ${account}.`;
  }
  switch (token.state) {
    case 'rejected':
      // The error's own message ends with what to do.
      return `The provider rejected the sign-in of ${account}. ${token.lastError?.message ?? 'Sign in again.'}`;
    case 'retrying':
      return token.retryAt
        ? `Signed in as ${account}, but the provider does not answer; the relay tries again ${formatRelative(token.retryAt, now)}.`
        : `Signed in as ${account}, but the provider does not answer; the relay tries again later.`;
    default:
      return `Signed in as ${account}. The relay renews its access by itself.`;
  }
}

function PendingBrowser({ pending, opensBrowser }: { pending: Extract<PendingSignIn, { flow: 'browser' }>; opensBrowser: boolean }) {
  const link = (
    <a href={pending.authorizationUrl} target="_blank" rel="noopener noreferrer">
      {opensBrowser ? 'Open the sign-in page again' : 'Open the sign-in page'}
    </a>
  );
  return (
    <div className="sign-in-pending">
      <p>
        {opensBrowser
          ? "Your browser opened the provider's sign-in page. Sign in there; this screen updates when you are done."
          : "Open the provider's sign-in page and sign in there; this screen updates when you are done."}
      </p>
      <p>{link}</p>
      <p className="hint">The relay waits until {formatClock(pending.expiresAt)}.</p>
    </div>
  );
}

function PendingDevice({ pending }: { pending: Extract<PendingSignIn, { flow: 'device' }> }) {
  return (
    <div className="sign-in-pending">
      <p>
        On any phone or computer, open{' '}
        <a href={pending.verificationUri} target="_blank" rel="noopener noreferrer">
          {pending.verificationUri}
        </a>{' '}
        and enter this code:
      </p>
      <p className="user-code">{pending.userCode}</p>
      <p className="hint">The code works until {formatClock(pending.expiresAt)}. This screen updates when you are done.</p>
    </div>
  );
}

interface SignInPanelProps {
  /** Saves the form, so the sign-in uses the OAuth settings on screen. Returns false when saving failed. */
  readonly beforeStart: () => Promise<boolean>;
  /**
   * True while the form differs from the saved settings. The status then
   * describes settings that the Sign in buttons are about to replace, so
   * the buttons stay enabled and the relay checks the new settings.
   */
  readonly unsaved: boolean;
  /** Moves the focus here once the status is shown. */
  readonly focus: boolean;
}

/**
 * Shows the OAuth2 sign-in of the smart-host account: its state, the Sign
 * in buttons for the browser and the device flow, and a sign-in in progress.
 */
export function SignInPanel({ beforeStart, unsaved, focus }: SignInPanelProps) {
  const api = useRelayApi();
  const id = useId();
  const now = useNow();
  const section = useRef<HTMLElement>(null);
  const load = useCallback(() => api.getSignInStatus({}), [api]);
  const loaded = useLoaded(load, { events: SIGN_IN_EVENTS });
  const action = useAction();
  const status = loaded.data;

  // "Sign in again" on the Alerts screen leads here.
  const shown = status !== null;
  useEffect(() => {
    if (focus && shown) section.current?.focus();
  }, [focus, shown]);

  const start = async (flow: 'browser' | 'device') => {
    if (!(await beforeStart())) return;
    await action.run(async () => {
      const pending = await api.startSignIn({ flow });
      // In the web console the page opens the provider's page. When a popup
      // blocker stops it, the "Open the sign-in page" link remains.
      if (pending.flow === 'browser' && status?.opensBrowser === false) {
        window.open(pending.authorizationUrl, '_blank', 'noopener,noreferrer');
      }
    });
    loaded.reload();
  };
  const cancel = async () => {
    await action.run(() => api.cancelSignIn({}));
    loaded.reload();
  };

  const outcome = status?.lastOutcome;
  const failed = outcome && !outcome.ok && outcome.code !== 'EOAUTH_SIGN_IN_CANCELLED' ? outcome : null;
  const flows = status?.flows;
  // A settings problem blocks both flows and is shown once, above.
  const unavailable = unsaved
    ? []
    : [...new Set([flows?.browser.reason, flows?.device.reason])].filter(
        (reason): reason is string => !!reason && reason !== status?.settingsProblem,
      );
  const settingsProblem = unsaved ? null : status?.settingsProblem;

  return (
    <section className="sign-in" id="sign-in" ref={section} tabIndex={-1} aria-labelledby={`${id}-heading`}>
      <h2 id={`${id}-heading`}>Sign-in</h2>
      <ErrorNotice error={loaded.error} />
      {status ? (
        <>
          <p role="status">{stateSentence(status, now)}</p>
          {settingsProblem ? <p className="notice notice-bad">{settingsProblem}</p> : null}
          {status.storageProblem ? <p className="notice notice-warn">{status.storageProblem}</p> : null}
          {failed ? (
            <p className="notice notice-bad" role="alert">
              The last sign-in did not work: {failed.message}
            </p>
          ) : null}

          {status.pending?.flow === 'browser' ? (
            <PendingBrowser pending={status.pending} opensBrowser={status.opensBrowser} />
          ) : null}
          {status.pending?.flow === 'device' ? <PendingDevice pending={status.pending} /> : null}

          <div className="actions">
            {status.pending ? (
              <button type="button" onClick={cancel} disabled={action.busy}>
                Cancel sign-in
              </button>
            ) : (
              <>
                <button
                  type="button"
                  className="primary"
                  onClick={() => start('browser')}
                  disabled={action.busy || (!unsaved && !status.flows.browser.available)}
                  aria-describedby={`${id}-how`}
                >
                  Sign in
                </button>
                <button
                  type="button"
                  onClick={() => start('device')}
                  disabled={action.busy || (!unsaved && !status.flows.device.available)}
                  aria-describedby={`${id}-how`}
                >
                  Sign in with a code
                </button>
              </>
            )}
          </div>
          <div id={`${id}-how`} className="hint">
            <p>
              {status.opensBrowser
                ? "Sign in opens the provider's page in your browser."
                : "Sign in opens the provider's page in a new tab. That browser must run on the relay's own machine, " +
                  'because the provider sends it back to the relay at 127.0.0.1. From another computer, use Sign in with a code.'}{' '}
              Sign in with a code shows a code to enter on any phone or computer. Both save these settings first.
            </p>
            {unavailable.map((reason) => (
              <p key={reason}>{reason}</p>
            ))}
          </div>
        </>
      ) : null}
      <ErrorNotice error={action.error} />
    </section>
  );
}
