import type { Pool } from 'mysql2/promise';
import { MigrationsPendingError, NotFoundError, ValidationError } from '../errors.js';
import { diskHealthCheck } from '../health/disk-health-check.js';
import { searchHealthCheck } from '../health/search-health-check.js';
import { DemoMetadataProvider } from '../metadata/demo-metadata-provider.js';
import type { TrackMetadataProvider } from '../metadata/track-metadata-provider.js';
import type { MixtapeBackends } from '../mixtape.js';
import { MemoryRateLimitStores } from '../ratelimit/memory-rate-limit-store.js';
import { DemoTrackSource } from '../sources/demo-track-source.js';
import type { TrackSource } from '../sources/track-source.js';
import { LocalBlobStore } from '../storage/local-blob-store.js';
import { MysqlBlobLedger } from './mysql-blob-ledger.js';
import { MysqlDatabase, type MysqlDatabaseOptions } from './mysql-database.js';
import { isMysqlError } from './mysql-errors.js';
import { mysqlHealthCheck } from './mysql-health-check.js';
import { MysqlJobQueue } from './mysql-job-queue.js';
import { MysqlLibraryStore } from './mysql-library-store.js';
import { MysqlFencingTokens } from './mysql-fencing-tokens.js';
import { MysqlLockManager } from './mysql-lock-manager.js';
import { migrateMysql, pendingMysqlMigrations } from './mysql-migrations.js';
import { createMysqlPool, type MysqlPoolOptions } from './mysql-pool.js';
import { MysqlRevocationList } from './mysql-revocation-list.js';
import { MysqlSearchIndex } from './mysql-search-index.js';
import { MysqlSearchOutbox } from './mysql-search-outbox.js';
import { MysqlTaskLeases } from './mysql-task-leases.js';
import { MysqlTokenStore } from './mysql-token-store.js';
import { MysqlTrackCatalog } from './mysql-track-catalog.js';
import { MysqlUserStore } from './mysql-user-store.js';

/** The URL names a database the server does not have. */
const ER_BAD_DB_ERROR = 1049;

export interface MysqlBackendsOptions {
  /**
   * The database to use: a MysqlDatabase, or a mysql2/promise pool (from `createMysqlPool`) to
   * wrap in one with `database`'s options. Either stays the caller's: `close()` leaves it open.
   * Give this or `url`.
   */
  db?: MysqlDatabase | Pool;
  /**
   * `mysql://user:pass@host:3306/db`, when the backends are to build and own their pool
   * (`pool` and `database` tune it); `close()` ends it. The database must exist: the
   * migrations create its tables, not the database itself.
   */
  url?: string;
  pool?: MysqlPoolOptions;
  database?: MysqlDatabaseOptions;
  /** Stored audio and its temp files, on the local disk or a volume shared by every instance. */
  storageDir: string;
  /** Apply pending migrations (default), or refuse to start while any is pending (`MigrationsPendingError`). */
  migrate?: boolean;
  /**
   * Look, never touch: no migration is applied (pending ones are reported in
   * `pendingMigrations`), no file is created or swept, and every session is READ ONLY, so the
   * server refuses any write. From `url` or a pool, the sessions are made so; a given
   * MysqlDatabase keeps its own sessions (make it `readOnly` for the server to refuse writes).
   * A given MysqlDatabase that is `readOnly` opens the backends read-only. For dry runs.
   */
  readOnly?: boolean;
  metadata?: TrackMetadataProvider;
  source?: TrackSource;
  /** How soon a logout in another process takes effect here (default 1 s). */
  revocationPollMs?: number;
}

export interface MysqlBackends extends MixtapeBackends {
  db: MysqlDatabase;
  /** Migrations not applied to this database: only ever non-empty when opened `readOnly`. */
  pendingMigrations: number[];
  /** The migrations this opening applied. */
  appliedMigrations: number[];
  poolStats(): ReturnType<MysqlDatabase['poolStats']>;
}

