import { describe, expect, it } from 'vitest';
import { clusterStatus } from './local-elasticsearch.js';
import { deletePrefixedIndices } from './prefixed-indices.js';
import { proxiedElasticsearch, sharedElasticsearchProcess, sharedElasticsearchUrl, uniqueIndexName } from './shared-elasticsearch.js';

const put = (url: string, path: string, body: unknown) =>
  fetch(`${url}${path}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('the shared Elasticsearch', () => {
  it('answers with a usable cluster', async () => {
    expect(await clusterStatus(sharedElasticsearchUrl(), 10_000)).toMatch(/^(green|yellow)$/);
  });

  it('hands out index names that differ, under the run prefix, in lower case', () => {
    const [first, second] = [uniqueIndexName(), uniqueIndexName('My Label!')];
    expect(first).not.toBe(second);
    expect(first).toMatch(/^mixtape-test-[0-9a-f]{8}-[0-9a-f]{8}$/);
    expect(second.startsWith(first.slice(0, 'mixtape-test-12345678-'.length))).toBe(true);
    expect(second).toMatch(/-my-label-[0-9a-f]{8}$/);
  });

  it('deletes the indices and aliases under a prefix, and nothing else', async () => {
    const url = sharedElasticsearchUrl();
    const prefix = `${uniqueIndexName('cleanup')}-`;
    const bystander = uniqueIndexName('bystander');
    expect((await put(url, `/${prefix}a`, { aliases: { [`${prefix}alias`]: {} } })).ok).toBe(true);
    expect((await put(url, `/${prefix}b`, {})).ok).toBe(true);
    expect((await put(url, `/${bystander}`, { aliases: { [`${prefix}on-bystander`]: {} } })).ok).toBe(true);

    expect((await deletePrefixedIndices(url, prefix)).sort()).toEqual([`${prefix}a`, `${prefix}b`]);

    const left = (await (await fetch(`${url}/_resolve/index/${prefix}*,${bystander}`)).json()) as { indices: unknown[]; aliases: unknown[] };
    expect(left.aliases).toEqual([]);
    expect(left.indices).toEqual([expect.objectContaining({ name: bystander })]);
    await fetch(`${url}/${bystander}`, { method: 'DELETE' });
  });

  it('can be reached through a proxy of the test own, which a test can cut', async () => {
    const { url, proxy } = await proxiedElasticsearch();
    try {
      expect(await clusterStatus(url, 10_000)).toMatch(/^(green|yellow)$/);
      await proxy.cut('blackhole');
      expect(await clusterStatus(url, 500)).toBeNull();
      await proxy.restore();
      expect(await clusterStatus(url, 10_000)).toMatch(/^(green|yellow)$/);
    } finally {
      await proxy.close();
    }
  });

  it('keeps its process out of reach of files that run in parallel', () => {
    expect(() => sharedElasticsearchProcess()).toThrow(/serial/);
  });
});
