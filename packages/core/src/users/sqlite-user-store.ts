import { prepareOnFirstUse, requireStatements, type PreparedStatements } from '../db/named-statements.js';
import type { SqliteDatabase } from '../db/sqlite-database.js';
import { runSqlite } from '../db/sqlite-faults.js';
import { ConflictError, NotFoundError } from '../errors.js';
import { newId } from '../ids.js';
import type { User } from '../model.js';
import text from './sqlite-user-store.sql';
import { toUser, type UserRow } from './user-rows.js';
import type { GrantedRole, UserStore } from './user-store.js';

const SQL = requireStatements(text, ['insert', 'byUsername', 'byId', 'setPasswordHash', 'rolesOf', 'grantRole', 'revokeRole']);

/**
 * Accounts and their roles in the embedded database; the `users.username` column is
 * NOCASE-unique. Each method is one statement, run by `runSqlite`.
 */
export class SqliteUserStore implements UserStore {
  private readonly statements: PreparedStatements<keyof typeof SQL>;

  constructor(private readonly db: SqliteDatabase) {
    this.statements = prepareOnFirstUse(db, SQL);
  }

  async create(user: { username: string; passwordHash: string }): Promise<User> {
    const created = { id: newId(), username: user.username, passwordHash: user.passwordHash, createdAt: Date.now() };
    try {
      await runSqlite(this.db, () => this.statements.insert.run(created));
    } catch (error) {
      // The unique index decides, so two racing registrations cannot both win.
      if ((error as { code?: unknown }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
        throw new ConflictError(`The username ${user.username} is taken`);
      }
      throw error;
    }
    return { ...created, createdAt: new Date(created.createdAt) };
  }

  async findByUsername(username: string): Promise<User | null> {
    const row = await runSqlite(this.db, () => this.statements.byUsername.get({ username }) as UserRow | undefined);
    return row ? toUser(row) : null;
  }

  async findById(id: string): Promise<User | null> {
    const row = await runSqlite(this.db, () => this.statements.byId.get({ id }) as UserRow | undefined);
    return row ? toUser(row) : null;
  }

  async setPasswordHash(userId: string, passwordHash: string): Promise<void> {
    const result = await runSqlite(this.db, () => this.statements.setPasswordHash.run({ userId, passwordHash }));
    if (result.changes === 0) throw new NotFoundError(`No user ${userId}`);
  }

  async rolesOf(userId: string): Promise<GrantedRole[]> {
    return runSqlite(this.db, () => this.statements.rolesOf.pluck().all({ userId }) as GrantedRole[]);
  }

  async grantRole(userId: string, role: GrantedRole): Promise<boolean> {
    try {
      return await runSqlite(this.db, () => this.statements.grantRole.run({ userId, role, grantedAt: Date.now() }).changes > 0);
    } catch (error) {
      if ((error as { code?: unknown }).code === 'SQLITE_CONSTRAINT_FOREIGNKEY') throw new NotFoundError(`No user ${userId}`);
      throw error;
    }
  }

  async revokeRole(userId: string, role: GrantedRole): Promise<boolean> {
    return runSqlite(this.db, () => this.statements.revokeRole.run({ userId, role }).changes > 0);
  }
}
