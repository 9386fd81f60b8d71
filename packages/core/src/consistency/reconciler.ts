import type { TrackCatalog } from '../catalog/track-catalog.js';
import { trackLockKey } from '../downloads/track-lock-key.js';
import { UnavailableError } from '../errors.js';
import type { JobQueue } from '../jobs/job-queue.js';
import type { LockManager } from '../locks/lock-manager.js';
import type { OutboxRelay } from '../outbox/outbox-relay.js';
import type { SearchIndex } from '../search/search-index.js';
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
 * files are tombstoned (and swept with every tombstone past its grace), rows whose file is gone forget it, the index gains missing documents and
 * loses stale ones (through the search outbox, flushed before the run ends), and jobs whose
 * lease ran out are reaped: back to the queue, or failed if spent.
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
    await this.#documents(report, tally);
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

  /** A merge of two id-ordered scans: catalog rows against index documents. */
  async #documents(report: ReconcileReport, tally: Tally): Promise<void> {
    const { catalog, searchRepairs } = this.#deps;
    const rows = this.#catalogTracks()[Symbol.asyncIterator]();
    const documents = this.#indexIds()[Symbol.asyncIterator]();
    let row = await rows.next();
    let document = await documents.next();
    while (!row.done || !document.done) {
      if (document.done || (!row.done && row.value.id < document.value)) {
        const track = row.value!;
        await tally('missingDocuments', async () => {
          await searchRepairs.reindex([track.id]);
          return true;
        });
        row = await rows.next();
      } else if (row.done || document.value < row.value.id) {
        report.checked.documents += 1;
        const id = document.value;
        await tally('staleDocuments', async () => {
          if (await catalog.get(id)) return false;
          await searchRepairs.reindex([id]);
          return true;
        });
        document = await documents.next();
      } else {
        report.checked.documents += 1;
        row = await rows.next();
        document = await documents.next();
      }
    }
    if (report.repaired.missingDocuments + report.repaired.staleDocuments > 0) await searchRepairs.flush();
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
    return keysetScan((after) => catalog.scan(after, batchSize), (track) => track.id, batchSize);
  }

  #indexIds() {
    const { index, batchSize } = this.#deps;
    return keysetScan((after) => index.scanIds(after, batchSize), (id) => id, batchSize);
  }
}

/** Every item of a keyset-paginated store, a page at a time. */
async function* keysetScan<T>(page: (after: string | null) => Promise<T[]>, keyOf: (item: T) => string, pageSize: number) {
  for (let after: string | null = null; ; ) {
    const items = await page(after);
    yield* items;
    const last = items.at(-1);
    if (items.length < pageSize || last === undefined) return;
    after = keyOf(last);
  }
}

type Tally = (kind: InconsistencyKind, repair: () => Promise<boolean>) => Promise<void>;

/** A key held past the lock's wait timeout (a download in progress) is left for the next run. */
function leftWhenBusy(error: unknown): false {
  if (error instanceof UnavailableError) return false;
  throw error;
}
