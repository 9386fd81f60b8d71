import type { PendingChange } from './search-outbox.js';

/** The `search_outbox` row as the SQL outboxes (SQLite, MySQL) read it: both schemas name the columns the same. */
export interface OutboxRow {
  track_id: string;
  version: number;
  attempts: number;
  last_error: string | null;
  enqueued_at: number;
}

export function toPendingChange(row: OutboxRow): PendingChange {
  return {
    trackId: row.track_id,
    version: row.version,
    attempts: row.attempts,
    lastError: row.last_error,
    enqueuedAt: new Date(row.enqueued_at),
  };
}
