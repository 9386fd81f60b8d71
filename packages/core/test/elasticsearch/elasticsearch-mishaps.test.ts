import { Client } from '@elastic/elasticsearch';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { openElasticsearchBackends, versionedIndexName } from '../../src/elasticsearch.js';
import { UnavailableError } from '../../src/errors.js';
import type { MixtapeBackends } from '../../src/mixtape.js';
import type { TrackMetadata } from '../../src/model.js';
import { OutboxRelay } from '../../src/outbox/outbox-relay.js';
import { TrackSearch } from '../../src/search/track-search.js';
import { openSqliteBackends, type SqliteBackends } from '../../src/sqlite.js';
import { sharedElasticsearchUrl, uniqueIndexName } from './shared-elasticsearch.js';

/**
 * What an operator can do to the index by hand, on the shared node: remove its alias, delete
 * it, close it or block its writes. Each test is one deployment (SQLite behind Elasticsearch,
 * as `openElasticsearchBackends` builds it) with an alias of its own.
 */

/** Distinct words, so that a search can pick out one track. */
const WORDS = [
  'alfa', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliett', 'kilo', 'lima', 'mike',
  'november', 'oscar', 'papa', 'quebec', 'romeo', 'sierra', 'tango', 'uniform', 'victor', 'whiskey', 'xray', 'yankee',
] as const;
const CATALOG_SIZE = WORDS.length;

const tracks: TrackMetadata[] = WORDS.map((word, i) => ({
  id: `0Mishap${String(i).padStart(15, '0')}`,
  title: `Mishap ${word}`,
  artists: ['The Operators'],
  album: 'By Hand',
  durationMs: 1000 + i,
}));
const oldTrack = tracks[16]!; // quebec
const page = { limit: 5, offset: 0 };

interface Deployment {
  alias: string;
  concrete: string;
  sqlite: SqliteBackends;
  backends: MixtapeBackends;
  relay: OutboxRelay;
  search: TrackSearch;
  /** What the relay told its onError. */
  relayErrors: unknown[];
}

const client = new Client({ node: sharedElasticsearchUrl() });
const opened: Array<{ dataDir: string; sqlite: SqliteBackends; deployment?: Deployment }> = [];

/** SQLite backends in a fresh data dir, holding `tracks` in the catalog (their changes still in the outbox). */
async function openSqlite(): Promise<{ dataDir: string; sqlite: SqliteBackends }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'mixtape-es-mishaps-'));
  const sqlite = await openSqliteBackends({ dataDir });
  opened.push({ dataDir, sqlite });
  await sqlite.catalog.upsert(tracks);
  return { dataDir, sqlite };
}

function deploy(sqlite: SqliteBackends, dataDir: string, label: string): Deployment {
  const alias = uniqueIndexName(label);
  const backends = openElasticsearchBackends(sqlite, { url: sharedElasticsearchUrl(), alias, searchTimeoutMs: 5000, writeTimeoutMs: 5000, refreshOnWrite: true });
  const relayErrors: unknown[] = [];
  const relay = new OutboxRelay({
    outbox: backends.searchOutbox,
    catalog: backends.catalog,
    index: backends.index,
    onError: (error) => relayErrors.push(error),
  });
  const search = new TrackSearch({ index: backends.index, ...(backends.searchFallback ? { fallback: backends.searchFallback } : {}), catalog: backends.catalog });
  const deployment: Deployment = { alias, concrete: versionedIndexName(alias), sqlite, backends, relay, search, relayErrors };
  opened.find((o) => o.dataDir === dataDir)!.deployment = deployment;
  return deployment;
}

/** A deployment whose whole catalog is already in Elasticsearch. */
async function relayedDeployment(label: string): Promise<Deployment> {
  const { dataDir, sqlite } = await openSqlite();
  const deployment = deploy(sqlite, dataDir, label);
  expect(await deployment.relay.flush()).toEqual({ applied: CATALOG_SIZE, failed: 0 });
  expect(await documentCount(deployment)).toBe(CATALOG_SIZE);
  return deployment;
}

async function documentCount({ alias }: Deployment): Promise<number> {
  await client.indices.refresh({ index: alias });
  return (await client.count({ index: alias })).count;
}

