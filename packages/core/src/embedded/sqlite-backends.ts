import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { SqliteRevocationList } from '../auth/sqlite-revocation-list.js';
import { SqliteTokenStore } from '../auth/sqlite-token-store.js';
import { SqliteTrackCatalog } from '../catalog/sqlite-track-catalog.js';
import {
  configureSqliteConnection,
  migrateSqlite,
  openSqliteDatabase,
  pendingSqliteMigrations,
  type SqliteDatabase,
} from '../db/sqlite-database.js';
import { runSqlite, type SqliteBusyPolicy } from '../db/sqlite-faults.js';
import { MigrationsPendingError, NotFoundError, ValidationError } from '../errors.js';
import { diskHealthCheck } from '../health/disk-health-check.js';
import { searchHealthCheck } from '../health/search-health-check.js';
import { sqliteHealthCheck } from '../health/sqlite-health-check.js';
import { SqliteTaskLeases } from '../housekeeping/sqlite-task-leases.js';
import { SqliteJobQueue } from '../jobs/sqlite-job-queue.js';
import { SqliteLibraryStore } from '../library/sqlite-library-store.js';
import { SqliteFencingTokens } from '../locks/sqlite-fencing-tokens.js';
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
  /** Holds `mixtape.db` (unless `db` is given), and the stored audio unless `storageDir` says otherwise. */
  dataDir?: string;
  /**
   * An open better-sqlite3 database to use instead of `${dataDir}/mixtape.db`. It stays the
   * caller's: `close()` leaves it open. Its settings are made those the adapters rely on (see
   * `configureSqliteConnection`). Locks get a connection of their own to the same file, or
   * share this one when it is in memory.
   */
  db?: SqliteDatabase;
  /** Stored audio and its temp files (default `${dataDir}/audio`); may be a volume shared by instances. */
  storageDir?: string;
  /** Apply pending migrations (default), or refuse to start while any is pending (`MigrationsPendingError`). */
  migrate?: boolean;
  /** Create the data dir and the database when missing (default); when false, a missing one is a `NotFoundError`. */
  create?: boolean;
  /**
   * Look, never touch: the database must exist and is opened read-only, no migration is
   * applied (pending ones are reported in `pendingMigrations`), no directory is created and no
   * temp file is swept. Adapters refuse every write. For dry runs.
   */
  readOnly?: boolean;
  /** How long a unit of work waits, off the event loop, while another process holds the write lock (see `runSqlite`). */
  busy?: Partial<SqliteBusyPolicy>;
  metadata?: TrackMetadataProvider;
  source?: TrackSource;
  /** How soon a logout in another process sharing the data dir takes effect here (default 1 s). */
  revocationPollMs?: number;
}

export interface SqliteBackends extends MixtapeBackends {
  db: SqliteDatabase;
  /** Migrations not applied to this database: only ever non-empty when opened `readOnly`. */
  pendingMigrations: number[];
  /** The migrations this opening applied. */
  appliedMigrations: number[];
}

/**
 * The embedded backends, which need no server: SQLite (with FTS5 for search, and a lock table),
 * files under the data dir, and in-process rate limits. One process, or several sharing one
 * data dir: the queue, the locks and storage are shared by all of them; rate limits stay per
 * process. Every adapter runs its work through `runSqlite`: a busy database is waited for off
 * the event loop, and driver faults reach callers as `UnavailableError`s.
 */
export async function openSqliteBackends(options: SqliteBackendsOptions): Promise<SqliteBackends> {
  const given = options.db;
  const readOnly = given?.readonly ?? options.readOnly ?? false;
  const storageDir = options.storageDir ?? (options.dataDir === undefined ? undefined : join(options.dataDir, 'audio'));
  if (storageDir === undefined) throw ValidationError.field('dataDir', 'is required unless both db and storageDir are given');
  let db: SqliteDatabase;
  if (given) {
    configureSqliteConnection(given, options.busy);
    db = given;
  } else {
    const dataDir = options.dataDir!;
    const dbPath = join(dataDir, 'mixtape.db');
    if ((readOnly || options.create === false) && !existsSync(dbPath)) throw new NotFoundError(`There is no database at ${dbPath}`);
    if (!readOnly) await mkdir(dataDir, { recursive: true });
    db = openSqliteDatabase(dbPath, { readOnly, ...(options.busy ? { busy: options.busy } : {}) });
  }
  const closeDb = () => {
    if (db !== given) db.close();
  };
  try {
    let pendingMigrations = await runSqlite(db, () => pendingSqliteMigrations(db));
    let appliedMigrations: number[] = [];
    // Read-only, they are reported and left alone: the caller decides whether an older schema will do.
    if (!readOnly && pendingMigrations.length > 0) {
      if (options.migrate === false) throw new MigrationsPendingError(pendingMigrations);
      // Each migration is its own transaction, and a retry applies only those still pending.
      appliedMigrations = await runSqlite(db, () => migrateSqlite(db));
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
    const lockDb = readOnly || db.memory ? db : openSqliteLockConnection(db.name);
    let closed = false;
    return {
      db,
      pendingMigrations,
      appliedMigrations,
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
      fencing: new SqliteFencingTokens(db),
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
        closeDb();
      },
    };
  } catch (error) {
    closeDb();
    throw error;
  }
}
