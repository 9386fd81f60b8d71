import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_TRACKS } from '@mixtape/core';
import { MixtapeClient, ProblemError, type FetchLike, type JobProgress, type JobStatus, type TokenPair } from '../src/index.js';
import { startTestServer, type TestServer } from '../../server/test/support/test-server.js';
import { startSlowOrigin, type SlowOrigin } from './support/slow-origin.js';

const PASSWORD = 'a long enough password';
const [LANTERNS, SALT] = DEMO_TRACKS as [(typeof DEMO_TRACKS)[number], (typeof DEMO_TRACKS)[number]];

let server: TestServer;
let origin: SlowOrigin;

beforeAll(async () => {
  // The slow origin makes a download of LANTERNS last about a second, so its progress can be followed.
  origin = await startSlowOrigin({ slow: [LANTERNS.id] });
  // The demo catalog for search, its audio from the origin stand-in.
  server = await startTestServer({ MIXTAPE_SOURCE_URL: origin.urlTemplate, MIXTAPE_DEMO: 'on', MIXTAPE_RATE_LIMITS: 'register=100/1h' });
});

afterAll(async () => {
  await server?.stop();
  await origin?.close();
});

/** A client whose every request and token change is recorded, talking to the real server. */
function recordedClient(baseUrl = server.url) {
  const requests: string[] = [];
  const tokenChanges: Array<TokenPair | null> = [];
  const fetchAndRecord: FetchLike = (input, init) => {
    requests.push(`${init.method ?? 'GET'} ${new URL(input).pathname}`);
    return fetch(input, init);
  };
  const client = new MixtapeClient({ baseUrl, fetch: fetchAndRecord, onTokens: (tokens) => tokenChanges.push(tokens) });
  return { client, requests, tokenChanges };
}

async function signedIn(baseUrl = server.url) {
  const recorded = recordedClient(baseUrl);
  const username = `client${randomBytes(4).toString('hex')}`;
  await recorded.client.register(username, PASSWORD);
  const tokens = await recorded.client.login(username, PASSWORD);
  recorded.requests.length = 0;
  recorded.tokenChanges.length = 0;
  return { ...recorded, username, tokens };
}

async function problemOf(promise: Promise<unknown>): Promise<ProblemError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ProblemError);
  return error as ProblemError;
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe('accounts', () => {
  it('registers, logs in and reads the account', async () => {
    const { client, tokenChanges } = recordedClient(`${server.url}/`);
    const username = `client${randomBytes(4).toString('hex')}`;

    const registered = await client.register(username, PASSWORD);
    expect(registered).toEqual({ id: expect.any(String), username });
    expect(client.tokens).toBeNull();

    const tokens = await client.login(username, PASSWORD);
    expect(tokens).toEqual({ accessToken: expect.any(String), refreshToken: expect.any(String), tokenType: 'Bearer', expiresIn: 900 });
    expect(client.tokens).toEqual(tokens);
    expect(tokenChanges).toEqual([tokens]);

    const me = await client.me();
    expect(me).toEqual({ id: registered.id, username, roles: ['user'], quota: { usedBytes: 0, limitBytes: 1_073_741_824 } });
  });

  it('reports a taken username as a conflict and bad credentials as unauthorized, without refreshing', async () => {
    const { client, username } = await signedIn();
    const taken = await problemOf(client.register(username, PASSWORD));
    expect([taken.status, taken.kind]).toEqual([409, 'conflict']);

    const { client: stranger, requests } = recordedClient();
    const denied = await problemOf(stranger.login(username, 'not the right password'));
    expect([denied.status, denied.kind]).toEqual([401, 'unauthorized']);
    expect(requests).toEqual(['POST /api/v1/auth/login']);
    expect(stranger.tokens).toBeNull();
  });

  it('reports an invalid registration with the fields at fault', async () => {
    const { client } = recordedClient();
    const invalid = await problemOf(client.register('x', 'short'));
    expect([invalid.status, invalid.kind]).toEqual([400, 'validation']);
    expect(invalid.errors.map((e) => e.path).sort()).toEqual(['password', 'username']);
  });
});

