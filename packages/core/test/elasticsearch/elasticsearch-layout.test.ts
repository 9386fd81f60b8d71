import { Client } from '@elastic/elasticsearch';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ElasticsearchSearchIndex, versionedIndexName } from '../../src/elasticsearch.js';
import type { TrackDocument } from '../../src/search/search-index.js';
import { sharedElasticsearchUrl, uniqueIndexName } from './shared-elasticsearch.js';

const page = { limit: 10, offset: 0 };
const track = (id: string, title: string, artists: string[], isrc?: string): TrackDocument => ({
  id,
  title,
  artists,
  album: 'Layouts',
  durationMs: 1000,
  ...(isrc === undefined ? {} : { isrc }),
  available: true,
  version: 1,
});

const thunderstruck = track('0LayoutThunder00000000', 'Thunderstruck', ['AC/DC'], 'AUAP09000014');
const aroundTheWorld = track('0LayoutAround000000000', 'Around the World', ['Daft Punk'], 'GBDUW9700032');

/** Each alias is deleted with its index; a stray index named after the alias would be deleted too. */
async function deleteIndices(client: Client, alias: string): Promise<void> {
  await client.indices.delete({ index: versionedIndexName(alias) }, { ignore: [404] });
  await client.indices.delete({ index: alias }, { ignore: [404] });
}

/** What each index behind `alias` says of it: `{ [index]: { aliases: { [alias]: {...} } } }`, or null when no index has it. */
async function aliasHolders(client: Client, alias: string) {
  const holders = await client.indices.getAlias({ name: alias }, { ignore: [404] });
  return 'error' in holders || 'status' in holders ? null : holders;
}

describe('the Elasticsearch index layout', () => {
  let client: Client;
  let alias: string;

  beforeEach(() => {
    client = new Client({ node: sharedElasticsearchUrl() });
    alias = uniqueIndexName('layout');
  });

  afterEach(async () => {
    await deleteIndices(client, alias);
    await client.close();
  });

  const open = () => new ElasticsearchSearchIndex({ client, alias, searchTimeoutMs: 10_000, refreshOnWrite: true });

  it('is created on first use, as <alias>-v1 behind the alias, with no replica so that one node holds it green', async () => {
    const index = open();
    expect(await client.indices.existsAlias({ name: alias })).toBe(false);

    expect(await index.search('thunderstruck', page)).toEqual({ items: [], total: 0 });

    expect(versionedIndexName(alias)).toBe(`${alias}-v1`);
    expect(await aliasHolders(client, alias)).toEqual({ [`${alias}-v1`]: { aliases: { [alias]: { is_write_index: true } } } });
    const settings = await client.indices.getSettings({ index: `${alias}-v1` });
    expect(settings[`${alias}-v1`]?.settings?.index?.number_of_replicas).toBe('0');
    const health = await client.cluster.health({ index: `${alias}-v1`, wait_for_status: 'green', timeout: '10s' });
    expect(health).toMatchObject({ status: 'green', timed_out: false, unassigned_shards: 0 });
  });

  it('is created once when two instances race to create it, and both go on to write', async () => {
    const creates = new Map<Client, number>();
    const racers = [0, 1].map(() => {
      const own = new Client({ node: sharedElasticsearchUrl() });
      creates.set(own, 0);
      own.diagnostic.on('request', (_error, event) => {
        const { method, path } = event?.meta.request.params ?? {};
        if (method === 'PUT' && path === `/${alias}-v1`) creates.set(own, creates.get(own)! + 1);
      });
      return { client: own, index: new ElasticsearchSearchIndex({ client: own, alias, searchTimeoutMs: 10_000, refreshOnWrite: true }) };
    });
    try {
      const [first, second] = racers;
      await Promise.all([first!.index.upsert([thunderstruck]), second!.index.upsert([aroundTheWorld])]);

      // Both saw no alias and both asked to create the index: one was told it exists already.
      expect([...creates.values()]).toEqual([1, 1]);
      expect(Object.keys((await aliasHolders(client, alias)) ?? {})).toEqual([`${alias}-v1`]);
      const documents = [];
      for await (const { id } of first!.index.documents(10)) documents.push(id);
      expect(documents).toEqual([aroundTheWorld.id, thunderstruck.id]);
    } finally {
      for (const racer of racers) await racer.client.close();
    }
  });

  it('is created again, as laid out, by the first write after someone deleted it', async () => {
    const index = open();
    await index.upsert([thunderstruck]);
    await client.indices.delete({ index: `${alias}-v1` });

    await index.upsert([aroundTheWorld]);

    expect(await aliasHolders(client, alias)).toEqual({ [`${alias}-v1`]: { aliases: { [alias]: { is_write_index: true } } } });
    const mapping = await client.indices.getMapping({ index: `${alias}-v1` });
    expect(mapping[`${alias}-v1`]?.mappings.properties?.id).toEqual({ type: 'keyword' });
    expect(await index.search('around world', page)).toEqual({ items: [aroundTheWorld.id], total: 1 });
  });
});

describe('Elasticsearch search over the layout', () => {
  let client: Client;
  let alias: string;
  let index: ElasticsearchSearchIndex;

  beforeAll(async () => {
    client = new Client({ node: sharedElasticsearchUrl() });
    alias = uniqueIndexName('layout-search');
    index = new ElasticsearchSearchIndex({ client, alias, searchTimeoutMs: 10_000, refreshOnWrite: true });
    await index.upsert([thunderstruck, aroundTheWorld]);
  });

  afterAll(async () => {
    await deleteIndices(client, alias);
    await client.close();
  });

  const found = async (query: string) => (await index.search(query, page)).items;

  it('forgives a typo in a long word', async () => {
    expect(await found('thunderstuck')).toEqual([thunderstruck.id]);
    expect(await found('thunderstuck ac')).toEqual([thunderstruck.id]);
  });

  it('forgives no typo in a word of 4 letters or fewer, which a typo would too often turn into another word', async () => {
    expect(await found('daft punk')).toEqual([aroundTheWorld.id]);
    expect(await found('daft pnuk')).toEqual([]);
    expect(await found('dfat punk')).toEqual([]);
  });

  it('matches an ISRC exactly, never one a digit off', async () => {
    expect(await found('AUAP09000014')).toEqual([thunderstruck.id]);
    expect(await found('auap09000014 thunderstruck')).toEqual([thunderstruck.id]);
    expect(await found('AUAP09000015')).toEqual([]);
    expect(await found('AUAP09000015 thunderstruck')).toEqual([]);
  });

  it('answers a query of 100 words, from its first 16', async () => {
    const matching = Array.from({ length: 16 }, () => 'thunderstruck');
    const unmatched = Array.from({ length: 84 }, (_, n) => `nowhere${n}`);
    expect(await found([...matching, ...unmatched].join(' '))).toEqual([thunderstruck.id]);
    expect(await found([...unmatched, ...matching].join(' '))).toEqual([]);
  });
});
