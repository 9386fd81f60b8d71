import Database from 'better-sqlite3';
import { existsSync, readFileSync } from 'node:fs';
import { requireStatements } from './named-statements.js';
import text from './sqlite-database.sql';
import { setSqliteBusyPolicy, SQLITE_BUSY_TIMEOUT_MS, type SqliteBusyPolicy } from './sqlite-faults.js';
import { sqliteMigrations, type Migration } from './sqlite-migrations.js';

const SQL = requireStatements(text, ['createMigrationsTable', 'migrationsTableExists', 'appliedVersions', 'recordMigration']);

export type SqliteDatabase = Database.Database;

export interface OpenSqliteOptions {
  /**
   * Read without writing a single byte, not even a lock file: for `mixtape reconcile --dry-run`.
   * Every write is refused. The file must exist.
   */
  readOnly?: boolean;
  /** How the adapters retry while another process holds the write lock (see `runSqlite`). */
  busy?: Partial<SqliteBusyPolicy>;
}

/**
 * Opens the embedded database with the settings every embedded adapter relies on (see
 * `configureSqliteConnection`). Opening may wait for another process's lock for up to
 * better-sqlite3's 5 s: it happens at start, before anything is served.
 */
export function openSqliteDatabase(path: string, options: OpenSqliteOptions = {}): SqliteDatabase {
  if (options.readOnly) {
    const db = openReadOnly(path);
    setSqliteBusyPolicy(db, options.busy ?? {});
    return db;
  }
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  configureSqliteConnection(db, options.busy);
  return db;
}

/**
 * The settings of a connection the adapters use, for one opened elsewhere too: WAL so readers
 * never block the writer (set when the database is opened), enforced foreign keys, and a busy
 * timeout of a few tens of milliseconds. A second process (a `mixtape worker`) holding the
 * write lock for longer is waited for by `runSqlite`, asynchronously, so that the event loop
 * never sits in SQLite for seconds.
 */
export function configureSqliteConnection(db: SqliteDatabase, busy: Partial<SqliteBusyPolicy> = {}): void {
  db.pragma(`busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
  db.pragma('foreign_keys = ON');
  db.pragma('synchronous = NORMAL');
  setSqliteBusyPolicy(db, busy);
}

/** Offsets 18 and 19 of the header: the file format versions, 2 for WAL and 1 for a rollback journal. */
const WRITE_VERSION_OFFSET = 18;
const READ_VERSION_OFFSET = 19;
const WAL_FORMAT = 2;
const ROLLBACK_FORMAT = 1;

/**
 * A read-only connection to a WAL database creates its `-wal` and `-shm` files when no other
 * connection holds them, and leaves them behind. So when there is no `-wal`, we read a copy
 * into memory and the data dir is left exactly as it was; the copy is marked as a
 * rollback-journal database because an in-memory database cannot be in WAL mode. When a
 * `-wal` exists, another process has the database open (or crashed with it open): we share
 * its files, since a copy of a database and log that someone is writing could be torn. After
 * a crash, SQLite then rebuilds the `-shm` index; the database and its log are not changed.
 */
function openReadOnly(path: string): SqliteDatabase {
  if (existsSync(`${path}-wal`)) {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    db.pragma(`busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
    return db;
  }
  const image = readFileSync(path);
  if (image[WRITE_VERSION_OFFSET] === WAL_FORMAT) image[WRITE_VERSION_OFFSET] = ROLLBACK_FORMAT;
  if (image[READ_VERSION_OFFSET] === WAL_FORMAT) image[READ_VERSION_OFFSET] = ROLLBACK_FORMAT;
  return new Database(image, { readonly: true });
}

/** Applies the numbered migrations not yet applied, each in its own transaction. Returns their versions. */
export function migrateSqlite(db: SqliteDatabase, migrations: readonly Migration[] = sqliteMigrations): number[] {
  db.exec(SQL.createMigrationsTable);
  const applied = new Set(db.prepare(SQL.appliedVersions).pluck().all() as number[]);
  const record = db.prepare(SQL.recordMigration);
  const done: number[] = [];
  for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
    if (applied.has(migration.version)) continue;
    db.transaction(() => {
      db.exec(migration.sql);
      record.run({ version: migration.version, name: migration.name, appliedAt: new Date().toISOString() });
    })();
    done.push(migration.version);
  }
  return done;
}

/** Versions known to the code but not yet applied to this database. */
export function pendingSqliteMigrations(db: SqliteDatabase, migrations: readonly Migration[] = sqliteMigrations): number[] {
  const exists = db.prepare(SQL.migrationsTableExists).get() !== undefined;
  const applied = new Set(exists ? (db.prepare(SQL.appliedVersions).pluck().all() as number[]) : []);
  return migrations.map((m) => m.version).filter((v) => !applied.has(v));
}
