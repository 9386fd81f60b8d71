import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSpotifyStub, trackId, type SpotifyStub, type StubTrack } from './support/origin-servers.js';
import { call, signUp, startTestServer, type TestServer } from './support/test-server.js';

/** Track look-ups against the Spotify stand-in, which counts the calls it gets. */

const LIMITS = 'global=10000/1m,search=1000/1m,register=1000/1h';
const NEW: StubTrack = { id: trackId('lookup-new'), name: 'Lanterns Over Water', artists: ['Ida Moor'], album: 'Tidelines', durationMs: 187_000 };
const UNKNOWN = trackId('lookup-unknown');

describe('track look-ups', () => {
  let spotify: SpotifyStub;
  let server: TestServer;
  let token: string;

  beforeAll(async () => {
    spotify = await startSpotifyStub([NEW]);
    server = await startTestServer({ ...spotify.env(), MIXTAPE_RATE_LIMITS: LIMITS, MIXTAPE_DEMO: 'off' });
    ({ accessToken: token } = await signUp(server));
  });

  afterAll(async () => {
    await server?.stop();
    await spotify?.close();
  });

  it('asks Spotify once about a track it does not know, however often it is asked for', async () => {
    for (let i = 0; i < 5; i++) {
      const response = await call(`${server.api}/tracks/${UNKNOWN}`, { token });
      expect(response.status).toBe(404);
    }
    expect(spotify.trackRequests.get(UNKNOWN)).toBe(1);
  });

  it('makes one Spotify call for ten requests for a new track at once, and the track is searchable', async () => {
    const responses = await Promise.all(Array.from({ length: 10 }, () => call(`${server.api}/tracks/${NEW.id}`, { token })));
    for (const response of responses) expect(response.body).toMatchObject({ id: NEW.id, title: NEW.name, available: false });
    expect(spotify.trackRequests.get(NEW.id)).toBe(1);
    const search = await call(`${server.api}/tracks/search?q=${encodeURIComponent('lanterns')}`, { token });
    expect(search.body).toMatchObject({ total: 1, degraded: false, items: [{ id: NEW.id }] });
  });
});

describe('lookup policy (per user, look-ups that reach Spotify)', () => {
  const KNOWN: StubTrack = { id: trackId('lookup-policy-known'), name: 'Salt Roads', artists: ['Ines Varga'], album: 'Coastal', durationMs: 201_000 };
  let spotify: SpotifyStub;
  let server: TestServer;

  beforeAll(async () => {
    spotify = await startSpotifyStub([KNOWN]);
    server = await startTestServer({ ...spotify.env(), MIXTAPE_RATE_LIMITS: `${LIMITS},lookup=5/1m`, MIXTAPE_DEMO: 'off' });
  });

  afterAll(async () => {
    await server?.stop();
    await spotify?.close();
  });

  it("holds a user flooding unknown ids to 5 Spotify calls, and leaves other users' look-ups alone", async () => {
    const { accessToken: flooder } = await signUp(server);
    const { accessToken: other } = await signUp(server);
    const ids = Array.from({ length: 8 }, (_, i) => trackId(`lookup-policy-unknown-${i}`));
    const statuses: number[] = [];
    for (const id of ids) {
      const response = await call(`${server.api}/tracks/${id}`, { token: flooder });
      statuses.push(response.status);
      if (response.status === 429) {
        expect(response.body).toMatchObject({ status: 429 });
        expect(response.body.type).toMatch(/rate-limited$/);
        expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
      }
    }
    expect(statuses).toEqual([404, 404, 404, 404, 404, 429, 429, 429]);
    const asked = ids.reduce((sum, id) => sum + (spotify.trackRequests.get(id) ?? 0), 0);
    expect(asked).toBeLessThanOrEqual(5);

    // Its first look-up reaches Spotify and counts; the catalog answers the rest, which do not.
    for (let i = 0; i < 8; i += 1) {
      const response = await call(`${server.api}/tracks/${KNOWN.id}`, { token: other });
      expect(response.status, response.text).toBe(200);
      expect(response.body).toMatchObject({ id: KNOWN.id, title: KNOWN.name });
    }
    expect(spotify.trackRequests.get(KNOWN.id)).toBe(1);
    // A user over the limit is refused every track until the window moves on, as any limit does.
    expect((await call(`${server.api}/tracks/${KNOWN.id}`, { token: flooder })).status).toBe(429);
  });
});
