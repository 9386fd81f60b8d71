import { Client } from '@elastic/elasticsearch';
import { keysetPages } from '../db/keyset-scan.js';
import { searchHealthCheck } from '../health/search-health-check.js';
import type { MixtapeBackends } from '../mixtape.js';
import { MirroredSearchIndex } from '../search/mirrored-search-index.js';
import { RefilledSearchIndex } from './refilled-search-index.js';
import { ElasticsearchSearchIndex, type ElasticsearchSearchIndexOptions } from './elasticsearch-search-index.js';

export interface ElasticsearchBackendsOptions extends Omit<ElasticsearchSearchIndexOptions, 'client' | 'onIndexCreated'> {
  /** `http(s)://[user:password@]host:port` of the cluster (`MIXTAPE_ELASTICSEARCH_URL`). */
  url: string;
  /** Told when the whole catalog could not be queued for a new index; the reconciler finds what it misses. */
  onError?: (error: unknown) => void;
}

/** Tracks queued at a time when a new index is to be filled. */
const QUEUE_PAGE = 1000;

/**
 * Puts Elasticsearch in front of a database's search, for many instances sharing one search
 * engine. The outbox relay writes every change to the database's full-text index and then to
 * Elasticsearch; searches go to Elasticsearch and, while it fails or hangs, to the database's
 * index (`searchFallback`), answered as degraded. Nothing here waits for Elasticsearch to open:
 * the index and its alias are created on first use, every track of the catalog is then queued
 * for it (a deployment moving to Elasticsearch, or an index deleted by hand, is filled again),
 * and the relay catches up once it answers.
 */
export function openElasticsearchBackends(backends: MixtapeBackends, options: ElasticsearchBackendsOptions): MixtapeBackends & { engine: ElasticsearchSearchIndex } {
  const { url, onError, ...indexOptions } = options;
  // Retries and timeouts are per call (see ElasticsearchSearchIndex): the client adds none.
  const client = new Client({ node: url, maxRetries: 0, requestTimeout: indexOptions.writeTimeoutMs ?? 30_000 });
  // A new index is empty, whether first used or deleted by hand: every track goes to it again,
  // and searches are answered by the fallback until it holds them.
  const fill = () => void refilled.refill(() => queueEveryTrack(backends)).catch((error: unknown) => onError?.(error));
  const engine = new ElasticsearchSearchIndex({ ...indexOptions, client, onIndexCreated: fill });
  const refilled = new RefilledSearchIndex(engine, backends.searchOutbox);
  let closed = false;
  return {
    ...backends,
    engine,
    index: new MirroredSearchIndex(refilled, backends.index),
    searchFallback: backends.index,
    healthChecks: [...backends.healthChecks, searchHealthCheck(engine)],
    async close() {
      if (closed) return;
      closed = true;
      await backends.close();
      await client.close();
    },
  };
}

/** Every track of the catalog queued in the search outbox, a page at a time: the relay writes them. */
async function queueEveryTrack({ catalog, searchOutbox }: Pick<MixtapeBackends, 'catalog' | 'searchOutbox'>): Promise<void> {
  for await (const tracks of keysetPages((afterId, limit) => catalog.scan(afterId, limit), QUEUE_PAGE)) {
    await searchOutbox.enqueue(tracks.map((track) => track.id));
  }
}
