import type { TrackCatalog } from '../catalog/track-catalog.js';
import { keysetScan } from '../db/keyset-scan.js';
import { trackLockKey } from '../downloads/track-lock-key.js';
import { UnavailableError } from '../errors.js';
import type { JobQueue } from '../jobs/job-queue.js';
import type { LockManager } from '../locks/lock-manager.js';
import type { OutboxRelay } from '../outbox/outbox-relay.js';
import type { CatalogTrack } from '../model.js';
import type { IndexedDocument, SearchIndex } from '../search/search-index.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { AudioFiles } from '../library/audio-files.js';

export const INCONSISTENCY_KINDS = ['orphanFiles', 'missingFiles', 'missingDocuments', 'staleDocuments', 'stuckJobs'] as const;
export type InconsistencyKind = (typeof INCONSISTENCY_KINDS)[number];
export type InconsistencyCounts = Record<InconsistencyKind, number>;

export interface ReconcileReport {
  startedAt: Date;
  finishedAt: Date;
  dryRun: boolean;
  checked: { files: number; rows: number; documents: number };
  found: InconsistencyCounts;
  repaired: InconsistencyCounts;
}

export interface ReconcilerDeps {
  catalog: TrackCatalog;
  blobs: BlobStore;
  /** Files go through tombstones, unlinked by its sweep once their grace has passed. */
  files: Pick<AudioFiles, 'releaseIfUnused' | 'detach' | 'sweep'>;
  index: SearchIndex;
  /** Documents are repaired through the search outbox, like every other change of the index. */
  searchRepairs: Pick<OutboxRelay, 'reindex' | 'flush'>;
  queue: JobQueue;
  locks: LockManager;
  /** A file with no row is only an orphan once this old: a download may be between its two steps. */
  orphanGraceMs: number;
  batchSize?: number;
  now?: () => Date;
  onRepair?: (kind: InconsistencyKind) => void;
}

const zero = (): InconsistencyCounts => ({ orphanFiles: 0, missingFiles: 0, missingDocuments: 0, staleDocuments: 0, stuckJobs: 0 });

/**
 * Finds where files, catalog rows, search documents and jobs disagree, and repairs it: orphan
 * files are tombstoned (and swept with every tombstone past its grace), rows whose file is
 * gone forget it, the index gains missing documents and rewrites or loses stale ones (through
 * the search outbox, flushed before the run ends), and jobs whose lease ran out are reaped:
 * back to the queue, or failed if spent.
 * Every pass reads in pages, so memory stays flat however large the stores.
 */
export class Reconciler {
  readonly #deps: Required<Omit<ReconcilerDeps, 'onRepair'>> & Pick<ReconcilerDeps, 'onRepair'>;

  constructor(deps: ReconcilerDeps) {
    this.#deps = { batchSize: 500, now: () => new Date(), ...deps };
  }

  async run(options: { dryRun: boolean }): Promise<ReconcileReport> {
    const startedAt = this.#deps.now();
    const report: ReconcileReport = {
      startedAt,
      finishedAt: startedAt,
      dryRun: options.dryRun,
      checked: { files: 0, rows: 0, documents: 0 },
      found: zero(),
      repaired: zero(),
    };
    const tally = async (kind: InconsistencyKind, repair: () => Promise<boolean>) => {
      report.found[kind] += 1;
      if (options.dryRun || !(await repair())) return;
      report.repaired[kind] += 1;
      this.#deps.onRepair?.(kind);
    };
    await this.#files(report, tally);
    if (!options.dryRun) await this.#deps.files.sweep();
    await this.#rows(report, tally);
    await this.#documents(report, options.dryRun);
    await this.#jobs(report, options.dryRun);
    report.finishedAt = this.#deps.now();
    return report;
  }

  async #files(report: ReconcileReport, tally: Tally): Promise<void> {
    const { blobs, catalog, orphanGraceMs } = this.#deps;
    const cutoff = this.#deps.now().getTime() - orphanGraceMs;
    for await (const blob of blobs.list()) {
      report.checked.files += 1;
      if (blob.modifiedAt.getTime() > cutoff) continue;
      if ((await catalog.tracksWithBlob(blob.key)).length > 0) continue;
      // Unused since at least its last write: every commit touches the file.
      await tally('orphanFiles', () => this.#deps.files.releaseIfUnused(blob, { unusedSince: blob.modifiedAt }).catch(leftWhenBusy));
    }
  }

