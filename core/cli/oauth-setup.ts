/**
 * OAuth2 for the headless `serve` command: builds the access-token source
 * from the settings, the stored sign-in (`<data-dir>/oauth-token.json`,
 * mode 0600) and SMARTHOST_OAUTH_REFRESH_TOKEN, and runs the device sign-in
 * (RFC 8628) for `--oauth-sign-in`.
 *
 * Tokens are never printed or logged; only their events are (refreshed,
 * refresh failed) through the relay's activity log.
 */
import type { Settings } from '../settings.ts';
import type { EventBus } from '../events.ts';
import { oauthClientFrom, tokenEventFields } from '../oauth/relay-tokens.ts';
import type { OAuthClient } from '../oauth/providers.ts';
import { FileTokenStore, chooseRefreshToken, grantFor, saveRotatedTokensTo, sha256Hex } from '../oauth/token-store.ts';
import { AccessTokenSource } from '../oauth/token-source.ts';
import { requestDeviceCode } from '../oauth/sign-in.ts';
import type { DeviceCodePrompt } from '../oauth/sign-in.ts';
import { SignInService } from '../console/sign-in.ts';
import type { SignInRelay } from '../console/sign-in.ts';

export interface OAuthSetup {
  readonly client: OAuthClient;
  readonly tokens: AccessTokenSource;
  /** SHA-256 of the SMARTHOST_OAUTH_REFRESH_TOKEN that the stored grant descends from, or null. */
  readonly seedSha256: string | null;
  /** Connects token events to the relay's log once the relay runs. */
  attach(bus: EventBus): void;
}

function clientFrom(settings: Settings): OAuthClient {
  return oauthClientFrom(settings, process.env.SMARTHOST_OAUTH_CLIENT_SECRET || null);
}

/**
 * Returns the token source for `authMethod: 'xoauth2'`, or null for
 * password sign-in. With `signIn`, first runs the device sign-in and
 * stores its grant, printing the user code with `print`.
 */
export async function setUpOAuth(
  settings: Settings,
  dataDir: string,
  options: { readonly signIn: boolean; readonly print: (line: string) => void },
): Promise<OAuthSetup | null> {
  if (settings.authMethod !== 'xoauth2') return null;

  const client = clientFrom(settings);
  const store = FileTokenStore.inDataDir(dataDir);
  const seed = process.env.SMARTHOST_OAUTH_REFRESH_TOKEN || null;
  const stored = await store.load();
  const choice = chooseRefreshToken(client, stored, seed);
  let seedSha = choice.source === 'environment' && seed ? sha256Hex(seed) : (stored?.seedSha256 ?? null);
  if (choice.source === 'environment' && seed) await store.save(grantFor(client, seed, seedSha));

  let refreshToken = choice.refreshToken;
  let accessToken;
  if (options.signIn) {
    const result = await runDeviceSignIn(client, options.print);
    seedSha = null;
    await store.save(grantFor(client, result.refreshToken, seedSha));
    refreshToken = result.refreshToken;
    accessToken = result.accessToken;
  } else if (refreshToken === null) {
    options.print(
      'No OAuth2 sign-in is stored for the smart host yet; mail is held until one exists. ' +
        'Run serve once with --oauth-sign-in, or set SMARTHOST_OAUTH_REFRESH_TOKEN.',
    );
  }

  let bus: EventBus | null = null;
  const tokens = new AccessTokenSource({
    client,
    refreshToken,
    accessToken,
    storeRefreshToken: saveRotatedTokensTo(store, client, seedSha),
    onEvent: (event) => bus?.emit(event.event, tokenEventFields(event)),
  });
  return {
    client,
    tokens,
    seedSha256: seedSha,
    attach: (target) => {
      bus = target;
    },
  };
}

/**
 * Returns the sign-in of the web console's setup screen. It saves to the
 * same token file as --oauth-sign-in, and starts from serve's token source
 * when there is one.
 */
export function createConsoleSignIn(relay: SignInRelay, dataDir: string, oauth: OAuthSetup | null): SignInService {
  const signIn = new SignInService({
    store: FileTokenStore.inDataDir(dataDir),
    clientSecret: process.env.SMARTHOST_OAUTH_CLIENT_SECRET || null,
    seedSha256: oauth?.seedSha256 ?? null,
  });
  if (oauth) signIn.adopt(oauth.client, oauth.tokens);
  signIn.attach(relay);
  return signIn;
}

async function runDeviceSignIn(client: OAuthClient, print: (line: string) => void) {
  const signIn = await requestDeviceCode({ client });
  print(describePrompt(signIn.prompt));
  const result = await signIn.complete();
  print('Signed in. The sign-in is stored in the data dir (oauth-token.json, readable only by its owner).');
  return result;
}

/**
 * Returns the sign-in instruction. The provider's own sentence (`message`
 * is Microsoft's addition to RFC 8628 section 3.2) is used only when it
 * names both the page and the code, because the user needs both.
 */
function describePrompt(prompt: DeviceCodePrompt): string {
  const message = prompt.message;
  if (message && message.includes(prompt.verificationUri) && message.includes(prompt.userCode)) return message;
  const minutes = Math.max(1, Math.round((prompt.expiresAt - Date.now()) / 60_000));
  return `To sign in, open ${prompt.verificationUri} and enter the code ${prompt.userCode} within ${minutes} minutes.`;
}
