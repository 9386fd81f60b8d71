import { checkLeaseMs, type LeaseAttempt, type TaskLeases } from '../housekeeping/task-leases.js';
import type { MysqlQueryable } from './mysql-database.js';
import { mysqlStatements } from './mysql-statements.js';
import text from './mysql-task-leases.sql';

const SQL = mysqlStatements(text, ['take', 'extend', 'drop']);

/**
 * Task leases in the `task_leases` table of MySQL, shared by every process on the database.
 * Each call is one statement, timed by the database's clock; a refused `tryAcquire` learns how
 * long the lease has left from the same statement (see the .sql file).
 */
export class MysqlTaskLeases implements TaskLeases {
  constructor(private readonly db: MysqlQueryable) {}

  async tryAcquire(name: string, owner: string, ttlMs: number): Promise<LeaseAttempt> {
    checkLeaseMs('ttlMs', ttlMs, 1);
    const { insertId: leftMs } = await this.db.run(SQL.take, { name, owner, ttlMs: Math.round(ttlMs) });
    return leftMs === 0 ? { acquired: true } : { acquired: false, retryInMs: leftMs };
  }

  async renew(name: string, owner: string, ttlMs: number): Promise<boolean> {
    checkLeaseMs('ttlMs', ttlMs, 1);
    return (await this.db.run(SQL.extend, { name, owner, ms: Math.round(ttlMs) })).affectedRows > 0;
  }

  async release(name: string, owner: string, holdMs = 0): Promise<boolean> {
    checkLeaseMs('holdMs', holdMs, 0);
    const { affectedRows } =
      holdMs > 0 ? await this.db.run(SQL.extend, { name, owner, ms: Math.round(holdMs) }) : await this.db.run(SQL.drop, { name, owner });
    return affectedRows > 0;
  }
}
