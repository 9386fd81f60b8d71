import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMixtape, type Mixtape } from '../../src/index.js';
import type { MixtapeBackends } from '../../src/mixtape.js';
import type { TrackMetadata } from '../../src/model.js';
import type { InconsistencyCounts } from '../../src/consistency/reconciler.js';
import type { IndexedDocument, TrackDocument } from '../../src/search/search-index.js';
import { serviceTestSettings } from '../support/service-settings.js';

/**
 * A deployment to plant drift in. Everything the ports allow is planted through them; the
 * rest, which only a lost write or time brings about, the harness does in its backend's terms.
 */
export interface ReconcilerDriftHarness {
  /** Empty backends of one deployment. The suite builds a Mixtape over them, whose `close` closes them. */
  backends: MixtapeBackends;
  /** Writes this document as it is, whatever version the index holds: what a lost or a late write leaves. */
  plantDocument(document: TrackDocument): Promise<void>;
  /** Moves a stored file's modification time `ms` into the past. */
  ageBlob(key: string, ms: number): Promise<void>;
  /** Waits until index writes are visible to searches and scans (a refresh for Elasticsearch); may do nothing. */
  settle(): Promise<void>;
  /** Releases what the harness holds besides the backends (a temp dir, an index); called after the Mixtape's close. */
  close(): Promise<void>;
}

const DAY = 24 * 3_600_000;

const track = (id: string, title: string): TrackMetadata => ({ id, title, artists: ['Drifters'], album: 'Plantings', durationMs: 1000 });

const deleted = track('0DriftDeleted000000000', 'Vanished Anthem');
const outdated = track('0DriftOutdated00000000', 'Oldname Ballad');
const renamed = { ...outdated, title: 'Newname Ballad' };
const ghost = track('0DriftGhost00000000000', 'Ghostly Reel');
const kept = track('0DriftKept000000000000', 'Steady Hymn');
const lost = track('0DriftLost000000000000', 'Hollow March');

const counts = (found: Partial<InconsistencyCounts>): InconsistencyCounts => ({
  orphanFiles: 0,
  missingFiles: 0,
  missingDocuments: 0,
  staleDocuments: 0,
  stuckJobs: 0,
  ...found,
});

/**
 * The reconciler against drift planted in each store of a deployment: a track whose document
 * is gone, a document older than its track, a document whose track is gone, a file no row
 * uses and a row whose file is gone. A dry run finds each and changes nothing; a real run
 * mends each; a second run finds nothing.
 */
export function describeReconcilerDrift(name: string, open: () => Promise<ReconcilerDriftHarness>): void {
  describe(`Reconciler against planted drift over ${name}`, () => {
    let harness: ReconcilerDriftHarness;
    let mixtape: Mixtape;
    let orphanKey: string;

    const storeBlob = async (bytes: number) => {
      const draft = await harness.backends.blobs.begin();
      await draft.write(randomBytes(bytes));
      return draft.commit();
    };

    const found = async (query: string) => {
      await harness.settle();
      return (await harness.backends.index.search(query, { limit: 10, offset: 0 })).items;
    };

    /** Every store as it stands, to show that a dry run changed nothing. */
    const snapshot = async () => {
      await harness.settle();
      const { index, catalog, blobs } = harness.backends;
      const documents: IndexedDocument[] = [];
      for await (const { id, version } of index.documents(2)) documents.push({ id, version });
      const rows = (await catalog.scan(null, 100)).map(({ id, version, audio }) => ({ id, version, audio }));
      const files: string[] = [];
      for await (const blob of blobs.list()) files.push(blob.key);
      return { documents, rows, files: files.sort() };
    };

    beforeEach(async () => {
      harness = await open();
      mixtape = createMixtape(harness.backends, serviceTestSettings({ orphanGraceMs: 60_000 }));
      const { catalog, index, blobs } = harness.backends;
      // A consistent deployment first: every track indexed, two of them with files.
      await catalog.upsert([deleted, outdated, kept, lost]);
      await catalog.upsert([renamed]);
      for (const { id } of [kept, lost]) {
        const blob = await storeBlob(1000);
        await catalog.attachAudio(id, { blobKey: blob.key, sizeBytes: blob.sizeBytes, contentType: 'audio/wav' });
      }
      await mixtape.outboxRelay.flush();

      // Then the drift, each behind the back of what keeps the stores in step.
      await index.remove([deleted.id]);
      const current = (await catalog.get(outdated.id))!;
      await harness.plantDocument({ ...outdated, available: false, version: current.version - 1 });
      await harness.plantDocument({ ...ghost, available: false, version: 1 });
      await blobs.delete((await catalog.get(lost.id))!.audio!.blobKey);
      orphanKey = (await storeBlob(500)).key;
      await harness.ageBlob(orphanKey, DAY);
      await harness.settle();
    });

    afterEach(async () => {
      await mixtape?.close();
      await harness?.close();
    });

    const planted = counts({ orphanFiles: 1, missingFiles: 1, missingDocuments: 1, staleDocuments: 2 });

    it('a dry run finds each planted inconsistency and changes nothing', async () => {
      const before = await snapshot();
      expect(before.documents.map((d) => d.id)).toEqual([ghost.id, kept.id, lost.id, outdated.id].sort());

      const report = await mixtape.reconciler.run({ dryRun: true });
      expect(report.found).toEqual(planted);
      expect(report.repaired).toEqual(counts({}));
      expect(await snapshot()).toEqual(before);
      expect(await found('Oldname')).toEqual([outdated.id]);
      expect(await found('Ghostly')).toEqual([ghost.id]);
    });

    it('a real run mends each one, and a second run finds nothing', async () => {
      const report = await mixtape.reconciler.run({ dryRun: false });
      expect(report.found).toEqual(planted);
      expect(report.repaired).toEqual(planted);

      expect(await found('Vanished')).toEqual([deleted.id]);
      expect(await found('Newname')).toEqual([outdated.id]);
      expect(await found('Oldname')).toEqual([]);
      expect(await found('Ghostly')).toEqual([]);
      const { catalog, blobs } = harness.backends;
      expect(await blobs.stat(orphanKey)).toBeNull();
      expect((await catalog.get(lost.id))?.audio).toBeUndefined();
      expect((await catalog.get(kept.id))?.audio).toBeDefined();
      // The index now holds every track at the catalog's version.
      const after = await snapshot();
      expect(after.documents).toEqual(after.rows.map(({ id, version }) => ({ id, version })));

      const repairs = (await mixtape.metrics.reconcilerRepairs.get()).values;
      const byKind = Object.fromEntries(repairs.map(({ labels, value }) => [labels.kind, value]));
      expect(byKind).toEqual({ orphanFiles: 1, missingFiles: 1, missingDocuments: 1, staleDocuments: 2 });

      const again = await mixtape.reconciler.run({ dryRun: false });
      expect(again.found).toEqual(counts({}));
      expect(again.repaired).toEqual(counts({}));
    });
  });
}
