/**
 * Storage for the OAuth2 refresh token (the "grant") between runs.
 *
 * Headless: FileTokenStore keeps `<data-dir>/oauth-token.json`, mode 0600.
 * A save writes a temporary file (created 0600), fsyncs it, renames it
 * over the old file and fsyncs the directory, so a crash leaves either
 * the old or the new grant and never half of one. A load refuses a file
 * that is a symbolic link, is not a regular file, belongs to another user
 * or can be read by group or others: the token is as good as a password.
 *
 * Desktop: SecretTokenStore keeps the same record in a SecretStore, which
 * the Electron main process implements with safeStorage. core/ never
 * imports Electron, so only the interface is here.
 *
 * File format (JSON, one object): version (1), provider, clientId,
 * tokenUrl, refreshToken, seedSha256 (SHA-256 hex of the
 * SMARTHOST_OAUTH_REFRESH_TOKEN value the grant started from, or null),
 * savedAt (ISO 8601).
 *
 * Throws OAuthError EOAUTH_TOKEN_FILE_INSECURE or EOAUTH_TOKEN_FILE_INVALID
 * from load(); save() and clear() pass file system errors through.
 *
 * NOTE: on Windows the mode and owner checks are skipped, because Node
 * reports no POSIX permissions there. The data directory's ACL, inherited
 * from the user profile, is what protects the file.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { OAuthError } from './errors.ts';
import type { OAuthClient, OAuthProviderName } from './providers.ts';
import { OAUTH_PROVIDER_NAMES } from './providers.ts';

export const TOKEN_FILE_NAME = 'oauth-token.json';

/** Name under which SecretTokenStore keeps the grant. */
export const GRANT_SECRET_NAME = 'oauth-grant';

/** A refresh token and the client it belongs to. */
export interface StoredGrant {
  readonly version: 1;
  readonly provider: OAuthProviderName;
  readonly clientId: string;
  readonly tokenUrl: string;
  readonly refreshToken: string;
  /** SHA-256 hex of the environment's refresh token this grant started from, or null after a sign-in. */
  readonly seedSha256: string | null;
  /** ISO 8601 time of the save. */
  readonly savedAt: string;
}

export interface RefreshTokenStore {
  /** Returns the stored grant, or null when none is stored. */
  load(): Promise<StoredGrant | null>;
  save(grant: StoredGrant): Promise<void>;
  /** Removes the stored grant (sign-out); no error when none is stored. */
  clear(): Promise<void>;
}

/**
 * Secret storage that the desktop app provides, for example with
 * Electron's safeStorage.encryptString() and the ciphertext kept in the
 * app's settings file. Values are plain strings here; encrypting them is
 * the implementation's job.
 */
export interface SecretStore {
  /** Returns the secret stored under `name`, or null. */
  get(name: string): Promise<string | null>;
  set(name: string, value: string): Promise<void>;
  /** Removes the secret; no error when it does not exist. */
  delete(name: string): Promise<void>;
}

