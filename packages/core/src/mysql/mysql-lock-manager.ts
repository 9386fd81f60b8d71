import { UnavailableError } from '../errors.js';
import type { LockRequest } from '../locks/lock-request.js';
import { TableLockManager, type LockTable, type TableLockManagerOptions } from '../locks/table-lock-manager.js';
import type { MysqlDatabase, MysqlQueryable } from './mysql-database.js';
import { isTransactionConflict } from './mysql-errors.js';
import { MysqlFencingTokens } from './mysql-fencing-tokens.js';
import text from './mysql-lock-manager.sql';
import { mysqlStatements } from './mysql-statements.js';

const SQL = mysqlStatements(text, ['heldByOthers', 'take', 'stamp', 'renew', 'release']);

/**
 * `minPollMs` is the first pause between two tries of a held lock (default 10 ms), doubling
 * up to `maxPollMs` (default 250 ms): each try is a query, so a waiter on another host learns
 * of a release within a quarter of a second at worst, at four queries a second.
 */
export type MysqlLockManagerOptions = TableLockManagerOptions;

/**
 * Locks in the `locks` table of the MySQL database, so that several hosts sharing MySQL
 * without Redis exclude one another. Taking a lock raises the keys' `fencing_tokens`
 * (MysqlFencingTokens) in the same transaction, so tokens rise in the order the lock was held,
 * and the stores' guarded writes refuse a holder that lost it. A lock lives `ttlMs` by the
 * database's clock and is renewed while the work runs; an expired lock may be taken over by
 * another host, and the old holder's signal then aborts with a `LockLostError` at its next
 * renewal. The waiting, renewing and waking is TableLockManager's, as for SqliteLockManager.
 *
 * A take is one short transaction; none is held open while the work runs. The database
 * being unreachable fails a take with an UnavailableError at once; a take that deadlocks or
 * waits too long for a row counts as finding the lock held, and is tried again at the next
 * poll within the caller's wait.
 */
export class MysqlLockManager extends TableLockManager {
  constructor(db: MysqlDatabase, options: MysqlLockManagerOptions = {}) {
    super('mysql', new MysqlLockTable(db), { minPollMs: 10, maxPollMs: 250, ...options });
  }
}

/** Rolls back an acquisition that found a key held. */
class KeyHeld extends Error {}

class MysqlLockTable implements LockTable {
  readonly #fencing: MysqlFencingTokens;

  constructor(private readonly db: MysqlDatabase) {
    this.#fencing = new MysqlFencingTokens(db);
  }

  async tryTake(request: LockRequest, owner: string): Promise<number | null> {
    const { keys, ttlMs } = request;
    if ((await this.db.get(SQL.heldByOthers, { keys })) !== undefined) return null;
    try {
      // One attempt: the polling loop is the retry, and keeps to the caller's wait.
      return await this.db.transaction((tx) => this.#take(tx, keys, owner, ttlMs), { attempts: 1 });
    } catch (error) {
      if (error instanceof KeyHeld) return null;
      if (isTransactionConflict(error) || (error instanceof UnavailableError && isTransactionConflict(error.cause))) return null;
      throw error;
    }
  }

  async #take(tx: MysqlQueryable, keys: string[], owner: string, ttlMs: number): Promise<number> {
    for (const key of keys) await tx.run(SQL.take, { key, owner, ttlMs });
    const token = await this.#fencing.issueWithin(tx, keys);
    const { affectedRows } = await tx.run(SQL.stamp, { keys, owner, token });
    if (affectedRows !== keys.length) throw new KeyHeld();
    return token;
  }

  async renew(request: LockRequest, owner: string): Promise<boolean> {
    const { affectedRows } = await this.db.run(SQL.renew, { keys: request.keys, owner, ttlMs: request.ttlMs });
    return affectedRows === request.keys.length;
  }

  async release(request: LockRequest, owner: string): Promise<void> {
    await this.db.run(SQL.release, { keys: request.keys, owner });
  }
}
