import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, utimesSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMixtape, DEMO_TRACKS, type Mixtape } from '../../src/index.js';
import { openSqliteBackends, type SqliteBackends } from '../../src/sqlite.js';
import { serviceTestSettings } from '../support/service-settings.js';

const [stored, lost, unindexed] = DEMO_TRACKS as [typeof DEMO_TRACKS[0], typeof DEMO_TRACKS[0], typeof DEMO_TRACKS[0]];

function blobPath(dataDir: string, key: string) {
  return join(dataDir, 'audio', 'blobs', key.slice(0, 2), key.slice(2, 4), key);
}

describe('Reconciler over the embedded backends', () => {
  let dataDir: string;
  let backends: SqliteBackends;
  let mixtape: Mixtape;
  let orphanKey: string;

  beforeEach(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'mixtape-reconcile-'));
    backends = await openSqliteBackends({ dataDir });
    mixtape = createMixtape(backends, serviceTestSettings({ orphanGraceMs: 60_000 }));
    const { catalog, index, blobs, queue } = backends;
    await catalog.upsert([stored, lost, unindexed]);
    // Two tracks with real files; then one file is deleted behind the catalog's back.
    for (const track of [stored, lost]) {
      const draft = await blobs.begin();
      await draft.write(randomBytes(1000));
      const blob = await draft.commit();
      await catalog.attachAudio(track.id, { blobKey: blob.key, sizeBytes: blob.sizeBytes, contentType: 'audio/wav' });
    }
    // The index catches up with the catalog; then one document is lost behind the outbox's back.
    await mixtape.outboxRelay.flush();
    await index.remove([unindexed.id]);
    unlinkSync(blobPath(dataDir, (await catalog.get(lost.id))!.audio!.blobKey));
    // A file no row points to: old enough to be an orphan, and a fresh one that may be a download in progress.
    const orphan = randomBytes(500);
    orphanKey = createHash('sha256').update(orphan).digest('hex');
    mkdirSync(join(blobPath(dataDir, orphanKey), '..'), { recursive: true });
    writeFileSync(blobPath(dataDir, orphanKey), orphan);
    const old = new Date(Date.now() - 3_600_000);
    utimesSync(blobPath(dataDir, orphanKey), old, old);
    const fresh = randomBytes(400);
    const freshKey = createHash('sha256').update(fresh).digest('hex');
    mkdirSync(join(blobPath(dataDir, freshKey), '..'), { recursive: true });
    writeFileSync(blobPath(dataDir, freshKey), fresh);
    // A document whose row is gone.
    await index.upsert([{ ...stored, id: 'ZZZZZZZZZZZZZZZZZZZZZZ', title: 'Ghost', available: false, version: 1 }]);
    // A job whose worker died holding it.
    await queue.enqueue({ userId: 'u1', trackId: stored.id, maxAttempts: 3, maxActive: 20 });
    expect(await queue.claim('dead-worker', 1)).not.toBeNull();
    await new Promise((resolve) => setTimeout(resolve, 5));
  });

  afterEach(async () => {
    await mixtape.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('finds every kind of inconsistency in a dry run and changes nothing', async () => {
    const report = await mixtape.reconciler.run({ dryRun: true });
    expect(report.dryRun).toBe(true);
    expect(report.checked).toEqual({ files: 3, rows: 3, documents: 3 });
    expect(report.found).toEqual({ orphanFiles: 1, missingFiles: 1, missingDocuments: 1, staleDocuments: 1, stuckJobs: 1 });
    expect(report.repaired).toEqual({ orphanFiles: 0, missingFiles: 0, missingDocuments: 0, staleDocuments: 0, stuckJobs: 0 });
    expect(existsSync(blobPath(dataDir, orphanKey))).toBe(true);
    expect((await backends.catalog.get(lost.id))?.audio).toBeDefined();
  });

  it('repairs them, and a second pass finds nothing', async () => {
    const report = await mixtape.reconciler.run({ dryRun: false });
    expect(report.repaired).toEqual({ orphanFiles: 1, missingFiles: 1, missingDocuments: 1, staleDocuments: 1, stuckJobs: 1 });
    expect(existsSync(blobPath(dataDir, orphanKey))).toBe(false);
    expect((await backends.catalog.get(lost.id))?.audio).toBeUndefined();
    expect((await backends.catalog.get(stored.id))?.audio).toBeDefined();
    expect((await backends.index.search(unindexed.title, { limit: 5, offset: 0 })).items).toContain(unindexed.id);
    expect((await backends.index.search('Ghost', { limit: 5, offset: 0 })).total).toBe(0);
    const [job] = (await backends.queue.list({ limit: 5, offset: 0 })).items;
    expect(job).toMatchObject({ status: 'queued', attempts: 1, error: { code: 'lease-expired' } });
    const repairs = (await mixtape.metrics.reconcilerRepairs.get()).values;
    expect(repairs.reduce((sum, v) => sum + v.value, 0)).toBe(5);

    const again = await mixtape.reconciler.run({ dryRun: false });
    expect(again.found).toEqual({ orphanFiles: 0, missingFiles: 0, missingDocuments: 0, staleDocuments: 0, stuckJobs: 0 });
    expect(again.checked).toEqual({ files: 2, rows: 3, documents: 3 });
  });
});
