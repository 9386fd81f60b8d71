import init from '../db/mysql/001-init.sql';
import foldedSearchText from '../db/mysql/002-folded-search-text.sql';
import type { Migration } from '../db/sqlite-migrations.js';
import { UnavailableError } from '../errors.js';
import type { MysqlDatabase } from './mysql-database.js';
import text from './mysql-migrations.sql';
import { mysqlStatements, splitMysqlScript } from './mysql-statements.js';

const SQL = mysqlStatements(text, [
  'createMigrationsTable',
  'migrationsTableExists',
  'appliedVersions',
  'recordMigration',
  'takeMigrationLock',
  'releaseMigrationLock',
]);

/**
 * Numbered migrations of the MySQL database, oldest first. Never edit one that has shipped.
 * 001 is the whole schema of SQLite's 001 to 008; a later SQLite migration gets its MySQL
 * counterpart here, with the next number of this list (002 is SQLite's 009).
 */
export const mysqlMigrations: readonly Migration[] = [
  { version: 1, name: 'init', sql: init },
  { version: 2, name: 'folded-search-text', sql: foldedSearchText },
];

export interface MigrateMysqlOptions {
  migrations?: readonly Migration[];
  /** How long to wait for another process that is migrating the same database. Default 120 s. */
  lockWaitSeconds?: number;
}

/**
 * Applies the migrations not yet applied, in order, and returns their versions. `serve`,
 * `worker` and `migrate` may all start at once on a new database: the first to take the
 * server's named lock applies them, the others wait for it and then find nothing to do, so
 * each migration is applied exactly once.
 *
 * MySQL commits DDL as it goes, so a migration that fails half-way stays pending with part of
 * it done: every migration is written to complete when run again.
 */
export async function migrateMysql(db: MysqlDatabase, options: MigrateMysqlOptions = {}): Promise<number[]> {
  const migrations = [...(options.migrations ?? mysqlMigrations)].sort((a, b) => a.version - b.version);
  const lockWaitSeconds = options.lockWaitSeconds ?? 120;
  return db.withConnection(async (connection) => {
    const lock = await connection.get<{ taken: number | null }>(SQL.takeMigrationLock, { waitSeconds: lockWaitSeconds }, {
      timeoutMs: (lockWaitSeconds + 10) * 1000,
    });
    if (lock?.taken !== 1) {
      throw new UnavailableError(`Another process has been migrating the database for over ${lockWaitSeconds} s`, { retryAfterMs: 5000 });
    }
    try {
      await connection.run(SQL.createMigrationsTable, {}, { timeoutMs: null });
      const applied = new Set((await connection.all<{ version: number }>(SQL.appliedVersions)).map((row) => row.version));
      const done: number[] = [];
      for (const migration of migrations) {
        if (applied.has(migration.version)) continue;
        try {
          // A migration may change session settings (it turns stopwords off to build FULLTEXT
          // indexes); one that fails half-way leaves them changed, so its connection is dropped.
          for (const statement of splitMysqlScript(migration.sql)) await connection.run(statement, {}, { timeoutMs: null });
        } catch (error) {
          connection.broken = true;
          throw error;
        }
        await connection.run(SQL.recordMigration, { version: migration.version, name: migration.name, appliedAt: new Date().toISOString() });
        done.push(migration.version);
      }
      return done;
    } finally {
      // A broken connection takes its lock with it when it closes.
      if (!connection.broken) await connection.get(SQL.releaseMigrationLock).catch(() => (connection.broken = true));
    }
  });
}

/** Versions known to the code but not yet applied to this database; changes nothing. */
export async function pendingMysqlMigrations(db: MysqlDatabase, migrations: readonly Migration[] = mysqlMigrations): Promise<number[]> {
  const exists = (await db.get(SQL.migrationsTableExists)) !== undefined;
  const applied = new Set(exists ? (await db.all<{ version: number }>(SQL.appliedVersions)).map((row) => row.version) : []);
  return migrations.map((m) => m.version).filter((v) => !applied.has(v));
}
