import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ConfigError,
  createMixtape,
  DEFAULT_MIXTAPE_VALIDATORS as defaults,
  DEMO_TRACKS,
  JwtKeyring,
  PasswordHasher,
  ValidationError,
  type Mixtape,
  type MixtapeValidators,
} from '../../src/index.js';
import { openSqliteBackends } from '../../src/sqlite.js';

/**
 * The validators reach every service through the settings: core checks what callers send with
 * the same rules the server's schemas and document are built from, and an embedder that sets
 * other rules gets them everywhere, without Express.
 */

const TRACK = DEMO_TRACKS[0]!.id;

let dataDir: string | undefined;
let mixtape: Mixtape | undefined;

async function open(validators?: Partial<MixtapeValidators>): Promise<Mixtape> {
  dataDir = mkdtempSync(join(tmpdir(), 'mixtape-validators-'));
  const backends = await openSqliteBackends({ dataDir });
  try {
    mixtape = createMixtape(backends, {
      keyring: JwtKeyring.ephemeral(),
      hasher: new PasswordHasher({ N: 1024, r: 8, p: 1 }),
      quotaBytes: 10 * 1024 ** 2,
      maxTrackBytes: 5 * 1024 ** 2,
      maxAttempts: 3,
      retryBaseMs: 40,
      jobLeaseMs: 30_000,
      workers: 0,
      ...(validators ? { validators } : {}),
    });
  } catch (error) {
    await backends.close();
    throw error;
  }
  return mixtape;
}

afterEach(async () => {
  await mixtape?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  mixtape = undefined;
  dataDir = undefined;
});

/** The fields a refusal names, or `accepted`. */
async function fieldsRefused(work: Promise<unknown>): Promise<string[] | 'accepted'> {
  try {
    await work;
    return 'accepted';
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    return error.errors.map((e) => e.path);
  }
}

describe('validators in the services', () => {
  it('are the contract defaults when the settings give none', async () => {
    const services = await open();
    expect(services.validators).toEqual(defaults);
    const user = await services.auth.register('alice', 'a long enough password');
    expect(await fieldsRefused(services.auth.register('al', 'a long enough password'))).toEqual(['username']);
    expect(await fieldsRefused(services.search.search('love'))).toBe('accepted');
    expect(await fieldsRefused(services.search.search('love', { limit: 51 }))).toEqual(['limit']);
    expect(await fieldsRefused(services.downloads.list(user.id, { offset: 1001 }))).toEqual(['offset']);
    expect(await fieldsRefused(services.library.list(user.id, { limit: 0 }))).toEqual(['limit']);
    expect(await fieldsRefused(services.downloads.request(user.id, `spotify:album:${TRACK}`))).toEqual(['track']);
  });

  it('given in the settings, replace the defaults in every service', async () => {
    const services = await open({
      username: { ...defaults.username, minLength: 5 },
      password: { ...defaults.password, minLength: 16 },
      searchQuery: { ...defaults.searchQuery, maxLength: 10 },
      searchPage: { ...defaults.searchPage, limit: { kind: 'integer', minimum: 1, maximum: 5, default: 2 } },
      downloadPage: { ...defaults.downloadPage, limit: { kind: 'integer', minimum: 1, maximum: 3, default: 3 } },
      libraryPage: { ...defaults.libraryPage, offset: { kind: 'integer', minimum: 0, maximum: 10, default: 0 } },
      trackRef: { ...defaults.trackRef, pattern: '^[0-9A-Za-z]{22}$', patternMessage: 'must be a bare track id' },
    });
    expect(await fieldsRefused(services.auth.register('abcd', 'a long enough password'))).toEqual(['username']);
    expect(await fieldsRefused(services.auth.register('abcde', 'fifteen chars!!'))).toEqual(['password']);
    const user = await services.auth.register('abcde', 'sixteen chars!!!');

    expect(await fieldsRefused(services.search.search('q'.repeat(11)))).toEqual(['q']);
    expect(await fieldsRefused(services.search.search('love', { limit: 6 }))).toEqual(['limit']);
    expect(await fieldsRefused(services.search.search('love', { limit: 5 }))).toBe('accepted');
    expect(await fieldsRefused(services.downloads.list(user.id, { limit: 4 }))).toEqual(['limit']);
    expect(await fieldsRefused(services.library.list(user.id, { offset: 11 }))).toEqual(['offset']);
    expect(await fieldsRefused(services.downloads.request(user.id, `spotify:track:${TRACK}`))).toEqual(['track']);
    await expect(services.downloads.request(user.id, TRACK)).resolves.toMatchObject({ trackId: TRACK, status: 'queued' });
  });

  it('that cannot hold stop createMixtape with a configuration error', async () => {
    await expect(open({ password: { ...defaults.password, minLength: 200 } })).rejects.toBeInstanceOf(ConfigError);
  });
});
