import { Client } from '@elastic/elasticsearch';
import { ElasticsearchSearchIndex, versionedIndexName } from '../../src/elasticsearch.js';
import { describeSearchIndex } from '../contracts/search-index.contract.js';
import { sharedElasticsearchUrl, uniqueIndexName } from './shared-elasticsearch.js';

describeSearchIndex('Elasticsearch', async () => {
  const client = new Client({ node: sharedElasticsearchUrl() });
  const alias = uniqueIndexName('contract');
  // A roomy timeout: this suite checks answers; elasticsearch-degradation.test.ts checks time.
  const index = new ElasticsearchSearchIndex({ client, alias, searchTimeoutMs: 10_000, refreshOnWrite: true });
  return {
    index,
    settle: () => index.refresh(),
    async close() {
      await client.indices.delete({ index: versionedIndexName(alias) }, { ignore: [404] });
      await client.close();
    },
  };
});
