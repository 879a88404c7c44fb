/**
 * Starts the relay core inside the desktop app: the OAuth2 sign-in from
 * the grant stored with safeStorage, the relay with that sign-in's token
 * source, and the API handlers that the window calls over IPC. A sign-in
 * from the setup screen opens the provider's page with shell.openExternal
 * and saves its grant encrypted in settings.json, never in plain text.
 *
 * electron/main.ts passes this as DesktopAppOptions.startRelay; the tests
 * call it with their own settings.
 */
import { createApiHandlers } from '../core/console/handlers.ts';
import { SignInService } from '../core/console/sign-in.ts';
import { SecretTokenStore } from '../core/oauth/token-store.ts';
import { Relay } from '../core/relay.ts';
import type { RelayStartOptions, StartedRelay } from './desktop-app.ts';

export async function startDesktopRelay(options: RelayStartOptions): Promise<StartedRelay> {
  const { dataDir, settings, password, store } = options;
  const signIn = new SignInService({
    store: new SecretTokenStore(options.secrets),
    openUrl: options.openUrl,
    clientSecret: options.oauthClientSecret,
  });
  const tokens = await signIn.load(settings);

  const relay = await Relay.start({ dataDir, settings, password, tokens });
  signIn.attach(relay);
  const api = createApiHandlers(relay, { store, password, signIn });
  const close = (): void => {
    signIn.close();
    api.close();
  };
  return { relay, api: { ...api, close } };
}
