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
