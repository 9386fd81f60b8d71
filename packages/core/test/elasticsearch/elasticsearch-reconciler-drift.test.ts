import { Client } from '@elastic/elasticsearch';
import { mkdtempSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openElasticsearchBackends, versionedIndexName } from '../../src/elasticsearch.js';
import type { TrackDocument } from '../../src/search/search-index.js';
import { openSqliteBackends } from '../../src/sqlite.js';
import { describeReconcilerDrift } from '../services/reconciler-drift.suite.js';
import { sharedElasticsearchUrl, uniqueIndexName } from './shared-elasticsearch.js';

/** How long a planted write may wait for Elasticsearch to forget a delete before the harness gives up. */
const FORGET_DELETES_MS = 10_000;

describeReconcilerDrift('Elasticsearch over SQLite', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'mixtape-es-drift-'));
  const sqlite = await openSqliteBackends({ dataDir });
  const alias = uniqueIndexName('drift');
  const backends = openElasticsearchBackends(sqlite, { url: sharedElasticsearchUrl(), alias, searchTimeoutMs: 10_000, refreshOnWrite: true });
  const client = new Client({ node: sharedElasticsearchUrl() });

  /**
   * Writes `document` to Elasticsearch at its own version, once the index has forgotten
   * every delete. A delete leaves a tombstone at its version that refuses older writes for
   * `index.gc_deletes` (60 s); shrinking that to 0 lets the next refresh prune them, which is
   * what a minute's wait would do: a late write then lands whatever was deleted before it.
   * The adapter settles a refused write silently, so each try is checked with a realtime get.
   */
  const writeOnceDeletesForgotten = async (document: TrackDocument) => {
    await client.indices.putSettings({ index: alias, settings: { 'index.gc_deletes': '0s' } });
    try {
      const deadline = Date.now() + FORGET_DELETES_MS;
      for (;;) {
        await client.indices.refresh({ index: alias });
        await backends.engine.upsert([document]);
        const held = await client.get({ index: alias, id: document.id, realtime: true, _source: false }, { ignore: [404] });
        if (held.found && held._version === document.version) return;
        if (Date.now() > deadline) throw new Error(`Elasticsearch still refuses ${document.id} at version ${document.version} after ${FORGET_DELETES_MS} ms`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    } finally {
      await client.indices.putSettings({ index: alias, settings: { 'index.gc_deletes': null } });
    }
  };

  return {
    backends,
    // Both stores end up holding the document as given: SQLite takes any version after a
    // remove, Elasticsearch only once it has forgotten the remove (see above).
    async plantDocument(document) {
      await backends.index.remove([document.id]);
      await sqlite.index.upsert([document]);
      await writeOnceDeletesForgotten(document);
    },
    async ageBlob(key, ms) {
      const then = new Date(Date.now() - ms);
      utimesSync(join(dataDir, 'audio', 'blobs', key.slice(0, 2), key.slice(2, 4), key), then, then);
    },
    settle: () => backends.engine.refresh(),
    async close() {
      await client.indices.delete({ index: versionedIndexName(alias) }, { ignore: [404] });
      await client.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
});
