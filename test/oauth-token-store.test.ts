import fsp from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { OAuthError } from '../core/oauth/errors.ts';
import { resolveOAuthClient } from '../core/oauth/providers.ts';
import {
  FileTokenStore,
  SecretTokenStore,
  TOKEN_FILE_NAME,
  chooseRefreshToken,
  grantFor,
  saveRotatedTokensTo,
  sha256Hex,
} from '../core/oauth/token-store.ts';
import type { SecretStore, StoredGrant } from '../core/oauth/token-store.ts';
import { useTempDirs } from './support/tmp.ts';

const createTempDir = useTempDirs();

const client = resolveOAuthClient({ provider: 'microsoft', clientId: '00001111-aaaa-2222-bbbb-3333cccc4444' });
const SAVED_AT = new Date(Date.UTC(2026, 11, 4, 9, 0, 0));
const isWindows = process.platform === 'win32';

async function rejectionOf(promise: Promise<unknown>): Promise<OAuthError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(OAuthError);
  return error as OAuthError;
}

async function newStore(): Promise<FileTokenStore> {
  return FileTokenStore.inDataDir(await createTempDir('oauth-store'));
}

describe('FileTokenStore', () => {
  it('saves a grant readable only by its owner', async () => {
    const store = await newStore();
    const grant = grantFor(client, 'rt-1', null, SAVED_AT);

    await store.save(grant);

    expect(path.basename(store.filePath)).toBe(TOKEN_FILE_NAME);
    expect(await store.load()).toEqual(grant);
    if (!isWindows) {
      const stat = await fsp.stat(store.filePath);
      expect((stat.mode & 0o777).toString(8)).toBe('600');
    }
    expect(await fsp.readdir(path.dirname(store.filePath))).toEqual([TOKEN_FILE_NAME]);
  });

  it('replaces the grant atomically', async () => {
    const store = await newStore();
    await store.save(grantFor(client, 'rt-1', null, SAVED_AT));

    await store.save(grantFor(client, 'rt-2', null, SAVED_AT));

    expect((await store.load())?.refreshToken).toBe('rt-2');
    expect(await fsp.readdir(path.dirname(store.filePath))).toEqual([TOKEN_FILE_NAME]);
  });

  it('creates a missing data directory', async () => {
    const store = new FileTokenStore(path.join(await createTempDir('oauth-store'), 'new', TOKEN_FILE_NAME));

    await store.save(grantFor(client, 'rt-1', null, SAVED_AT));

    expect((await store.load())?.refreshToken).toBe('rt-1');
  });

  it('returns null when no grant is stored', async () => {
    const store = await newStore();

    expect(await store.load()).toBeNull();
  });

  it.skipIf(isWindows)('rejects a file others can read', async () => {
    const store = await newStore();
    await store.save(grantFor(client, 'rt-1', null, SAVED_AT));
    await fsp.chmod(store.filePath, 0o644);

    const error = await rejectionOf(store.load());

    expect(error.code).toBe('EOAUTH_TOKEN_FILE_INSECURE');
    expect(error.message).toContain('mode 644');
    expect(error.message).toContain('chmod 600');
    expect(error.message).not.toContain('rt-1');
  });

  it.skipIf(isWindows)('rejects a symbolic link', async () => {
    const store = await newStore();
    const target = path.join(path.dirname(store.filePath), 'elsewhere.json');
    await fsp.writeFile(target, JSON.stringify(grantFor(client, 'rt-1', null, SAVED_AT)), { mode: 0o600 });
    await fsp.symlink(target, store.filePath);

    const error = await rejectionOf(store.load());

    expect(error.code).toBe('EOAUTH_TOKEN_FILE_INSECURE');
    expect(error.message).toContain('symbolic link');
  });

  it('rejects a file that is not a grant', async () => {
    const store = await newStore();
    const cases: Array<[string, string]> = [
      ['{not json', 'not valid JSON'],
      ['[]', 'version is undefined'],
      [JSON.stringify({ ...grantFor(client, 'rt-1'), version: 2 }), 'version is 2'],
      [JSON.stringify({ ...grantFor(client, 'rt-1'), provider: 'yahoo' }), 'provider is "yahoo"'],
      [JSON.stringify({ ...grantFor(client, 'rt-1'), refreshToken: '' }), 'refreshToken is missing'],
      [JSON.stringify({ ...grantFor(client, 'rt-1'), seedSha256: 5 }), 'seedSha256'],
    ];

    for (const [content, reason] of cases) {
      await fsp.writeFile(store.filePath, content, { mode: 0o600 });
      const error = await rejectionOf(store.load());
      expect(error.code).toBe('EOAUTH_TOKEN_FILE_INVALID');
      expect(error.message).toContain(reason);
    }
  });

  it('clears the grant', async () => {
    const store = await newStore();
    await store.save(grantFor(client, 'rt-1', null, SAVED_AT));

    await store.clear();
    await store.clear();

    expect(await store.load()).toBeNull();
  });

  it('saves rotated tokens with the seed hash', async () => {
    const store = await newStore();
    const save = saveRotatedTokensTo(store, client, sha256Hex('rt-seed'));

    await save('rt-rotated');

    expect(await store.load()).toMatchObject({ refreshToken: 'rt-rotated', seedSha256: sha256Hex('rt-seed') });
  });
});

describe('SecretTokenStore', () => {
  it('keeps the grant in the secret store', async () => {
    const secrets = new Map<string, string>();
    const secretStore: SecretStore = {
      get: async (name) => secrets.get(name) ?? null,
      set: async (name, value) => {
        secrets.set(name, value);
      },
      delete: async (name) => {
        secrets.delete(name);
      },
    };
    const store = new SecretTokenStore(secretStore);
    const grant = grantFor(client, 'rt-1', null, SAVED_AT);

    expect(await store.load()).toBeNull();
    await store.save(grant);
    expect([...secrets.keys()]).toEqual(['oauth-grant']);
    expect(await store.load()).toEqual(grant);
    await store.clear();
    expect(await store.load()).toBeNull();
  });
});

describe('chooseRefreshToken', () => {
  const stored = (overrides: Partial<StoredGrant> = {}): StoredGrant => ({
    ...grantFor(client, 'rt-stored', null, SAVED_AT),
    ...overrides,
  });

  it('picks the token by source', () => {
    const cases: Array<[string, StoredGrant | null, string | null, string | null, string, boolean]> = [
      ['nothing', null, null, null, 'none', false],
      ['stored only', stored(), null, 'rt-stored', 'stored', false],
      ['environment only', null, 'rt-env', 'rt-env', 'environment', false],
      ['new environment token', stored({ seedSha256: sha256Hex('rt-old') }), 'rt-env', 'rt-env', 'environment', false],
      ['sign-in after seeding', stored(), 'rt-env', 'rt-env', 'environment', false],
      ['rotated from this seed', stored({ seedSha256: sha256Hex('rt-env') }), 'rt-env', 'rt-stored', 'stored', false],
      ['other client', stored({ clientId: 'other' }), null, null, 'none', true],
      ['other client with seed', stored({ clientId: 'other' }), 'rt-env', 'rt-env', 'environment', true],
      ['other token URL', stored({ tokenUrl: 'https://example.com/token' }), null, null, 'none', true],
    ];

    for (const [name, grant, seed, refreshToken, source, other] of cases) {
      expect(chooseRefreshToken(client, grant, seed), name).toEqual({
        refreshToken,
        source,
        storedForOtherClient: other,
      });
    }
  });
});