describe('search', () => {
  it('searches the demo catalog, with limit and offset', async () => {
    const { client } = await signedIn();
    const all = await client.searchTracks({ q: 'Paper Moons' });
    expect(all.degraded).toBe(false);
    expect(all.total).toBe(3);
    expect(all.items.map((t) => t.title).sort()).toEqual(['Lanterns Over Lisbon', 'Northbound Freight', 'Salt & Static']);
    expect(all.items.every((t) => t.artists.includes('The Paper Moons') && t.album === 'Harbor Lights')).toBe(true);

    const second = await client.searchTracks({ q: 'Paper Moons', limit: 1, offset: 1 });
    expect(second.total).toBe(3);
    expect(second.items).toEqual([all.items[1]]);
  });

  it('turns a bad query into a validation problem naming q', async () => {
    const { client } = await signedIn();
    const problem = await problemOf(client.searchTracks({ q: 'x'.repeat(201) }));
    expect([problem.status, problem.kind]).toEqual([400, 'validation']);
    expect(problem.errors.map((e) => e.path)).toEqual(['q']);
  });
});

describe('downloads and the library', () => {
  let client: MixtapeClient;
  let file: Buffer;
  let etag: string;

  beforeAll(async () => {
    ({ client } = await signedIn());
  });

  it('requests a download by link and follows it to completion', async () => {
    const job = await client.requestDownload(`https://open.spotify.com/track/${LANTERNS.id}?si=0123456789abcdef`);
    expect(job).toMatchObject({ trackId: LANTERNS.id, status: 'queued', attempts: 0 });

    const progress: JobProgress[] = [];
    const statuses: JobStatus[] = [];
    const final = await client.followDownload(job.id, { onProgress: (p) => progress.push(p), onStatus: (s) => statuses.push(s) });

    const audio = await origin.audioOf(LANTERNS.id);
    expect(final).toMatchObject({ id: job.id, trackId: LANTERNS.id, status: 'completed', attempts: 1 });
    expect(final.error).toBeUndefined();
    expect(statuses).toContain('running');
    expect(statuses.at(-1)).toBe('completed');
    expect(statuses.filter((s) => s === 'completed')).toHaveLength(1);
    expect(progress.length).toBeGreaterThan(0);
    for (const [i, p] of progress.entries()) {
      expect(p.totalBytes).toBe(audio.length);
      expect(p.bytes).toBeGreaterThan(0);
      expect(p.bytes).toBeLessThanOrEqual(audio.length);
      if (i > 0) expect(p.bytes).toBeGreaterThanOrEqual(progress[i - 1]?.bytes ?? 0);
    }
  });

  it('answers at once, with the job, when following a finished download', async () => {
    const [job] = (await client.listDownloads({ status: 'completed' })).items;
    expect(job?.trackId).toBe(LANTERNS.id);
    const statuses: JobStatus[] = [];
    const final = await client.followDownload(job?.id ?? '', { onStatus: (s) => statuses.push(s) });
    expect(statuses).toEqual(['completed']);
    expect(final).toEqual(job);
  });

  it('lists the library and the quota it uses', async () => {
    const audio = await origin.audioOf(LANTERNS.id);
    const library = await client.library();
    expect(library.total).toBe(1);
    expect(library.items).toEqual([
      {
        track: expect.objectContaining({ id: LANTERNS.id, title: LANTERNS.title, available: true, sizeBytes: audio.length }),
        addedAt: expect.any(String),
        sizeBytes: audio.length,
      },
    ]);
    expect((await client.me()).quota.usedBytes).toBe(audio.length);
  });

  it('downloads the whole file, byte for byte what the origin sent', async () => {
    const response = await client.downloadFile(LANTERNS.id);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('audio/wav');
    expect(response.headers.get('content-disposition')).toMatch(/^attachment; filename="[^"/\\]+\.wav"/);
    file = Buffer.from(await response.arrayBuffer());
    expect(sha256(file)).toBe(sha256(await origin.audioOf(LANTERNS.id)));
    etag = response.headers.get('etag') ?? '';
    expect(etag).toBe(`"${sha256(file)}"`);
  });

  it('downloads a range: 206 with exactly the bytes of that slice', async () => {
    const response = await client.downloadFile(LANTERNS.id, { range: { start: 1000, end: 5095 } });
    expect(response.status).toBe(206);
    expect(response.headers.get('content-range')).toBe(`bytes 1000-5095/${file.length}`);
    const slice = Buffer.from(await response.arrayBuffer());
    expect(slice.length).toBe(4096);
    expect(slice.equals(file.subarray(1000, 5096))).toBe(true);

    const tail = await client.downloadFile(LANTERNS.id, { range: { start: file.length - 100 } });
    expect(tail.status).toBe(206);
    expect(Buffer.from(await tail.arrayBuffer()).equals(file.subarray(file.length - 100))).toBe(true);
  });

  it('refuses a range past the end with a 416 problem', async () => {
    const problem = await problemOf(client.downloadFile(LANTERNS.id, { range: { start: file.length + 10 } }));
    expect(problem.status).toBe(416);
  });

  it('answers 304 with no body when the ETag still matches', async () => {
    const unchanged = await client.downloadFile(LANTERNS.id, { ifNoneMatch: etag });
    expect(unchanged.status).toBe(304);
    expect((await unchanged.arrayBuffer()).byteLength).toBe(0);

    const changed = await client.downloadFile(LANTERNS.id, { ifNoneMatch: '"something-else"' });
    expect(changed.status).toBe(200);
    expect(Buffer.from(await changed.arrayBuffer()).equals(file)).toBe(true);
  });

  it('removes a track from the library, after which its file is not found', async () => {
    await client.removeFromLibrary(LANTERNS.id);
    expect(await client.library()).toEqual({ items: [], total: 0 });
    expect((await client.me()).quota.usedBytes).toBe(0);

    const gone = await problemOf(client.downloadFile(LANTERNS.id));
    expect([gone.status, gone.kind]).toEqual([404, 'not-found']);
    const again = await problemOf(client.removeFromLibrary(LANTERNS.id));
    expect([again.status, again.kind]).toEqual([404, 'not-found']);
  });

  it('turns a bad track reference into a validation problem naming track', async () => {
    const problem = await problemOf(client.requestDownload('https://open.spotify.com/album/7jSH9JYK1C6JnVXnrZgTGS'));
    expect(problem).toMatchObject({ status: 400, kind: 'validation' });
    expect(problem.type).toMatch(/\/validation$/);
    expect(problem.errors.map((e) => e.path)).toEqual(['track']);
    expect(problem.errors[0]?.message).toMatch(/album, not a track/);
  });

  it('reports an unknown job and an unknown track as not found', async () => {
    const job = await problemOf(client.getDownload('9b2f7a52-1f0e-4c61-9a3e-2b7d0c5e8f14'));
    expect([job.status, job.kind]).toEqual([404, 'not-found']);
    const track = await problemOf(client.getTrack('0000000000000000000000'));
    expect([track.status, track.kind]).toEqual([404, 'not-found']);
  });
});

