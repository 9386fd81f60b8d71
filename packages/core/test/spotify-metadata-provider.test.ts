import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UnavailableError } from '../src/errors.js';
import { LocalCallBudget } from '../src/metadata/local-call-budget.js';
import {
  SpotifyMetadataProvider,
  type SpotifyMetadataProviderOptions,
} from '../src/metadata/spotify-metadata-provider.js';
import {
  CLIENT_ID,
  CLIENT_SECRET,
  FakeSpotify,
  json,
  OTHER_ID,
  rateLimit,
  spotifyTrack,
  TRACK_ID,
  UNKNOWN_ID,
  type Responder,
} from './metadata/fake-spotify.js';
import { rejection } from './support/rejection.js';

describe('SpotifyMetadataProvider', () => {
  let spotify: FakeSpotify;
  let clock: number;

  beforeEach(async () => {
    spotify = new FakeSpotify();
    await spotify.start();
    clock = 1_700_000_000_000;
  });

  afterEach(async () => {
    await spotify.close();
  });

  function provider(options: Partial<SpotifyMetadataProviderOptions> = {}): SpotifyMetadataProvider {
    return new SpotifyMetadataProvider({
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      apiUrl: spotify.url,
      accountsUrl: `${spotify.url}/`,
      timeoutMs: 2000,
      ...options,
    });
  }

  it('maps Spotify track objects and reuses one token across calls', async () => {
    const spotifyProvider = provider();
    expect(spotifyProvider.name).toBe('spotify');
    const track = await spotifyProvider.getTrack(TRACK_ID);
    expect(track).toEqual({
      id: TRACK_ID,
      title: 'Hearts on Fire',
      artists: ['Cut Copy', 'Guest Star'],
      album: 'In Ghost Colours',
      durationMs: 207959,
      isrc: 'AUUM70800060',
    });
    expect((await spotifyProvider.getTrack(OTHER_ID))?.title).toBe('Lights and Music');
    expect((await spotifyProvider.getTrack(TRACK_ID))?.title).toBe('Hearts on Fire');
    expect(spotify.tokenRequests).toBe(1);
    expect(spotify.trackRequests).toBe(3);
  });

  it('omits isrc when Spotify has none', async () => {
    spotify.trackScript.push((_req, res) => json(res, 200, { ...spotifyTrack(TRACK_ID, 'No ISRC'), external_ids: {} }));
    const track = await provider().getTrack(TRACK_ID);
    expect(track?.title).toBe('No ISRC');
    expect(track).not.toHaveProperty('isrc');
  });

  it('shares one in-flight token request among concurrent callers', async () => {
    spotify.tokenDelayMs = 100;
    const spotifyProvider = provider();
    const tracks = await Promise.all(
      Array.from({ length: 6 }, (_, i) => spotifyProvider.getTrack(i % 2 === 0 ? TRACK_ID : OTHER_ID)),
    );
    expect(tracks.map((track) => track?.id)).toEqual([TRACK_ID, OTHER_ID, TRACK_ID, OTHER_ID, TRACK_ID, OTHER_ID]);
    expect(spotify.tokenRequests).toBe(1);
    expect(spotify.trackRequests).toBe(6);
  });

  it('refreshes the token shortly before it expires', async () => {
    const spotifyProvider = provider({ now: () => clock });
    await spotifyProvider.getTrack(TRACK_ID);
    clock += 3000_000; // 50 minutes of a 60-minute token
    await spotifyProvider.getTrack(TRACK_ID);
    expect(spotify.tokenRequests).toBe(1);
    clock += 570_000; // 59.5 minutes: inside the refresh margin
    await spotifyProvider.getTrack(TRACK_ID);
    expect(spotify.tokenRequests).toBe(2);
    await spotifyProvider.getTrack(TRACK_ID);
    expect(spotify.tokenRequests).toBe(2);
  });

  it('gets a new token and retries once when Spotify answers 401', async () => {
    const spotifyProvider = provider();
    await spotifyProvider.getTrack(TRACK_ID);
    spotify.revokeTokens();
    expect((await spotifyProvider.getTrack(TRACK_ID))?.id).toBe(TRACK_ID);
    expect(spotify.tokenRequests).toBe(2);
    expect(spotify.trackRequests).toBe(3);
  });

  it('gives up with UnavailableError when a fresh token is refused too', async () => {
    const unauthorized: Responder = (_req, res) => json(res, 401, { error: { status: 401, message: 'nope' } });
    spotify.trackScript.push(unauthorized, unauthorized, unauthorized);
    const error = await rejection(provider().getTrack(TRACK_ID));
    expect(error).toBeInstanceOf(UnavailableError);
    expect(spotify.trackRequests).toBe(2);
    expect(spotify.tokenRequests).toBe(2);
  });

  it('answers null for an unknown track, and for a malformed id without asking Spotify', async () => {
    const spotifyProvider = provider();
    expect(await spotifyProvider.getTrack(UNKNOWN_ID)).toBeNull();
    expect(spotify.trackRequests).toBe(1);
    spotify.trackScript.push((_req, res) => json(res, 400, { error: { status: 400, message: 'invalid id' } }));
    expect(await spotifyProvider.getTrack(OTHER_ID)).toBeNull();
    expect(await spotifyProvider.getTrack('not-an-id/../../me')).toBeNull();
    expect(spotify.trackRequests).toBe(2);
  });

  it('waits out a short Retry-After and retries once', async () => {
    spotify.trackScript.push(rateLimit(1));
    const started = Date.now();
    const track = await provider().getTrack(TRACK_ID);
    expect(track?.id).toBe(TRACK_ID);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(spotify.trackRequests).toBe(2);
  });

  it('fails with the Retry-After of a long 429 and stays away until it ends', async () => {
    const spotifyProvider = provider({ now: () => clock });
    spotify.trackScript.push(rateLimit(30));
    const first = await rejection(spotifyProvider.getTrack(TRACK_ID));
    expect(first).toBeInstanceOf(UnavailableError);
    expect((first as UnavailableError).retryAfterMs).toBe(30_000);
    expect(spotify.trackRequests).toBe(1);

    clock += 10_000;
    const started = Date.now();
    const second = await rejection(spotifyProvider.getTrack(OTHER_ID));
    expect(Date.now() - started).toBeLessThan(100);
    expect(second).toBeInstanceOf(UnavailableError);
    expect((second as UnavailableError).retryAfterMs).toBe(20_000);
    expect(spotify.trackRequests).toBe(1);

    clock += 20_001;
    expect((await spotifyProvider.getTrack(OTHER_ID))?.id).toBe(OTHER_ID);
    expect(spotify.trackRequests).toBe(2);
  });

  it('fails when a short 429 comes back twice', async () => {
    spotify.trackScript.push(rateLimit(0), rateLimit(0));
    const error = await rejection(provider().getTrack(TRACK_ID));
    expect(error).toBeInstanceOf(UnavailableError);
    expect(spotify.trackRequests).toBe(2);
  });

  it.each([500, 502, 503])('turns HTTP %i into UnavailableError', async (status) => {
    spotify.trackScript.push((_req, res) => json(res, status, { error: { status, message: 'boom' } }));
    const error = await rejection(provider().getTrack(TRACK_ID));
    expect(error).toBeInstanceOf(UnavailableError);
    expect((error as Error).message).toContain(String(status));
  });

  it('times out quickly with UnavailableError when Spotify does not answer', async () => {
    spotify.trackScript.push(spotify.hold);
    const started = Date.now();
    const error = await rejection(provider({ timeoutMs: 200 }).getTrack(TRACK_ID));
    const elapsed = Date.now() - started;
    expect(error).toBeInstanceOf(UnavailableError);
    expect(elapsed).toBeGreaterThanOrEqual(190);
    expect(elapsed).toBeLessThan(1500);
  });

  it('times out a token request that hangs', async () => {
    spotify.tokenResponder = spotify.hold;
    const error = await rejection(provider({ timeoutMs: 200 }).getTrack(TRACK_ID));
    expect(error).toBeInstanceOf(UnavailableError);
  });

  it('rethrows the caller’s abort', async () => {
    spotify.trackScript.push(spotify.hold);
    const controller = new AbortController();
    const pending = provider().getTrack(TRACK_ID, controller.signal);
    setTimeout(() => controller.abort(new Error('caller gave up')), 50);
    const error = await rejection(pending);
    expect((error as Error).message).toBe('caller gave up');
  });

  it('turns an unreachable Spotify into UnavailableError', async () => {
    const url = spotify.url;
    await spotify.close();
    spotify = new FakeSpotify();
    await spotify.start();
    const error = await rejection(provider({ apiUrl: url, accountsUrl: url }).getTrack(TRACK_ID));
    expect(error).toBeInstanceOf(UnavailableError);
  });

  it('rejects an unexpected track object', async () => {
    spotify.trackScript.push((_req, res) => json(res, 200, { id: TRACK_ID, name: 'x', artists: 'nobody' }));
    expect(await rejection(provider().getTrack(TRACK_ID))).toBeInstanceOf(UnavailableError);
  });

  it('takes a token from its budget before every call, the token endpoint’s too', async () => {
    const budget = new LocalCallBudget({ name: 'spotify', limit: 3, windowMs: 60_000, maxWaitMs: 0 });
    const spotifyProvider = provider({ budget });
    expect((await spotifyProvider.getTrack(TRACK_ID))?.id).toBe(TRACK_ID);
    expect((await spotifyProvider.getTrack(OTHER_ID))?.id).toBe(OTHER_ID);
    const error = await rejection(spotifyProvider.getTrack(TRACK_ID));
    expect(error).toBeInstanceOf(UnavailableError);
    // One token every 20 s, less what has refilled since.
    expect((error as UnavailableError).retryAfterMs).toBeGreaterThan(19_000);
    expect((error as UnavailableError).retryAfterMs).toBeLessThanOrEqual(20_000);
    expect(spotify.requests.map((request) => request.path)).toEqual(['/api/token', `/v1/tracks/${TRACK_ID}`, `/v1/tracks/${OTHER_ID}`]);
  });

  it('a 429 pauses the budget, so that another provider sharing it stays away too', async () => {
    const budget = new LocalCallBudget({ name: 'spotify', limit: 20, windowMs: 1000, maxWaitMs: 2000 });
    const first = provider({ budget });
    const second = provider({ budget });
    spotify.trackScript.push(rateLimit(30));
    expect(((await rejection(first.getTrack(TRACK_ID))) as UnavailableError).retryAfterMs).toBe(30_000);
    const error = await rejection(second.getTrack(OTHER_ID));
    expect(error).toBeInstanceOf(UnavailableError);
    expect((error as UnavailableError).retryAfterMs).toBeGreaterThan(29_000);
    expect(await budget.pausedForMs()).toBeGreaterThan(29_000);
    // The second never asked, not even for a token.
    expect(spotify.tokenRequests).toBe(1);
    expect(spotify.trackRequests).toBe(1);
  });

  it('stops calling a Spotify that keeps failing, backs off, and probes and closes once it recovers', async () => {
    const spotifyProvider = provider({ breaker: { failureThreshold: 3, openMs: 150, maxOpenMs: 300 } });
    expect((await spotifyProvider.getTrack(TRACK_ID))?.id).toBe(TRACK_ID);
    spotify.trackFailure = (_req, res) => json(res, 503, { error: { status: 503, message: 'down' } });
    const before = spotify.trackRequests;
    const fastFailures: number[] = [];
    let attempts = 0;
    const until = Date.now() + 1000;
    while (Date.now() < until) {
      const started = performance.now();
      const error = await rejection(spotifyProvider.getTrack(OTHER_ID));
      attempts += 1;
      expect(error).toBeInstanceOf(UnavailableError);
      if ((error as Error).message.includes('circuit open')) {
        fastFailures.push(performance.now() - started);
        expect((error as UnavailableError).retryAfterMs).toBeGreaterThan(0);
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const reached = spotify.trackRequests - before;
    // Three to open it, then one probe per opening: 150 ms, 300 ms, 300 ms, … over one second.
    expect(attempts).toBeGreaterThan(40);
    expect(reached).toBeGreaterThanOrEqual(4);
    expect(reached).toBeLessThanOrEqual(7);
    expect(fastFailures.length).toBe(attempts - reached);
    expect(Math.max(...fastFailures)).toBeLessThan(20);
    expect(spotifyProvider.breaker.state).not.toBe('closed');

    spotify.trackFailure = undefined;
    await new Promise((resolve) => setTimeout(resolve, spotifyProvider.breaker.retryAfterMs + 5));
    expect((await spotifyProvider.getTrack(OTHER_ID))?.id).toBe(OTHER_ID);
    expect(spotifyProvider.breaker.state).toBe('closed');
    expect((await spotifyProvider.getTrack(TRACK_ID))?.id).toBe(TRACK_ID);
    expect(spotify.trackRequests - before).toBe(reached + 2);
  });

  it('opens the breaker for timeouts and unreachable hosts, but not for 404, 400 or 429', async () => {
    const spotifyProvider = provider({ breaker: { failureThreshold: 2, openMs: 10_000 } });
    for (let i = 0; i < 4; i += 1) expect(await spotifyProvider.getTrack(UNKNOWN_ID)).toBeNull();
    spotify.trackScript.push(rateLimit(0), rateLimit(0), rateLimit(0), rateLimit(0));
    for (let i = 0; i < 2; i += 1) expect(await rejection(spotifyProvider.getTrack(TRACK_ID))).toBeInstanceOf(UnavailableError);
    expect(spotifyProvider.breaker.state).toBe('closed');

    const slow = provider({ timeoutMs: 100, breaker: { failureThreshold: 2, openMs: 10_000 } });
    expect((await slow.getTrack(TRACK_ID))?.id).toBe(TRACK_ID);
    spotify.trackScript.push(spotify.hold, spotify.hold);
    for (let i = 0; i < 2; i += 1) expect(((await rejection(slow.getTrack(TRACK_ID))) as Error).message).toContain('did not answer');
    const requests = spotify.requests.length;
    const error = await rejection(slow.getTrack(TRACK_ID));
    expect((error as Error).message).toContain('circuit open');
    expect((error as UnavailableError).retryAfterMs).toBeGreaterThan(9000);
    expect(spotify.requests.length).toBe(requests);

    const unreachable = provider({ apiUrl: 'http://127.0.0.1:1', accountsUrl: 'http://127.0.0.1:1', breaker: { failureThreshold: 2, openMs: 10_000 } });
    for (let i = 0; i < 2; i += 1) expect(((await rejection(unreachable.getTrack(TRACK_ID))) as Error).message).toContain('Could not reach');
    expect(((await rejection(unreachable.getTrack(TRACK_ID))) as Error).message).toContain('circuit open');
  });

  it('never puts the client secret or an access token in an error', async () => {
    const secrets = [CLIENT_SECRET, Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64'), 'access-token-'];
    // A JSON parse error quotes the start of the body: here, where a token would be.
    const leakyToken = 'LEAKYTOKEN';
    const errors: unknown[] = [];

    spotify.tokenResponder = (_req, res) => json(res, 400, { error: 'invalid_client', error_description: CLIENT_SECRET });
    errors.push(await rejection(provider().getTrack(TRACK_ID)));
    spotify.tokenResponder = (_req, res) => json(res, 500, { error: CLIENT_SECRET });
    errors.push(await rejection(provider().getTrack(TRACK_ID)));
    spotify.tokenResponder = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`${leakyToken}-rest-of-a-body-that-is-not-json`);
    };
    errors.push(await rejection(provider().getTrack(TRACK_ID)));
    spotify.tokenResponder = undefined;
    spotify.trackScript.push((_req, res) => json(res, 503, { error: { message: 'down' } }));
    errors.push(await rejection(provider().getTrack(TRACK_ID)));
    spotify.trackScript.push(spotify.hold);
    errors.push(await rejection(provider({ timeoutMs: 150 }).getTrack(TRACK_ID)));
    spotify.trackScript.push(rateLimit(60));
    errors.push(await rejection(provider().getTrack(TRACK_ID)));
    errors.push(await rejection(provider({ apiUrl: 'http://127.0.0.1:1' }).getTrack(TRACK_ID)));

    expect(errors).toHaveLength(7);
    for (const error of errors) {
      expect(error).toBeInstanceOf(UnavailableError);
      const text = describeError(error);
      for (const secret of [...secrets, leakyToken]) expect(text).not.toContain(secret);
    }
  });
});

/** Every message, stack and property along the cause chain. */
function describeError(error: unknown): string {
  const parts: string[] = [];
  for (let current = error, depth = 0; current !== undefined && depth < 10; depth++) {
    if (current instanceof Error) {
      parts.push(current.message, current.stack ?? '', JSON.stringify({ ...current }));
      current = current.cause;
    } else {
      parts.push(String(current));
      current = undefined;
    }
  }
  return parts.join('\n');
}
