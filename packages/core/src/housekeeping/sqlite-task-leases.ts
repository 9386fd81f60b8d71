import { prepareOnFirstUse, requireStatements, type PreparedStatements } from '../db/named-statements.js';
import type { SqliteDatabase } from '../db/sqlite-database.js';
import { runSqlite } from '../db/sqlite-faults.js';
import text from './sqlite-task-leases.sql';
import { checkLeaseMs, type LeaseAttempt, type TaskLeases } from './task-leases.js';

const SQL = requireStatements(text, ['take', 'remaining', 'extend', 'drop']);

/**
 * Task leases in the `task_leases` table of the embedded database, shared by every process on
 * the data dir (`mixtape serve` and `mixtape worker`s). Each call is one statement, so one
 * short write transaction, run by `runSqlite`.
 */
export class SqliteTaskLeases implements TaskLeases {
  private readonly statements: PreparedStatements<keyof typeof SQL>;

  constructor(private readonly db: SqliteDatabase) {
    this.statements = prepareOnFirstUse(db, SQL);
  }

  async tryAcquire(name: string, owner: string, ttlMs: number): Promise<LeaseAttempt> {
    checkLeaseMs('ttlMs', ttlMs, 1);
    const taken = await runSqlite(this.db, () => this.statements.take.run({ name, owner, ttlMs: Math.round(ttlMs) }).changes > 0);
    if (taken) return { acquired: true };
    // Read after the refusal, so only a hint: a lease let go meanwhile is free now.
    const left = await runSqlite(this.db, () => this.statements.remaining.pluck().get({ name }) as number | undefined);
    return { acquired: false, retryInMs: left ?? 0 };
  }

  async renew(name: string, owner: string, ttlMs: number): Promise<boolean> {
    checkLeaseMs('ttlMs', ttlMs, 1);
    return runSqlite(this.db, () => this.statements.extend.run({ name, owner, ms: Math.round(ttlMs) }).changes > 0);
  }

  async release(name: string, owner: string, holdMs = 0): Promise<boolean> {
    checkLeaseMs('holdMs', holdMs, 0);
    const statement = holdMs > 0 ? this.statements.extend : this.statements.drop;
    return runSqlite(this.db, () => statement.run(holdMs > 0 ? { name, owner, ms: Math.round(holdMs) } : { name, owner }).changes > 0);
  }
}
