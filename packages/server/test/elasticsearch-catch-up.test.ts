import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { proxiedElasticsearch, sharedElasticsearchUrl, uniqueIndexName } from '../../core/test/elasticsearch/shared-elasticsearch.js';
import type { TcpProxy } from '../../core/test/support/tcp-proxy.js';
import { deterministicBytes, originEnv, startAudioOrigin, startSpotifyStub, trackId, type AudioOrigin, type SpotifyStub, type StubTrack } from './support/origin-servers.js';
import { download, indexedCount, indexedDocument, metric, search, searchUntil, sleep, UNLIMITED_SEARCH } from './support/search-probes.js';
import { signUp, startTestServer, type TestServer } from './support/test-server.js';

/**
 * Tracks downloaded while Elasticsearch is out of reach wait in the search outbox, and are
 * found meanwhile by the database's index (degraded). Once Elasticsearch answers again, the
 * relay writes them by itself, with its default pauses (nothing here shortens them, and no
 * admin call helps): the outbox drains, and Elasticsearch finds and holds every one.
 */

const TRACKS: StubTrack[] = Array.from({ length: 5 }, (_, i) => ({
  id: trackId(`catch-up-${i}`),
  name: `Backlog Song ${i}`,
  artists: ['Outage Choir'],
  album: 'Pending Changes',
  durationMs: 180_000,
}));
const QUERY = 'outage choir';
/** How long Elasticsearch stays out of reach, counted from the cut: the short end of 20-60 s. */
const OUTAGE_MS = 20_000;
/**
 * While the index is down the relay pauses up to 10 s between passes (outagePauseMaxMs), and the
 * breaker lets a probe through up to 15 s after the last: 25 s at most, and slack for a busy machine.
 */
const CATCH_UP_WITHIN_MS = 40_000;

describe('Elasticsearch out of reach while tracks are downloaded', () => {
  let spotify: SpotifyStub;
  let origin: AudioOrigin;
  let proxy: TcpProxy;
  let server: TestServer;
  let token: string;
  let index: string;

  beforeAll(async () => {
    spotify = await startSpotifyStub(TRACKS);
    origin = await startAudioOrigin();
    for (const track of TRACKS) origin.serve(track.id, { body: deterministicBytes(track.id, 50_000) });
    const proxied = await proxiedElasticsearch();
    proxy = proxied.proxy;
    index = uniqueIndexName('catch-up');
    server = await startTestServer({
      ...originEnv(spotify, origin, UNLIMITED_SEARCH),
      MIXTAPE_ELASTICSEARCH_URL: proxied.url,
      MIXTAPE_ELASTICSEARCH_INDEX: index,
    });
    token = (await signUp(server)).accessToken;
  });

  afterAll(async () => {
    await server?.stop();
    await proxy?.close();
    await origin?.close();
    await spotify?.close();
  });

  it('queues them in the outbox, finds them degraded meanwhile, and catches up with no help once it is back', async () => {
    // The index exists, empty, before the outage.
    await searchUntil(server, token, QUERY, (answer) => answer.degraded === false, 15_000);
    expect(await indexedCount(sharedElasticsearchUrl(), index)).toBe(0);

    const cutAt = performance.now();
    await proxy.cut('reset');
    await searchUntil(server, token, QUERY, (answer) => answer.degraded === true, 5000);
    const pendingBefore = await metric(server, 'mixtape_search_outbox_pending');
    const jobs = await Promise.all(TRACKS.map((track) => download(server, token, track.id)));
    expect(jobs.map((job) => job.status)).toEqual(TRACKS.map(() => 'completed'));
    expect(pendingBefore).toBe(0);
    expect(await metric(server, 'mixtape_search_outbox_pending')).toBe(TRACKS.length);
    // The database's index is written by the same relay, just before Elasticsearch: a track is
    // found degraded once the relay's next pass has tried it, and it pauses meanwhile.
    const downloadedAt = performance.now();
    const degraded = await searchUntil(server, token, QUERY, (answer) => answer.ids.length === TRACKS.length, 15_000);
    const foundDegradedMs = degraded.endedAt - downloadedAt;
    expect(degraded).toMatchObject({ status: 200, degraded: true });
    expect([...degraded.ids].sort()).toEqual(TRACKS.map((track) => track.id).sort());

    await sleep(Math.max(0, OUTAGE_MS - (performance.now() - cutAt)));
    expect(await metric(server, 'mixtape_search_outbox_pending')).toBe(TRACKS.length);
    const lagSeconds = await metric(server, 'mixtape_search_sync_lag_seconds');
    expect(lagSeconds).toBeGreaterThan(10);

    const restoredAt = performance.now();
    await proxy.restore();
    const seen = { notDegraded: Number.NaN, drained: Number.NaN, allFound: Number.NaN };
    while (Number.isNaN(seen.drained) || Number.isNaN(seen.allFound)) {
      const elapsed = performance.now() - restoredAt;
      if (elapsed > CATCH_UP_WITHIN_MS) throw new Error(`not caught up ${CATCH_UP_WITHIN_MS} ms after Elasticsearch came back: ${JSON.stringify(seen)}`);
      const answer = await search(server, token, QUERY);
      if (answer.degraded === false && Number.isNaN(seen.notDegraded)) seen.notDegraded = elapsed;
      if (answer.degraded === false && answer.ids.length === TRACKS.length && Number.isNaN(seen.allFound)) seen.allFound = elapsed;
      if ((await metric(server, 'mixtape_search_outbox_pending')) === 0 && Number.isNaN(seen.drained)) seen.drained = elapsed;
      await sleep(200);
    }
    console.info(
      `ES cut: ${TRACKS.length} downloaded tracks found degraded ${foundDegradedMs.toFixed(0)} ms after their downloads; ` +
        `back after a ${(restoredAt - cutAt).toFixed(0)} ms outage (sync lag ${lagSeconds.toFixed(1)} s) with ${TRACKS.length} changes pending: ` +
        `searches not degraded after ${seen.notDegraded.toFixed(0)} ms, outbox drained after ${seen.drained.toFixed(0)} ms, ` +
        `all found in Elasticsearch after ${seen.allFound.toFixed(0)} ms`,
    );

    expect(await metric(server, 'mixtape_search_sync_lag_seconds')).toBe(0);
    expect(await indexedCount(sharedElasticsearchUrl(), index)).toBe(TRACKS.length);
    for (const track of TRACKS) {
      expect((await indexedDocument(sharedElasticsearchUrl(), index, track.id))?.source).toMatchObject({ title: track.name, available: true });
    }
  }, 120_000);
});
