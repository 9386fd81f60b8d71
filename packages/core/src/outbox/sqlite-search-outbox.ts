import { prepareOnFirstUse, requireStatements, type PreparedStatements } from '../db/named-statements.js';
import type { SqliteDatabase } from '../db/sqlite-database.js';
import { runSqlite } from '../db/sqlite-faults.js';
import { toPendingChange, type OutboxRow } from './outbox-rows.js';
import type { ChangeVersion, OutboxBacklog, PendingChange, SearchOutbox } from './search-outbox.js';
import text from './sqlite-search-outbox.sql';

const SQL = requireStatements(text, ['due', 'applied', 'failed', 'enqueue', 'backlog']);

/**
 * The search outbox in the embedded database, beside the catalog that fills it. Each method is
 * one statement or one transaction, run by `runSqlite`.
 */
export class SqliteSearchOutbox implements SearchOutbox {
  private readonly statements: PreparedStatements<keyof typeof SQL>;

  constructor(private readonly db: SqliteDatabase) {
    this.statements = prepareOnFirstUse(db, SQL);
  }

  async due(now: Date, limit: number): Promise<PendingChange[]> {
    const rows = await runSqlite(this.db, () => this.statements.due.all({ now: now.getTime(), limit }) as OutboxRow[]);
    return rows.map(toPendingChange);
  }

  async applied(changes: ChangeVersion[]): Promise<void> {
    const applied = this.db.transaction(() => {
      for (const { trackId, version } of changes) this.statements.applied.run({ trackId, version });
    });
    await runSqlite(this.db, applied);
  }

  async failed(change: ChangeVersion, error: string, retryAt: Date): Promise<void> {
    await runSqlite(this.db, () =>
      this.statements.failed.run({ trackId: change.trackId, version: change.version, error, retryAt: retryAt.getTime() }),
    );
  }

  async enqueue(trackIds: string[]): Promise<void> {
    if (trackIds.length === 0) return;
    await runSqlite(this.db, () => this.statements.enqueue.run({ trackIds: JSON.stringify(trackIds), now: Date.now() }));
  }

  async backlog(): Promise<OutboxBacklog> {
    const row = await runSqlite(this.db, () => this.statements.backlog.get() as { pending: number; oldest: number | null });
    return { pending: row.pending, oldestEnqueuedAt: row.oldest === null ? null : new Date(row.oldest) };
  }
}
