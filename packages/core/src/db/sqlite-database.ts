import Database from 'better-sqlite3';
import { sqliteMigrations, type Migration } from './sqlite-migrations.js';

export type SqliteDatabase = Database.Database;

/**
 * Opens the embedded database with the settings every embedded adapter relies on:
 * WAL so readers never block the writer, a busy timeout so a second process (a separate
 * `mixtape worker`) waits instead of failing, and enforced foreign keys.
 */
export function openSqliteDatabase(path: string): SqliteDatabase {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  db.pragma('synchronous = NORMAL');
  return db;
}

/** Applies the numbered migrations not yet applied, each in its own transaction. Returns their versions. */
export function migrateSqlite(db: SqliteDatabase, migrations: readonly Migration[] = sqliteMigrations): number[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL
  )`);
  const applied = new Set(
    db.prepare('SELECT version FROM schema_migrations').pluck().all() as number[],
  );
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  const done: number[] = [];
  for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
    if (applied.has(migration.version)) continue;
    db.transaction(() => {
      db.exec(migration.sql);
      record.run(migration.version, migration.name, new Date().toISOString());
    })();
    done.push(migration.version);
  }
  return done;
}

/** Versions known to the code but not yet applied to this database. */
export function pendingSqliteMigrations(db: SqliteDatabase, migrations: readonly Migration[] = sqliteMigrations): number[] {
  const exists = db
    .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'")
    .get();
  const applied = new Set(
    exists ? (db.prepare('SELECT version FROM schema_migrations').pluck().all() as number[]) : [],
  );
  return migrations.map((m) => m.version).filter((v) => !applied.has(v));
}
