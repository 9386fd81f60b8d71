import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AudioFiles, OutboxRelay, Reconciler, type ReconcilerDeps, type TrackMetadata } from '../../src/index.js';
import { openSqliteBackends, type SqliteBackends } from '../../src/sqlite.js';

const track = (id: string, title: string): TrackMetadata => ({ id, title, artists: ['Band'], album: 'Album', durationMs: 1000 });
const first = track('0VersionFirst000000000', 'Firstold Song');
const second = track('0VersionSecond00000000', 'Secondold Song');

describe('Reconciler comparing document versions with the catalog', () => {
  let dataDir: string;
  let backends: SqliteBackends;
  let relay: OutboxRelay;

  const reconciler = (deps: Partial<ReconcilerDeps> = {}) => {
    const { catalog, blobs, index, queue, locks } = backends;
    const files = new AudioFiles({ catalog, blobs, ledger: backends.blobLedger, locks });
    return new Reconciler({ catalog, blobs, files, index, searchRepairs: relay, queue, locks, orphanGraceMs: 60_000, ...deps });
  };
  const titled = async (query: string) => (await backends.index.search(query, { limit: 10, offset: 0 })).items;
  const indexed = async () => {
    const documents = [];
    for await (const { id, version } of backends.index.documents(10)) documents.push({ id, version });
    return documents;
  };

  beforeEach(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'mixtape-reconcile-versions-'));
    backends = await openSqliteBackends({ dataDir });
    relay = new OutboxRelay({ outbox: backends.searchOutbox, catalog: backends.catalog, index: backends.index });
  });

  afterEach(async () => {
    await relay.close();
    await backends.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('finds a document older than its track in a dry run, changing nothing, and rewrites it in a real run', async () => {
    const { catalog, index } = backends;
    await catalog.upsert([first, second]);
    await catalog.upsert([{ ...first, title: 'Firstnew Song' }]);
    await relay.flush();
    // A lost write: the index went back to the track's first version.
    await index.remove([first.id]);
    await index.upsert([{ ...first, available: false, version: 1 }]);
    // Normal lag: a change the outbox holds and the relay has not applied yet.
    await catalog.upsert([{ ...second, title: 'Secondnew Song' }]);
    const before = await indexed();

    const dry = await reconciler().run({ dryRun: true });
    // A dry run applies nothing, so the pending change counts too: harmless to queue again.
    expect(dry.found).toMatchObject({ staleDocuments: 2, missingDocuments: 0 });
    expect(dry.repaired.staleDocuments).toBe(0);
    expect(await indexed()).toEqual(before);
    expect(await titled('Firstold')).toEqual([first.id]);

    const real = await reconciler().run({ dryRun: false });
    // The pending change is applied before comparing, so only the lost write counts.
    expect(real.found).toMatchObject({ staleDocuments: 1, missingDocuments: 0 });
    expect(real.repaired.staleDocuments).toBe(1);
    expect(await titled('Firstnew')).toEqual([first.id]);
    expect(await titled('Firstold')).toEqual([]);
    expect(await titled('Secondnew')).toEqual([second.id]);

    const again = await reconciler().run({ dryRun: false });
    expect(again.found).toMatchObject({ staleDocuments: 0, missingDocuments: 0 });
  });

  it('queues repairs a batch at a time, not one call per document', async () => {
    const ghosts = Array.from({ length: 5 }, (_, i) => ({ ...track(`0VersionGhost${i}00000000`, `Ghost ${i}`), available: false, version: 1 }));
    await backends.index.upsert(ghosts);
    const reindex = vi.spyOn(relay, 'reindex');

    const report = await reconciler({ batchSize: 2 }).run({ dryRun: false });
    expect(report.repaired.staleDocuments).toBe(5);
    expect(reindex.mock.calls.map(([ids]) => ids.length)).toEqual([2, 2, 1]);
    expect(await indexed()).toEqual([]);
  });

  it('does not count a track the catalog gained while the index was read', async () => {
    const { catalog } = backends;
    await catalog.upsert([first, second]);
    await relay.flush();
    // The catalog's scan passed this id before the track arrived; its document came after.
    const scan = catalog.scan.bind(catalog);
    vi.spyOn(catalog, 'scan').mockImplementation(async (after, limit) => (await scan(after, limit)).filter((row) => row.id !== second.id));
    const reindex = vi.spyOn(relay, 'reindex');

    const report = await reconciler().run({ dryRun: false });
    expect(report.found).toMatchObject({ staleDocuments: 0, missingDocuments: 0 });
    expect(reindex).not.toHaveBeenCalled();
  });
});
