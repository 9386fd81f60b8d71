import { ConflictError, NotFoundError } from '../errors.js';
import { newId } from '../ids.js';
import type { User } from '../model.js';
import { toUser, type UserRow } from '../users/user-rows.js';
import type { GrantedRole, UserStore } from '../users/user-store.js';
import type { MysqlQueryable } from './mysql-database.js';
import { isMysqlError } from './mysql-errors.js';
import text from './mysql-user-store.sql';
import { mysqlStatements } from './mysql-statements.js';

const SQL = mysqlStatements(text, ['insert', 'byUsername', 'byId', 'setPasswordHash', 'rolesOf', 'grantRole', 'revokeRole']);

/**
 * Accounts and their roles in MySQL. Usernames are unique regardless of case because the
 * column's collation (utf8mb4_unicode_520_ci) says so, for the unique key and for look-ups
 * alike. Each method is one statement.
 */
export class MysqlUserStore implements UserStore {
  constructor(private readonly db: MysqlQueryable) {}

  async create(user: { username: string; passwordHash: string }): Promise<User> {
    const created = { id: newId(), username: user.username, passwordHash: user.passwordHash, createdAt: Date.now() };
    try {
      await this.db.run(SQL.insert, created);
    } catch (error) {
      if (isMysqlError(error, 'ER_DUP_ENTRY')) throw new ConflictError(`The username ${user.username} is taken`);
      throw error;
    }
    return { ...created, createdAt: new Date(created.createdAt) };
  }

  async findByUsername(username: string): Promise<User | null> {
    const row = await this.db.get<UserRow>(SQL.byUsername, { username });
    return row ? toUser(row) : null;
  }

  async findById(id: string): Promise<User | null> {
    const row = await this.db.get<UserRow>(SQL.byId, { id });
    return row ? toUser(row) : null;
  }

  async setPasswordHash(userId: string, passwordHash: string): Promise<void> {
    const { affectedRows } = await this.db.run(SQL.setPasswordHash, { userId, passwordHash });
    if (affectedRows === 0) throw new NotFoundError(`No user ${userId}`);
  }

  async rolesOf(userId: string): Promise<GrantedRole[]> {
    const rows = await this.db.all<{ role: GrantedRole }>(SQL.rolesOf, { userId });
    return rows.map((row) => row.role);
  }

  async grantRole(userId: string, role: GrantedRole): Promise<boolean> {
    try {
      await this.db.run(SQL.grantRole, { userId, role, grantedAt: Date.now() });
      return true;
    } catch (error) {
      if (isMysqlError(error, 'ER_DUP_ENTRY')) return false;
      if (isMysqlError(error, 'ER_NO_REFERENCED_ROW_2')) throw new NotFoundError(`No user ${userId}`);
      throw error;
    }
  }

  async revokeRole(userId: string, role: GrantedRole): Promise<boolean> {
    return (await this.db.run(SQL.revokeRole, { userId, role })).affectedRows > 0;
  }
}
