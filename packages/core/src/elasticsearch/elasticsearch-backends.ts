import { Client } from '@elastic/elasticsearch';
import { searchHealthCheck } from '../health/search-health-check.js';
import type { MixtapeBackends } from '../mixtape.js';
import { MirroredSearchIndex } from '../search/mirrored-search-index.js';
import { ElasticsearchSearchIndex, type ElasticsearchSearchIndexOptions } from './elasticsearch-search-index.js';

export interface ElasticsearchBackendsOptions extends Omit<ElasticsearchSearchIndexOptions, 'client'> {
  /** `http(s)://[user:password@]host:port` of the cluster (`MIXTAPE_ELASTICSEARCH_URL`). */
  url: string;
}

/**
 * Puts Elasticsearch in front of a database's search, for many instances sharing one search
 * engine. The outbox relay writes every change to the database's full-text index and then to
 * Elasticsearch; searches go to Elasticsearch and, while it fails or hangs, to the database's
 * index (`searchFallback`), answered as degraded. Nothing here waits for Elasticsearch to open:
 * the index and its alias are created on first use, and the relay catches up once it answers.
 */
export function openElasticsearchBackends(backends: MixtapeBackends, options: ElasticsearchBackendsOptions): MixtapeBackends & { engine: ElasticsearchSearchIndex } {
  const { url, ...indexOptions } = options;
  // Retries and timeouts are per call (see ElasticsearchSearchIndex): the client adds none.
  const client = new Client({ node: url, maxRetries: 0, requestTimeout: indexOptions.writeTimeoutMs ?? 30_000 });
  const engine = new ElasticsearchSearchIndex({ ...indexOptions, client });
  let closed = false;
  return {
    ...backends,
    engine,
    index: new MirroredSearchIndex(engine, backends.index),
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