describe('sessions', () => {
  it('refreshes once after a 401, retries, and reports the new pair', async () => {
    const { client, tokens, requests, tokenChanges } = await signedIn();
    client.setTokens({ ...tokens, accessToken: 'garbage' });
    tokenChanges.length = 0;

    const me = await client.me();
    expect(me.quota.usedBytes).toBe(0);
    expect(requests).toEqual(['GET /api/v1/me', 'POST /api/v1/auth/refresh', 'GET /api/v1/me']);
    expect(tokenChanges).toHaveLength(1);
    const renewed = tokenChanges[0];
    expect(renewed).toEqual({ accessToken: expect.any(String), refreshToken: expect.any(String), tokenType: 'Bearer', expiresIn: 900 });
    expect(renewed?.accessToken).not.toBe('garbage');
    expect(renewed?.refreshToken).not.toBe(tokens.refreshToken);
    expect(client.tokens).toEqual(renewed);
  });

  it('shares one refresh among concurrent calls that all met a 401', async () => {
    const { client, tokens, requests, tokenChanges } = await signedIn();
    client.setTokens({ ...tokens, accessToken: 'garbage' });
    tokenChanges.length = 0;

    const [me, library, found] = await Promise.all([client.me(), client.library(), client.searchTracks({ q: 'Mira Sol' })]);
    expect(me.username).toMatch(/^client/);
    expect(library.total).toBe(0);
    expect(found.total).toBe(3);
    // A second refresh would spend a spent token and revoke the whole session.
    expect(requests.filter((r) => r === 'POST /api/v1/auth/refresh')).toHaveLength(1);
    expect(tokenChanges).toHaveLength(1);
    expect((await client.me()).username).toBe(me.username);
  });

  it('after logout, the old tokens no longer work and the client forgets them', async () => {
    const { client, tokens, tokenChanges } = await signedIn();
    await client.logout();
    expect(client.tokens).toBeNull();
    expect(tokenChanges).toEqual([null]);

    const anonymous = await problemOf(client.me());
    expect([anonymous.status, anonymous.kind]).toEqual([401, 'unauthorized']);

    // The revoked access token fails, and so does the refresh it triggers: the caller gets the 401.
    client.setTokens(tokens);
    const revoked = await problemOf(client.me());
    expect([revoked.status, revoked.kind]).toEqual([401, 'unauthorized']);
    expect(client.tokens).toBeNull();
  });

  it('logs out with a stale access token by refreshing first and revoking the new pair', async () => {
    const { client, tokens, requests, tokenChanges } = await signedIn();
    client.setTokens({ ...tokens, accessToken: 'garbage' });
    tokenChanges.length = 0;

    await client.logout();
    expect(requests).toEqual(['POST /api/v1/auth/logout', 'POST /api/v1/auth/refresh', 'POST /api/v1/auth/logout']);
    expect(tokenChanges).toEqual([expect.objectContaining({ tokenType: 'Bearer' }), null]);

    const renewed = tokenChanges[0] as TokenPair;
    const { client: replay } = recordedClient();
    replay.setTokens(renewed);
    const revoked = await problemOf(replay.me());
    expect(revoked.status).toBe(401);
    expect(replay.tokens).toBeNull();
  });
});

