import type { User } from '../model.js';

/** The `users` row as the SQL user stores (SQLite, MySQL) read it: both schemas name the columns the same. */
export interface UserRow {
  id: string;
  username: string;
  password_hash: string;
  created_at: number;
}

export function toUser(row: UserRow): User {
  return { id: row.id, username: row.username, passwordHash: row.password_hash, createdAt: new Date(row.created_at) };
}
