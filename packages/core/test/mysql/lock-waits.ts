import { expect, vi } from 'vitest';
import type { MysqlDatabase } from '../../src/mysql/mysql-database.js';

/**
 * Resolves once a transaction on `db`'s database (the server has others) waits for a row
 * lock, for tests that hold a lock to pause another statement. InnoDB refreshes what
 * information_schema.innodb_trx shows only after it has gone unread for 100 ms, so it is
 * polled more slowly than that; waits end at innodb_lock_wait_timeout (2 s in the tests).
 */
export async function waitingForALock(db: MysqlDatabase): Promise<void> {
  const waiting = () =>
    db.get(
      `SELECT 1 AS waiting FROM information_schema.innodb_trx AS trx
       JOIN information_schema.processlist AS process ON process.id = trx.trx_mysql_thread_id
       WHERE trx.trx_state = 'LOCK WAIT' AND process.db = DATABASE()`,
    );
  await vi.waitFor(async () => expect(await waiting()).toBeDefined(), { timeout: 1500, interval: 150 });
}
