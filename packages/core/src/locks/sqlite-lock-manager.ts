import { prepareOnFirstUse, requireStatements, type PreparedStatements } from '../db/named-statements.js';
import { openSqliteDatabase, type SqliteDatabase } from '../db/sqlite-database.js';
import { fromSqliteError, isSqliteBusy, runSqlite } from '../db/sqlite-faults.js';
import type { LockRequest } from './lock-request.js';
import { SqliteFencingTokens } from './sqlite-fencing-tokens.js';
import text from './sqlite-lock-manager.sql';
import { TableLockManager, type LockTable, type TableLockManagerOptions } from './table-lock-manager.js';

const SQL = requireStatements(text, ['heldByOthers', 'take', 'renew', 'release']);

/**
 * `minPollMs` is the first pause between two tries of a held lock (default 5 ms), doubling up
 * to `maxPollMs` (default 250 ms).
 */
export type SqliteLockManagerOptions = TableLockManagerOptions;

/**
 * Locks in a table of the embedded database, so that every process on one data dir (the API
 * and `mixtape worker`s) excludes the others. Taking a lock raises the keys' fencing tokens in
 * the same transaction. A lock lives `ttlMs` and is renewed while the work runs; an expired
 * lock may be taken over by another process, and the old holder's signal then aborts with a
 * `LockLostError` at its next renewal. The waiting, renewing and waking is TableLockManager's.
 *
 * Give it a connection of its own (`openSqliteLockConnection`): its busy timeout is a few
 * milliseconds, so the event loop never sits in SQLite waiting for another process. A busy
 * database is a held lock to an acquisition, which polls for it with backoff, cut short when a
 * holder in this process lets go; a release is retried by `runSqlite`, as every adapter's work is.
 */
export class SqliteLockManager extends TableLockManager {
  constructor(db: SqliteDatabase, options: SqliteLockManagerOptions = {}) {
    super('sqlite', new SqliteLockTable(db), { minPollMs: 5, maxPollMs: 250, ...options });
  }
}

/** The `locks` table of the embedded database; better-sqlite3 answers synchronously. */
class SqliteLockTable implements LockTable {
  private readonly statements: PreparedStatements<keyof typeof SQL>;
  readonly #fencing: SqliteFencingTokens;

  constructor(private readonly db: SqliteDatabase) {
    this.statements = prepareOnFirstUse(db, SQL);
    this.#fencing = new SqliteFencingTokens(db);
  }

  /** One tiny transaction: every key free (or expired), then taken and fenced. null when held or busy. */
  tryTake(request: LockRequest, owner: string): number | null {
    const keys = JSON.stringify(request.keys);
    try {
      return this.db
        .transaction(() => {
          if (this.statements.heldByOthers.get({ keys }) !== undefined) return null;
          const token = this.#fencing.issueWithin(request.keys);
          this.statements.take.run({ keys, owner, token, ttlMs: request.ttlMs });
          return token;
        })
        .immediate();
    } catch (error) {
      if (isSqliteBusy(error)) return null;
      throw fromSqliteError(error);
    }
  }

  /** Throws when the database is busy: TableLockManager counts that as a renewal that failed. */
  renew(request: LockRequest, owner: string): boolean {
    const renewed = this.statements.renew.run({ keys: JSON.stringify(request.keys), owner, ttlMs: request.ttlMs }).changes;
    return renewed === request.keys.length;
  }

  async release(request: LockRequest, owner: string): Promise<void> {
    const keys = JSON.stringify(request.keys);
    await runSqlite(this.db, () => this.statements.release.run({ keys, owner }));
  }
}

/**
 * A connection for SqliteLockManager, with the embedded database's settings (a busy timeout of
 * a few milliseconds: a lock waits by polling, never inside SQLite). A release on it gives up
 * after a second, since its rows expire anyway.
 */
export function openSqliteLockConnection(path: string): SqliteDatabase {
  return openSqliteDatabase(path, { busy: { deadlineMs: 1000 } });
}
