import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_TRACKS } from '@mixtape/core';
import { proxiedElasticsearch, sharedElasticsearchUrl, uniqueIndexName } from '../../core/test/elasticsearch/shared-elasticsearch.js';
import type { TcpProxy } from '../../core/test/support/tcp-proxy.js';
import { eventually, health, indexedCount, indexedDocument, metric, search, searchUntil, UNLIMITED_SEARCH } from './support/search-probes.js';
import { signUp, startTestServer, type TestServer } from './support/test-server.js';

/**
 * `MIXTAPE_ELASTICSEARCH_URL=… mixtape serve` searches through Elasticsearch, on SQLite and on
 * MySQL: the demo catalog reaches the index by itself, searches are answered from it (typos
 * forgiven, accents folded), and each document is really there, asked of Elasticsearch directly.
 * The server reaches the shared node through a proxy of its own, which the last test cuts.
 */

const LANTERNS = DEMO_TRACKS.find((track) => track.title === 'Lanterns Over Lisbon')!;
/** The one demo track with an accent: its album is "Chuva Miúda". */
const SAMBA = DEMO_TRACKS.find((track) => track.album === 'Chuva Miúda')!;

describe.each(['sqlite', 'mysql'] as const)('searching through Elasticsearch on %s', (database) => {
  let proxy: TcpProxy;
  let server: TestServer;
  let token: string;
  let index: string;

  beforeAll(async () => {
    const proxied = await proxiedElasticsearch();
    proxy = proxied.proxy;
    index = uniqueIndexName(`search-${database}`);
    server = await startTestServer(
      { MIXTAPE_ELASTICSEARCH_URL: proxied.url, MIXTAPE_ELASTICSEARCH_INDEX: index, MIXTAPE_RATE_LIMITS: UNLIMITED_SEARCH },
      { database },
    );
    token = (await signUp(server)).accessToken;
  });

  afterAll(async () => {
    await server?.stop();
    await proxy?.close();
  });

  it('finds the demo tracks, not degraded, with an accent left out and a typo forgiven', async () => {
    // The index is created at start and filled with the demo catalog; until then searches are
    // answered by the database, degraded. Elasticsearch shows writes within a second.
    const found = await searchUntil(server, token, 'lanterns over lisbon', (answer) => answer.ids.includes(LANTERNS.id) && !answer.degraded, 15_000);
    expect(found).toMatchObject({ status: 200, degraded: false });
    expect(found.ids[0]).toBe(LANTERNS.id);

    const folded = await search(server, token, 'chuva miuda');
    expect(folded).toMatchObject({ status: 200, degraded: false, ids: [SAMBA.id] });

    // Only Elasticsearch forgives a typo in a long word: the database's index finds nothing for it (last test).
    const typo = await search(server, token, 'lantrens lisbon');
    expect(typo).toMatchObject({ status: 200, degraded: false, ids: [LANTERNS.id] });
  });

  it('holds every demo track in the index, as the catalog has it, with nothing left pending', async () => {
    expect(await eventually('documents in the index', () => indexedCount(sharedElasticsearchUrl(), index), (count) => count === DEMO_TRACKS.length, 10_000)).toBe(
      DEMO_TRACKS.length,
    );
    const samba = await indexedDocument(sharedElasticsearchUrl(), index, SAMBA.id);
    expect(samba?.source).toMatchObject({
      id: SAMBA.id,
      title: SAMBA.title,
      album: 'Chuva Miúda',
      artists: SAMBA.artists,
      available: false,
      folded: { album: 'chuva miuda' },
    });
    expect(await eventually('changes pending', () => metric(server, 'mixtape_search_outbox_pending'), (pending) => pending === 0, 10_000)).toBe(0);
    expect(await metric(server, 'mixtape_search_degraded')).toBe(0);
    expect(await health(server)).toEqual({ httpStatus: 200, status: 'pass', elasticsearch: 'pass' });
  });

  it('answers from the database, degraded, once Elasticsearch is out of reach', async () => {
    await proxy.cut('reset');
    const fallback = await search(server, token, 'lanterns over lisbon');
    expect(fallback).toMatchObject({ status: 200, degraded: true });
    expect(fallback.ids[0]).toBe(LANTERNS.id);
    // What Elasticsearch found above, the database's index does not: those answers were Elasticsearch's.
    expect(await search(server, token, 'lantrens lisbon')).toMatchObject({ status: 200, degraded: true, ids: [] });
    expect(await metric(server, 'mixtape_search_degraded')).toBe(1);
  });
});
