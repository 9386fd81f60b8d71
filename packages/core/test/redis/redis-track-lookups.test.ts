import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteTrackCatalog } from '../../src/catalog/sqlite-track-catalog.js';
import { TrackResolver } from '../../src/catalog/track-resolver.js';
import { RedisLockManager } from '../../src/locks/redis-lock-manager.js';
import { SqliteFencingTokens } from '../../src/locks/sqlite-fencing-tokens.js';
import { RedisCallBudget } from '../../src/metadata/redis-call-budget.js';
import { SpotifyMetadataProvider } from '../../src/metadata/spotify-metadata-provider.js';
import { RedisConnection } from '../../src/redis/redis-connection.js';
import { CLIENT_ID, CLIENT_SECRET, FakeSpotify, json, spotifyTrack, TRACK_ID } from '../metadata/fake-spotify.js';
import { openTempSqlite, type TempSqlite } from '../sqlite/temp-sqlite.js';
import { sharedRedisUrl, uniqueRedisPrefix } from './shared-redis.js';

describe('Track look-ups shared across instances through Redis locks', () => {
  let spotify: FakeSpotify;
  let temp: TempSqlite;
  const connections: RedisConnection[] = [];

  beforeEach(async () => {
    spotify = new FakeSpotify();
    await spotify.start();
    temp = openTempSqlite();
  });
  afterEach(async () => {
    await Promise.all(connections.splice(0).map((connection) => connection.close()));
    await spotify.close();
    await temp.close();
  });

  /** An instance: its own Redis connection, database connection, budget, provider and resolver. */
  const instance = async (prefix: string) => {
    const connection = new RedisConnection({ url: sharedRedisUrl(), prefix });
    connections.push(connection);
    await connection.waitUntilReady();
    const db = temp.connect();
    const provider = new SpotifyMetadataProvider({
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      apiUrl: spotify.url,
      accountsUrl: spotify.url,
      budget: new RedisCallBudget(connection, { name: 'spotify', limit: 20, windowMs: 1000 }),
    });
    return new TrackResolver({
      catalog: new SqliteTrackCatalog(db),
      provider,
      locks: new RedisLockManager(connection, new SqliteFencingTokens(db)),
    });
  };

  it('fifteen resolves of one new track on each of two instances cost Spotify one track request', async () => {
    const prefix = uniqueRedisPrefix();
    const [a, b] = [await instance(prefix), await instance(prefix)];
    // A slow answer, so that every resolve arrives while the first look-up runs.
    spotify.trackScript.push((_req, res) => {
      setTimeout(() => json(res, 200, spotifyTrack(TRACK_ID, 'Hearts on Fire')), 150);
    });
    const started = performance.now();
    const resolves = Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? a! : b!).resolve(TRACK_ID));
    const tracks = await Promise.all(resolves);
    if (process.env.MIXTAPE_TEST_REPORT) console.log("30 resolves took", (performance.now() - started).toFixed(0), "ms");
    for (const track of tracks) expect(track).toMatchObject({ id: TRACK_ID, title: 'Hearts on Fire', version: 1 });
    expect(spotify.trackRequests).toBe(1);
    // Only the instance that asked needed a token.
    expect(spotify.tokenRequests).toBe(1);
    expect(temp.db.prepare('SELECT count(*) FROM tracks').pluck().get()).toBe(1);
  });
});
