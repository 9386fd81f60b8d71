import type { TokenFamily } from './token-store.js';

/**
 * The `token_families` and `refresh_tokens` rows as the SQL token stores (SQLite, MySQL) read
 * them: both schemas name the columns the same.
 */

export interface FamilyRow {
  id: string;
  user_id: string;
  expires_at: number;
}

/** A token with its family's columns, as a rotation reads it. */
export interface TokenRow extends FamilyRow {
  revoked_at: number | null;
  spent_at: number | null;
}

export function toFamily(row: FamilyRow): TokenFamily {
  return { id: row.id, userId: row.user_id, expiresAt: new Date(row.expires_at) };
}