/** Builds the grant record for a refresh token of `client`. */
export function grantFor(
  client: OAuthClient,
  refreshToken: string,
  seedSha256: string | null = null,
  now: Date = new Date(),
): StoredGrant {
  return {
    version: 1,
    provider: client.provider,
    clientId: client.clientId,
    tokenUrl: client.tokenUrl,
    refreshToken,
    seedSha256,
    savedAt: now.toISOString(),
  };
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

export interface RefreshTokenChoice {
  readonly refreshToken: string | null;
  /** 'environment': the seed is new and should be saved, so rotations follow from it. */
  readonly source: 'stored' | 'environment' | 'none';
  /** True when a stored grant exists but belongs to another client or token URL. */
  readonly storedForOtherClient: boolean;
}

/**
 * Chooses between the stored grant and the environment's refresh token
 * (`seed`, from SMARTHOST_OAUTH_REFRESH_TOKEN). The stored grant wins
 * while it descends from the same seed, because it contains any rotated
 * token. A seed the store has not seen wins, so an administrator can
 * replace a revoked token by changing the variable.
 */
export function chooseRefreshToken(
  client: OAuthClient,
  stored: StoredGrant | null,
  seed: string | null,
): RefreshTokenChoice {
  const matching =
    stored !== null &&
    stored.provider === client.provider &&
    stored.clientId === client.clientId &&
    stored.tokenUrl === client.tokenUrl;
  const storedForOtherClient = stored !== null && !matching;

  if (seed !== null && seed !== '' && (!matching || stored.seedSha256 !== sha256Hex(seed))) {
    return { refreshToken: seed, source: 'environment', storedForOtherClient };
  }
  if (matching) {
    return { refreshToken: stored.refreshToken, source: 'stored', storedForOtherClient };
  }
  return { refreshToken: null, source: 'none', storedForOtherClient };
}

/**
 * Returns a `storeRefreshToken` callback for AccessTokenSource that saves
 * each rotated refresh token of `client` to `store`, keeping the seed hash.
 */
export function saveRotatedTokensTo(
  store: RefreshTokenStore,
  client: OAuthClient,
  seedSha256: string | null,
): (refreshToken: string) => Promise<void> {
  return (refreshToken) => store.save(grantFor(client, refreshToken, seedSha256));
}

export class FileTokenStore implements RefreshTokenStore {
  readonly filePath: string;

  constructor(filePath: string) {
    this.filePath = filePath;
  }

  static inDataDir(dataDir: string): FileTokenStore {
    return new FileTokenStore(path.join(dataDir, TOKEN_FILE_NAME));
  }

  async load(): Promise<StoredGrant | null> {
    let handle: fsp.FileHandle;
    try {
      // O_NOFOLLOW: a symbolic link planted in place of the file fails
      // with ELOOP instead of being followed. Windows has no such flag.
      handle = await fsp.open(this.filePath, fsConstants.O_RDONLY | (fsConstants.O_NOFOLLOW ?? 0));
    } catch (error) {
      return this.#openFailed(error);
    }

    try {
      await this.#checkPrivate(handle);
      const text = await handle.readFile('utf8');
      return parseGrant(text, this.filePath);
    } finally {
      await handle.close();
    }
  }

  async save(grant: StoredGrant): Promise<void> {
    const directory = path.dirname(this.filePath);
    await fsp.mkdir(directory, { recursive: true, mode: 0o700 });

    const temporary = `${this.filePath}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      const handle = await fsp.open(temporary, 'wx', 0o600);
      try {
        await handle.writeFile(`${JSON.stringify(grant, null, 2)}\n`, 'utf8');
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fsp.rename(temporary, this.filePath);
    } catch (error) {
      await fsp.rm(temporary, { force: true });
      throw error;
    }

    await syncDirectory(directory);
  }

  async clear(): Promise<void> {
    await fsp.rm(this.filePath, { force: true });
    await syncDirectory(path.dirname(this.filePath));
  }

  #openFailed(error: unknown): null {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      return null;
    }
    if (code === 'ELOOP') {
      throw new OAuthError(
        'EOAUTH_TOKEN_FILE_INSECURE',
        `${this.filePath} is a symbolic link; the OAuth2 token file must be a regular file. Remove it and sign in again.`,
        { cause: error },
      );
    }
    throw error;
  }

  async #checkPrivate(handle: fsp.FileHandle): Promise<void> {
    const stat = await handle.stat();
    if (!stat.isFile()) {
      throw new OAuthError('EOAUTH_TOKEN_FILE_INSECURE', `${this.filePath} is not a regular file.`);
    }
    if (process.platform === 'win32') {
      return;
    }

    const mode = stat.mode & 0o777;
    if ((mode & 0o077) !== 0) {
      throw new OAuthError(
        'EOAUTH_TOKEN_FILE_INSECURE',
        `${this.filePath} has mode ${mode.toString(8)}, so other users can read the OAuth2 refresh token. ` +
          `Run chmod 600 on it (and consider the token leaked: sign in again to replace it).`,
      );
    }
    const uid = process.getuid?.();
    if (uid !== undefined && stat.uid !== uid) {
      throw new OAuthError(
        'EOAUTH_TOKEN_FILE_INSECURE',
        `${this.filePath} belongs to user id ${stat.uid}, not to the relay's user id ${uid}.`,
      );
    }
  }
}

export class SecretTokenStore implements RefreshTokenStore {
  readonly #secrets: SecretStore;
  readonly #name: string;

  constructor(secrets: SecretStore, name: string = GRANT_SECRET_NAME) {
    this.#secrets = secrets;
    this.#name = name;
  }

  async load(): Promise<StoredGrant | null> {
    const text = await this.#secrets.get(this.#name);
    return text === null ? null : parseGrant(text, `secret "${this.#name}"`);
  }

  save(grant: StoredGrant): Promise<void> {
    return this.#secrets.set(this.#name, JSON.stringify(grant));
  }

  clear(): Promise<void> {
    return this.#secrets.delete(this.#name);
  }
}

function parseGrant(text: string, where: string): StoredGrant {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw invalidGrant(where, 'it is not valid JSON', error);
  }

  if (value === null || typeof value !== 'object') {
    throw invalidGrant(where, 'it is not a JSON object');
  }
  const record = value as Record<string, unknown>;
  if (record.version !== 1) {
    throw invalidGrant(where, `its version is ${JSON.stringify(record.version)}, expected 1`);
  }

  const provider = record.provider;
  if (typeof provider !== 'string' || !(OAUTH_PROVIDER_NAMES as readonly string[]).includes(provider)) {
    throw invalidGrant(where, `its provider is ${JSON.stringify(provider)}`);
  }
  for (const field of ['clientId', 'tokenUrl', 'refreshToken', 'savedAt'] as const) {
    if (typeof record[field] !== 'string' || record[field] === '') {
      throw invalidGrant(where, `the field ${field} is missing or empty`);
    }
  }
  if (record.seedSha256 !== null && typeof record.seedSha256 !== 'string') {
    throw invalidGrant(where, 'the field seedSha256 is neither a string nor null');
  }

  return {
    version: 1,
    provider: provider as OAuthProviderName,
    clientId: record.clientId as string,
    tokenUrl: record.tokenUrl as string,
    refreshToken: record.refreshToken as string,
    seedSha256: record.seedSha256 as string | null,
    savedAt: record.savedAt as string,
  };
}

function invalidGrant(where: string, reason: string, cause?: unknown): OAuthError {
  return new OAuthError(
    'EOAUTH_TOKEN_FILE_INVALID',
    `The stored OAuth2 grant in ${where} cannot be used because ${reason}. Sign in again to replace it.`,
    { cause },
  );
}

/** fsyncs a directory so a rename in it survives power loss. Windows cannot open directories for this. */
async function syncDirectory(directory: string): Promise<void> {
  if (process.platform === 'win32') {
    return;
  }
  const handle = await fsp.open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