  async #rows(report: ReconcileReport, tally: Tally): Promise<void> {
    const { catalog, blobs, locks, files } = this.#deps;
    for await (const track of this.#catalogTracks()) {
      report.checked.rows += 1;
      if (!track.audio || (await blobs.stat(track.audio.blobKey))) continue;
      const key = track.audio.blobKey;
      // Under the track's lock, and checked again, so a download storing the file now is left alone.
      await tally('missingFiles', () =>
        locks.using([trackLockKey(track.id)], async ({ fencingToken }) => {
          const current = await catalog.get(track.id);
          if (current?.audio?.blobKey !== key || (await blobs.stat(key))) return false;
          await files.detach(track.id, current.audio, { key: trackLockKey(track.id), token: fencingToken });
          return true;
        }).catch(leftWhenBusy),
      );
    }
  }

  /**
   * A merge of two id-ordered scans, catalog rows against index documents. A row without a
   * document is a missing document. A document is stale when the catalog lacks its track (a
   * deletion the index missed, or a late write that brought it back) or holds another version
   * of it (an old copy a lost write left behind). Both are repaired by queueing the track in
   * the search outbox, whose relay writes it from the catalog or removes it, a batch at a time.
   */
  async #documents(report: ReconcileReport, dryRun: boolean): Promise<void> {
    const { searchRepairs, batchSize } = this.#deps;
    // Applies what is only pending (normal lag, and the row pass's repairs), so that it is not
    // counted as drift below. A dry run changes nothing, so it counts such documents too:
    // the backlog is normally seconds long, and queueing them again would be harmless. A
    // failure here leaves them to be counted and queued again, which is harmless as well.
    if (!dryRun) await searchRepairs.flush().catch(() => undefined);
    let suspects: SeenVersions[] = [];
    for await (const pair of mergeById(this.#catalogTracks(), this.#deps.index.documents(batchSize))) {
      if (pair.documentVersion !== null) report.checked.documents += 1;
      if (pair.rowVersion === pair.documentVersion) continue;
      suspects.push(pair);
      if (suspects.length < batchSize) continue;
      await this.#repairDocuments(suspects, report, dryRun);
      suspects = [];
    }
    await this.#repairDocuments(suspects, report, dryRun);
    if (report.repaired.missingDocuments + report.repaired.staleDocuments > 0) await searchRepairs.flush();
  }

  /**
   * Counts, and unless a dry run repairs, the suspects that still disagree with the catalog
   * read again now: the two scans are not one snapshot, so a track added or changed between
   * them can look drifted without being so.
   */
  async #repairDocuments(suspects: SeenVersions[], report: ReconcileReport, dryRun: boolean): Promise<void> {
    if (suspects.length === 0) return;
    const { catalog, searchRepairs, onRepair } = this.#deps;
    const versions = new Map((await catalog.getMany(suspects.map((s) => s.id))).map((track) => [track.id, track.version]));
    const drifted = suspects.filter((s) => (versions.get(s.id) ?? null) !== s.documentVersion);
    const kindOf = (drift: SeenVersions): InconsistencyKind => (drift.documentVersion === null ? 'missingDocuments' : 'staleDocuments');
    for (const drift of drifted) report.found[kindOf(drift)] += 1;
    if (dryRun || drifted.length === 0) return;
    await searchRepairs.reindex(drifted.map((drift) => drift.id));
    for (const drift of drifted) {
      report.repaired[kindOf(drift)] += 1;
      onRepair?.(kindOf(drift));
    }
  }

  /**
   * Jobs whose worker stopped renewing its lease. Taking them back is the queue's own reaping,
   * which processes with workers also run on a timer; a dry run only counts them.
   */
  async #jobs(report: ReconcileReport, dryRun: boolean): Promise<void> {
    const { queue } = this.#deps;
    if (!dryRun) {
      const reaped = await queue.reapExpired();
      const count = reaped.requeued + reaped.failed;
      report.found.stuckJobs += count;
      report.repaired.stuckJobs += count;
      for (let i = 0; i < count; i += 1) this.#deps.onRepair?.('stuckJobs');
      return;
    }
    const now = this.#deps.now();
    for (let offset = 0; ; offset += this.#deps.batchSize) {
      const page = await queue.list({ status: 'running', limit: this.#deps.batchSize, offset });
      report.found.stuckJobs += page.items.filter((job) => job.lease && job.lease.expiresAt <= now).length;
      if (offset + page.items.length >= page.total || page.items.length === 0) break;
    }
  }

  #catalogTracks() {
    const { catalog, batchSize } = this.#deps;
    return keysetScan((afterId, limit) => catalog.scan(afterId, limit), batchSize);
  }
}

/** One id as the two scans saw it; a version is null where that side lacks the track. */
interface SeenVersions {
  id: string;
  rowVersion: number | null;
  documentVersion: number | null;
}

/** Catalog rows and index documents, both in id order, paired by id. */
async function* mergeById(rows: AsyncIterable<CatalogTrack>, documents: AsyncIterable<IndexedDocument>): AsyncGenerator<SeenVersions> {
  const rowCursor = rows[Symbol.asyncIterator]();
  const documentCursor = documents[Symbol.asyncIterator]();
  let row = await rowCursor.next();
  let document = await documentCursor.next();
  while (!row.done || !document.done) {
    if (document.done || (!row.done && row.value.id < document.value.id)) {
      yield { id: row.value!.id, rowVersion: row.value!.version, documentVersion: null };
      row = await rowCursor.next();
    } else if (row.done || document.value.id < row.value.id) {
      yield { id: document.value.id, rowVersion: null, documentVersion: document.value.version };
      document = await documentCursor.next();
    } else {
      yield { id: row.value.id, rowVersion: row.value.version, documentVersion: document.value.version };
      row = await rowCursor.next();
      document = await documentCursor.next();
    }
  }
}

type Tally = (kind: InconsistencyKind, repair: () => Promise<boolean>) => Promise<void>;

/** A key held past the lock's wait timeout (a download in progress) is left for the next run. */
function leftWhenBusy(error: unknown): false {
  if (error instanceof UnavailableError) return false;
  throw error;
}
