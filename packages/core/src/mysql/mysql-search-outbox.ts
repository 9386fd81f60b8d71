import { toPendingChange, type OutboxRow } from '../outbox/outbox-rows.js';
import type { ChangeVersion, OutboxBacklog, PendingChange, SearchOutbox } from '../outbox/search-outbox.js';
import type { MysqlDatabase } from './mysql-database.js';
import text from './mysql-search-outbox.sql';
import { mysqlStatements } from './mysql-statements.js';

const SQL = mysqlStatements(text, ['due', 'applied', 'failed', 'enqueue', 'backlog']);

/** Changes settled, or tracks queued, per statement. */
const CHUNK = 500;
/** The error kept with a failed change: enough to tell what failed, never a whole response body. */
const MAX_ERROR_CHARS = 2000;

/**
 * The search outbox in MySQL, beside the catalog that fills it (MysqlTrackCatalog writes a
 * row in the transaction of each change). `due` is a plain read by due time: relays racing
 * over the same rows are safe, because the index keeps the newest version of a document and
 * `applied` deletes a row only up to the version written. `applied` runs as a transaction,
 * retried on a deadlock with a catalog change taking the same rows.
 */
export class MysqlSearchOutbox implements SearchOutbox {
  constructor(private readonly db: MysqlDatabase) {}

  async due(now: Date, limit: number): Promise<PendingChange[]> {
    const rows = await this.db.all<OutboxRow>(SQL.due, { now: now.getTime(), limit });
    return rows.map(toPendingChange);
  }

  async applied(changes: ChangeVersion[]): Promise<void> {
    if (changes.length === 0) return;
    // In id order, the order a catalog change locks its rows in.
    const sorted = changes
      .map(({ trackId, version }) => ({ trackId, version }))
      .sort((a, b) => (a.trackId < b.trackId ? -1 : a.trackId > b.trackId ? 1 : a.version - b.version));
    await this.db.transaction(async (tx) => {
      for (let i = 0; i < sorted.length; i += CHUNK) await tx.run(SQL.applied, { changes: JSON.stringify(sorted.slice(i, i + CHUNK)) });
    });
  }

  async failed(change: ChangeVersion, error: string, retryAt: Date): Promise<void> {
    await this.db.run(SQL.failed, {
      trackId: change.trackId,
      version: change.version,
      error: error.slice(0, MAX_ERROR_CHARS),
      retryAt: retryAt.getTime(),
    });
  }

  async enqueue(trackIds: string[]): Promise<void> {
    const ids = [...new Set(trackIds)].sort();
    if (ids.length === 0) return;
    const now = Date.now();
    await this.db.transaction(async (tx) => {
      for (let i = 0; i < ids.length; i += CHUNK) await tx.run(SQL.enqueue, { trackIds: JSON.stringify(ids.slice(i, i + CHUNK)), now });
    });
  }

  async backlog(): Promise<OutboxBacklog> {
    const row = await this.db.get<{ pending: number; oldest: number | null }>(SQL.backlog);
    return { pending: Number(row?.pending ?? 0), oldestEnqueuedAt: row?.oldest == null ? null : new Date(row.oldest) };
  }
}
