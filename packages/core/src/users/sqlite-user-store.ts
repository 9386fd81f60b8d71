import type { SqliteDatabase } from '../db/sqlite-database.js';
import { ConflictError, NotFoundError } from '../errors.js';
import { newId } from '../ids.js';
import type { User } from '../model.js';
import type { UserStore } from './user-store.js';

interface UserRow {
  id: string;
  username: string;
  password_hash: string;
  created_at: number;
}

function toUser(row: UserRow): User {
  return { id: row.id, username: row.username, passwordHash: row.password_hash, createdAt: new Date(row.created_at) };
}

/** Accounts in the embedded database; the `users.username` column is NOCASE-unique. */
export class SqliteUserStore implements UserStore {
  constructor(private readonly db: SqliteDatabase) {}

  async create(user: { username: string; passwordHash: string }): Promise<User> {
    const row: UserRow = {
      id: newId(),
      username: user.username,
      password_hash: user.passwordHash,
      created_at: Date.now(),
    };
    try {
      this.db
        .prepare('INSERT INTO users (id, username, password_hash, created_at) VALUES (@id, @username, @password_hash, @created_at)')
        .run(row);
    } catch (error) {
      // The unique index decides, so two racing registrations cannot both win.
      if ((error as { code?: unknown }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
        throw new ConflictError(`The username ${user.username} is taken`);
      }
      throw error;
    }
    return toUser(row);
  }

  async findByUsername(username: string): Promise<User | null> {
    const row = this.db.prepare('SELECT * FROM users WHERE username = ?').get(username) as UserRow | undefined;
    return row ? toUser(row) : null;
  }

  async findById(id: string): Promise<User | null> {
    const row = this.db.prepare('SELECT * FROM users WHERE id = ?').get(id) as UserRow | undefined;
    return row ? toUser(row) : null;
  }

  async setPasswordHash(userId: string, passwordHash: string): Promise<void> {
    const result = this.db.prepare('UPDATE users SET password_hash = ? WHERE id = ?').run(passwordHash, userId);
    if (result.changes === 0) throw new NotFoundError(`No user ${userId}`);
  }
}