/** Every index, concrete, whose name starts with the alias: the versioned one, and any other made by mistake. */
async function indicesNamedLike({ alias }: Deployment): Promise<string[]> {
  const rows = await client.cat.indices({ index: `${alias}*`, format: 'json', h: 'index' });
  return rows.map((row) => row.index!).sort();
}

/** A new title for each track: a change per track in the outbox. */
async function retitleAll({ backends }: Deployment, suffix: string): Promise<void> {
  await backends.catalog.upsert(tracks.map((track) => ({ ...track, title: `${track.title} ${suffix}` })));
}

afterEach(async () => {
  for (const { dataDir, sqlite, deployment } of opened.splice(0)) {
    if (deployment) {
      await deployment.relay.close();
      await deployment.backends.close();
      // By name: the node refuses wildcard deletes.
      const left = await indicesNamedLike(deployment);
      if (left.length > 0) await client.indices.delete({ index: left });
    } else {
      await sqlite.close();
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
});

afterAll(() => client.close());

describe('Elasticsearch after an operator removes the alias by hand', () => {
  it('puts the alias back on its index: searches answer from it again after a degraded one or two', async () => {
    const deployment = await relayedDeployment('alias-removed-search');
    const { alias, concrete, search } = deployment;
    await client.indices.deleteAlias({ index: concrete, name: alias });

    const answers: boolean[] = [];
    let found;
    for (let tries = 0; tries < 3; tries++) {
      found = await search.search(oldTrack.title, page);
      answers.push(found.degraded);
      if (!found.degraded) break;
    }
    expect(answers.filter((degraded) => degraded).length).toBeLessThanOrEqual(2);
    expect(found).toMatchObject({ degraded: false });
    expect(found!.items[0]?.id).toBe(oldTrack.id);

    const aliases = await client.indices.getAlias({ name: alias });
    expect(Object.keys(aliases)).toEqual([concrete]);
    expect(aliases[concrete]?.aliases[alias]).toMatchObject({ is_write_index: true });
    // The index kept its documents: nothing is queued to fill it again.
    expect((await deployment.backends.searchOutbox.backlog()).pending).toBe(0);
  });

  it('lands the next write in the same index, with no index named after the alias', async () => {
    const deployment = await relayedDeployment('alias-removed-write');
    const { alias, concrete, relay, backends } = deployment;
    await client.indices.deleteAlias({ index: concrete, name: alias });

    await backends.catalog.upsert([{ ...oldTrack, title: 'Mishap quebec reprise' }]);
    expect(await relay.flush()).toEqual({ applied: 1, failed: 0 });

    const written = await client.get({ index: concrete, id: oldTrack.id, _source: ['title'] });
    expect(written._source).toEqual({ title: 'Mishap quebec reprise' });
    expect(written._version).toBe((await backends.catalog.get(oldTrack.id))!.version);
    expect(await indicesNamedLike(deployment)).toEqual([concrete]);
    // The alias's name resolves to the versioned index, not to an index of its own.
    expect(Object.keys(await client.indices.get({ index: alias }))).toEqual([concrete]);
    expect(await documentCount(deployment)).toBe(CATALOG_SIZE);
    expect((await backends.searchOutbox.backlog()).pending).toBe(0);
  });
});

describe('Elasticsearch after an operator deletes the index by hand', () => {
  it('creates it again at the next relay pass and fills it with the whole catalog, not just the change', async () => {
    const deployment = await relayedDeployment('index-deleted');
    const { concrete, relay, backends, search } = deployment;
    await client.indices.delete({ index: concrete });

    const changed = tracks[0]!;
    await backends.catalog.upsert([{ ...changed, title: 'Mishap alfa encore' }]);
    expect(await relay.flush()).toEqual({ applied: 1, failed: 0 });
    expect(await indicesNamedLike(deployment)).toEqual([concrete]);
    // Not filled yet: the database answers, saying so, rather than the new index with one document.
    await vi.waitFor(async () => expect((await backends.searchOutbox.backlog()).pending).toBeGreaterThan(0), { timeout: 5000, interval: 20 });
    const meanwhile = await search.search(oldTrack.title, page);
    expect(meanwhile).toMatchObject({ degraded: true });
    expect(meanwhile.items[0]?.id).toBe(oldTrack.id);

    // The catalog is queued for the new index as it is created, alongside that pass: the next ones write it.
    await vi.waitFor(
      async () => {
        await relay.flush();
        expect(await documentCount(deployment)).toBe(CATALOG_SIZE);
      },
      { timeout: 10_000, interval: 100 },
    );
    expect((await backends.searchOutbox.backlog()).pending).toBe(0);
    const found = await search.search(oldTrack.title, page);
    expect(found).toMatchObject({ degraded: false });
    expect(found.items[0]?.id).toBe(oldTrack.id);
    expect((await client.get({ index: concrete, id: changed.id, _source: ['title'] }))._source).toEqual({ title: 'Mishap alfa encore' });
  });
});

describe('Elasticsearch first used by a deployment whose catalog already holds tracks', () => {
  it('queues the whole catalog when the index is created, and a flush fills it', async () => {
    const { dataDir, sqlite } = await openSqlite();
    // The deployment ran on SQLite alone until now: its own index is in step, its outbox empty.
    expect(await new OutboxRelay({ outbox: sqlite.searchOutbox, catalog: sqlite.catalog, index: sqlite.index }).flush()).toEqual({ applied: CATALOG_SIZE, failed: 0 });
    expect((await sqlite.searchOutbox.backlog()).pending).toBe(0);

    const deployment = deploy(sqlite, dataDir, 'first-use');
    await deployment.search.search(oldTrack.title, page);
    expect(await indicesNamedLike(deployment)).toEqual([deployment.concrete]);

    await vi.waitFor(async () => expect((await deployment.backends.searchOutbox.backlog()).pending).toBe(CATALOG_SIZE), { timeout: 5000, interval: 50 });
    expect(await deployment.relay.flush()).toEqual({ applied: CATALOG_SIZE, failed: 0 });
    expect(await documentCount(deployment)).toBe(CATALOG_SIZE);
    const found = await deployment.search.search(oldTrack.title, page);
    expect(found).toMatchObject({ degraded: false });
    expect(found.items[0]?.id).toBe(oldTrack.id);
  });
});

describe('Elasticsearch refusing writes for the whole index', () => {
  const refusals = [
    {
      name: 'closed',
      refuse: (index: string) => client.indices.close({ index }),
      allow: (index: string) => client.indices.open({ index, wait_for_active_shards: 1 }),
    },
    {
      name: 'write-blocked',
      refuse: (index: string) => client.indices.putSettings({ index, settings: { 'index.blocks.write': true } }),
      allow: (index: string) => client.indices.putSettings({ index, settings: { 'index.blocks.write': null } }),
    },
  ];

  it.each(refusals)('waits out an index $name as an outage: no change counts an attempt, and all apply once it is lifted', async ({ name, refuse, allow }) => {
    const deployment = await relayedDeployment(`index-${name}`);
    const { concrete, relay, backends, relayErrors } = deployment;
    await retitleAll(deployment, 'remastered');
    await refuse(concrete);
    try {
      expect(await relay.flush()).toEqual({ applied: 0, failed: 0 });
      const pending = await backends.searchOutbox.due(new Date(), 100);
      expect(pending).toHaveLength(CATALOG_SIZE);
      expect(pending.every((change) => change.attempts === 0)).toBe(true);
      expect(relayErrors.length).toBeGreaterThan(0);
      expect(relayErrors.every((error) => error instanceof UnavailableError)).toBe(true);
    } finally {
      await allow(concrete);
    }

    expect(await relay.flush()).toEqual({ applied: CATALOG_SIZE, failed: 0 });
    expect((await backends.searchOutbox.backlog()).pending).toBe(0);
    expect(await documentCount(deployment)).toBe(CATALOG_SIZE);
    const found = await deployment.search.search(`${oldTrack.title} remastered`, page);
    expect(found).toMatchObject({ degraded: false });
    expect(found.items[0]?.id).toBe(oldTrack.id);
  });
});