describe('rate limits', () => {
  let limited: TestServer;

  beforeAll(async () => {
    limited = await startTestServer({ MIXTAPE_RATE_LIMITS: 'search=1/1m' });
  });

  afterAll(async () => {
    await limited?.stop();
  });

  it('turns a 429 into a rate-limited problem with Retry-After in milliseconds', async () => {
    const { client, requests } = await signedIn(limited.url);
    expect((await client.searchTracks({ q: 'Kilo Heron' })).total).toBe(3);

    const problem = await problemOf(client.searchTracks({ q: 'Kilo Heron' }));
    expect([problem.status, problem.kind]).toEqual([429, 'rate-limited']);
    expect(problem.retryAfterMs).toBeGreaterThan(0);
    expect(problem.retryAfterMs).toBeLessThanOrEqual(60_000);
    expect(problem.retryAfterMs! % 1000).toBe(0);
    expect(requests.filter((r) => r === 'POST /api/v1/auth/refresh')).toHaveLength(0);
  });
});

// A second demo track stays untouched by the tests above, so this checks quota on a clean slate.
describe('quota', () => {
  it('counts a downloaded track against the quota of its owner only', async () => {
    const owner = await signedIn();
    const other = await signedIn();
    const job = await owner.client.requestDownload(`spotify:track:${SALT.id}`);
    const final = await owner.client.followDownload(job.id);
    expect(final.status).toBe('completed');
    const audio = await origin.audioOf(SALT.id);
    expect((await owner.client.me()).quota.usedBytes).toBe(audio.length);
    expect((await other.client.me()).quota.usedBytes).toBe(0);
    const stranger = await problemOf(other.client.getDownload(job.id));
    expect(stranger.status).toBe(404);
  });
});
