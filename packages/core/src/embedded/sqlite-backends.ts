import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { SqliteRevocationList } from '../auth/sqlite-revocation-list.js';
import { SqliteTokenStore } from '../auth/sqlite-token-store.js';
import { SqliteTrackCatalog } from '../catalog/sqlite-track-catalog.js';
import { migrateSqlite, openSqliteDatabase, pendingSqliteMigrations, type SqliteDatabase } from '../db/sqlite-database.js';
import { MixtapeError, NotFoundError } from '../errors.js';
import { diskHealthCheck } from '../health/disk-health-check.js';
import { searchHealthCheck } from '../health/search-health-check.js';
import { sqliteHealthCheck } from '../health/sqlite-health-check.js';
import { SqliteTaskLeases } from '../housekeeping/sqlite-task-leases.js';
import { SqliteJobQueue } from '../jobs/sqlite-job-queue.js';
import { SqliteLibraryStore } from '../library/sqlite-library-store.js';
import { openSqliteLockConnection, SqliteLockManager } from '../locks/sqlite-lock-manager.js';
import { DemoMetadataProvider } from '../metadata/demo-metadata-provider.js';
import type { TrackMetadataProvider } from '../metadata/track-metadata-provider.js';
import type { MixtapeBackends } from '../mixtape.js';
import { SqliteSearchOutbox } from '../outbox/sqlite-search-outbox.js';
import { MemoryRateLimitStores } from '../ratelimit/memory-rate-limit-store.js';
import { SqliteSearchIndex } from '../search/sqlite-search-index.js';
import { DemoTrackSource } from '../sources/demo-track-source.js';
import type { TrackSource } from '../sources/track-source.js';
import { LocalBlobStore } from '../storage/local-blob-store.js';
import { SqliteBlobLedger } from '../storage/sqlite-blob-ledger.js';
import { SqliteUserStore } from '../users/sqlite-user-store.js';

export interface SqliteBackendsOptions {
  /** Holds `mixtape.db`, and the stored audio unless `storageDir` says otherwise. */
  dataDir: string;
  /** Stored audio and its temp files (default `${dataDir}/audio`); may be a volume shared by instances. */
  storageDir?: string;
  /** Apply pending migrations (default), or refuse to start while any is pending. */
  migrate?: boolean;
  /**
   * Look, never touch: the database must exist and is opened read-only, no migration is
   * applied (pending ones are reported in `pendingMigrations`), no directory is created and no
   * temp file is swept. Adapters refuse every write. For dry runs.
   */
  readOnly?: boolean;
  metadata?: TrackMetadataProvider;
  source?: TrackSource;
  /** How soon a logout in another process sharing the data dir takes effect here (default 1 s). */
  revocationPollMs?: number;
}

export interface SqliteBackends extends MixtapeBackends {
  db: SqliteDatabase;
  /** Migrations not applied to this database: only ever non-empty when opened `readOnly`. */
  pendingMigrations: number[];
}

/**
 * The embedded backends, which need no server: SQLite (with FTS5 for search, and a lock table),
 * files under the data dir, and in-process rate limits. One process, or several sharing one
 * data dir: the queue, the locks and storage are shared by all of them; rate limits stay per
 * process.
 */
export async function openSqliteBackends(options: SqliteBackendsOptions): Promise<SqliteBackends> {
  const readOnly = options.readOnly ?? false;
  const dbPath = join(options.dataDir, 'mixtape.db');
  const storageDir = options.storageDir ?? join(options.dataDir, 'audio');
  if (readOnly && !existsSync(dbPath)) throw new NotFoundError(`There is no database at ${dbPath}`);
  if (!readOnly) await mkdir(options.dataDir, { recursive: true });
  const db = openSqliteDatabase(dbPath, { readOnly });
  try {
    let pendingMigrations = pendingSqliteMigrations(db);
    // Read-only, they are reported and left alone: the caller decides whether an older schema will do.
    if (!readOnly && pendingMigrations.length > 0) {
      if (options.migrate === false) {
        throw new MixtapeError('ERR_CONFIG', `Database migrations ${pendingMigrations.join(', ')} are pending: run \`mixtape migrate\``);
      }
      migrateSqlite(db);
      pendingMigrations = [];
    }
    const blobs = new LocalBlobStore({ root: storageDir, readOnly });
    await blobs.start();
    const rateLimitStores = new MemoryRateLimitStores();
    const index = new SqliteSearchIndex(db);
    const revocations = new SqliteRevocationList(db, {
      ...(options.revocationPollMs === undefined ? {} : { pollIntervalMs: options.revocationPollMs }),
    });
    await revocations.start();
    // Locks have a connection of their own, with a busy timeout of a few ms: they wait by polling.
    const lockDb = readOnly ? db : openSqliteLockConnection(dbPath);
    let closed = false;
    return {
      db,
      pendingMigrations,
      users: new SqliteUserStore(db),
      tokens: new SqliteTokenStore(db),
      revocations,
      catalog: new SqliteTrackCatalog(db),
      library: new SqliteLibraryStore(db),
      queue: new SqliteJobQueue(db),
      index,
      searchOutbox: new SqliteSearchOutbox(db),
      blobs,
      tempFiles: blobs,
      blobLedger: new SqliteBlobLedger(db),
      locks: new SqliteLockManager(lockDb),
      rateLimitStores,
      metadata: options.metadata ?? new DemoMetadataProvider(),
      source: options.source ?? new DemoTrackSource(),
      healthChecks: [sqliteHealthCheck(db), searchHealthCheck(index), diskHealthCheck(storageDir)],
      taskLeases: new SqliteTaskLeases(db),
      async close() {
        if (closed) return;
        closed = true;
        rateLimitStores.close();
        await revocations.close();
        if (lockDb !== db) lockDb.close();
        db.close();
      },
    };
  } catch (error) {
    db.close();
    throw error;
  }
}
