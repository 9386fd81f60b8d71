import type { FencingTokens } from '../locks/fencing-tokens.js';
import type { Fence } from '../locks/lock-manager.js';
import type { MysqlDatabase, MysqlQueryable } from './mysql-database.js';
import text from './mysql-fencing-tokens.sql';
import { mysqlStatements } from './mysql-statements.js';

const SQL = mysqlStatements(text, ['raise', 'raiseEach', 'highest', 'raiseTo', 'current', 'holdsFence']);

/**
 * The fencing authority of MySQL: the `fencing_tokens` table that the MySQL stores' guarded
 * writes check. A lock manager that is not on this database (LocalLockManager, a Redis one)
 * is given this; one on it may raise tokens inside its own acquisition (`issueWithin`).
 *
 * One key is raised by a single statement (`INSERT … ON DUPLICATE KEY UPDATE token =
 * LAST_INSERT_ID(token + 1)`), atomic under any concurrency; several keys by a short
 * transaction that locks their rows in key order. Guarded writes check their fence with
 * `holdsFence`.
 */
export class MysqlFencingTokens implements FencingTokens {
  constructor(private readonly db: MysqlDatabase) {}

  async issue(keys: readonly string[]): Promise<number> {
    const distinct = distinctKeys(keys);
    if (distinct.length <= 1) return this.issueWithin(this.db, distinct);
    return this.db.transaction((tx) => this.issueWithin(tx, distinct));
  }

  /**
   * `issue`, inside a transaction the caller holds (on `tx`), which keeps the keys' rows
   * locked until it ends. Outside a transaction, only for a single key.
   */
  async issueWithin(tx: MysqlQueryable, keys: readonly string[]): Promise<number> {
    const distinct = distinctKeys(keys);
    // No key to fence: the token of nothing, as the other adapters answer.
    if (distinct.length === 0) return 1;
    if (distinct.length === 1) {
      const { insertId } = await tx.run(SQL.raise, { key: distinct[0] });
      return insertId === 0 ? 1 : insertId;
    }
    await tx.run(SQL.raiseEach, { rows: distinct.map((key) => [key, 1]) });
    // The rows exist and are locked by this transaction: MAX cannot be NULL.
    const { token } = (await tx.get<{ token: number }>(SQL.highest, { keys: distinct }))!;
    await tx.run(SQL.raiseTo, { keys: distinct, token });
    return token;
  }

  async current(key: string): Promise<number | null> {
    return (await this.db.get<{ token: number }>(SQL.current, { key }))?.token ?? null;
  }
}

/**
 * Whether `fence` is still its key's current token, read with a share lock that keeps any new
 * token of that key from being issued until the caller's transaction ends: the check a guarded
 * write makes first, on its own transaction's `tx`, before it writes anything.
 */
export async function holdsFence(tx: MysqlQueryable, fence: Fence): Promise<boolean> {
  return (await tx.get<{ token: number }>(SQL.holdsFence, { key: fence.key }))?.token === fence.token;
}

/** Sorted, so that two transactions lock shared keys in one order; without repeats. */
function distinctKeys(keys: readonly string[]): string[] {
  return [...new Set(keys)].sort();
}