/**
 * The MySQL backends, for several hosts sharing one MySQL or MariaDB database: every
 * persistent port in the database (search on its FULLTEXT index, locks in its lock table,
 * fenced by its counters), files on `storageDir` (a volume every instance mounts), and
 * in-process rate limits (until Redis is configured). Every adapter shares the one pool, so
 * an instance opens at most `poolSize` connections, migrations included.
 *
 * A missing database is a NotFoundError; an unreachable server an UnavailableError. The
 * first statement is the first connection: nothing is opened before.
 */
export async function openMysqlBackends(options: MysqlBackendsOptions): Promise<MysqlBackends> {
  const readOnlyAsked = options.readOnly ?? false;
  let db: MysqlDatabase;
  let owned = false;
  if (options.db instanceof MysqlDatabase) {
    db = options.db;
  } else if (options.db !== undefined) {
    db = new MysqlDatabase(options.db, { ...options.database, readOnly: readOnlyAsked });
  } else if (options.url !== undefined) {
    if (databaseName(options.url) === '') throw new NotFoundError('The MySQL URL names no database (mysql://user:pass@host:3306/<database>)');
    db = new MysqlDatabase(createMysqlPool(options.url, options.pool), { ...options.database, readOnly: readOnlyAsked });
    owned = true;
  } else {
    throw ValidationError.field('db', 'is required unless url is given');
  }
  const readOnly = db.readOnly || readOnlyAsked;
  const closeDb = async () => {
    if (owned) await db.close();
  };
  try {
    let pendingMigrations = await pendingMysqlMigrations(db).catch((error: unknown) => {
      throw isMysqlError(error, ER_BAD_DB_ERROR) ? missingDatabase(options.url) : error;
    });
    let appliedMigrations: number[] = [];
    if (!readOnly && pendingMigrations.length > 0) {
      if (options.migrate === false) throw new MigrationsPendingError(pendingMigrations);
      // Under the server's named lock: processes starting at once apply each migration once.
      appliedMigrations = await migrateMysql(db);
      pendingMigrations = [];
    }
    const blobs = new LocalBlobStore({ root: options.storageDir, readOnly });
    await blobs.start();
    const rateLimitStores = new MemoryRateLimitStores();
    const index = new MysqlSearchIndex(db);
    const revocations = new MysqlRevocationList(db, {
      ...(options.revocationPollMs === undefined ? {} : { pollIntervalMs: options.revocationPollMs }),
      // Purging deletes rows: a read-only process leaves it to the others.
      ...(readOnly ? { purgeIntervalMs: 0 } : {}),
    });
    await revocations.start();
    let closed = false;
    return {
      db,
      pendingMigrations,
      appliedMigrations,
      users: new MysqlUserStore(db),
      tokens: new MysqlTokenStore(db),
      revocations,
      catalog: new MysqlTrackCatalog(db),
      library: new MysqlLibraryStore(db),
      queue: new MysqlJobQueue(db),
      index,
      searchOutbox: new MysqlSearchOutbox(db),
      blobs,
      tempFiles: blobs,
      blobLedger: new MysqlBlobLedger(db),
      locks: new MysqlLockManager(db),
      fencing: new MysqlFencingTokens(db),
      rateLimitStores,
      metadata: options.metadata ?? new DemoMetadataProvider(),
      source: options.source ?? new DemoTrackSource(),
      healthChecks: [mysqlHealthCheck(db), searchHealthCheck(index), diskHealthCheck(options.storageDir)],
      taskLeases: new MysqlTaskLeases(db),
      poolStats: () => db.poolStats(),
      async close() {
        if (closed) return;
        closed = true;
        rateLimitStores.close();
        await revocations.close();
        await closeDb();
      },
    };
  } catch (error) {
    await closeDb();
    throw error;
  }
}

function databaseName(url: string): string {
  return decodeURIComponent(new URL(url).pathname.slice(1));
}

/** Names the database, never the URL: it may hold a password. */
function missingDatabase(url: string | undefined): NotFoundError {
  const name = url === undefined ? '' : databaseName(url);
  return new NotFoundError(name ? `There is no MySQL database named "${name}"` : 'There is no such MySQL database');
}
