import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrateSqlite, openSqliteDatabase, type SqliteDatabase } from '../../src/db/sqlite-database.js';

export interface TempSqlite {
  db: SqliteDatabase;
  /** The database file, for opening a second connection as another process would. */
  path: string;
  /** Another connection to the same file, as another process would have; closed by `close`. */
  connect(): SqliteDatabase;
  /** Closes every connection and deletes the directory; safe to call twice. */
  close(): Promise<void>;
}

/** A fresh, migrated database file in its own temp directory. */
export function openTempSqlite(): TempSqlite {
  const dir = mkdtempSync(join(tmpdir(), 'mixtape-sqlite-'));
  const path = join(dir, 'mixtape.db');
  const db = openSqliteDatabase(path);
  migrateSqlite(db);
  const others: SqliteDatabase[] = [];
  return {
    db,
    path,
    connect() {
      const other = openSqliteDatabase(path);
      others.push(other);
      return other;
    },
    async close() {
      for (const other of others.splice(0)) if (other.open) other.close();
      if (db.open) db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
