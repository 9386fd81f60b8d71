import Database from 'better-sqlite3';
import { requireStatements } from './named-statements.js';
import text from './sqlite-database.sql';
import { sqliteMigrations, type Migration } from './sqlite-migrations.js';

const SQL = requireStatements(text, ['createMigrationsTable', 'migrationsTableExists', 'appliedVersions', 'recordMigration']);

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
