import { toFamily, type FamilyRow, type TokenRow } from '../auth/token-rows.js';
import type { RotateOutcome, TokenFamily, TokenStore } from '../auth/token-store.js';
import { ConflictError } from '../errors.js';
import type { MysqlDatabase } from './mysql-database.js';
import { isMysqlError } from './mysql-errors.js';
import { mysqlStatements } from './mysql-statements.js';
import text from './mysql-token-store.sql';

const SQL = mysqlStatements(text, [
  'insertFamily',
  'insertToken',
  'tokenWithFamily',
  'lockTokenWithFamily',
  'spendToken',
  'revokeFamily',
  'family',
  'lockLiveFamiliesOfUser',
  'revokeFamilies',
  'purgeExpired',
]);

/** Families deleted per statement when purging. */
const PURGE_BATCH = 500;

/**
 * Refresh-token families in MySQL. Spent tokens are kept to detect reuse. A rotation is one
 * short transaction that locks the token's row and its family's (SELECT … FOR UPDATE), so any
 * number of rotations of one token, from any number of processes, yield one `rotated` and
 * `reused` for the rest. Times are the caller's (`now`) or this process's clock, as in the
 * other adapters: they are compared with expiries the service computed.
 */
export class MysqlTokenStore implements TokenStore {
  constructor(private readonly db: MysqlDatabase) {}

  async createFamily(family: TokenFamily, firstTokenHash: string): Promise<void> {
    const now = Date.now();
    try {
      await this.db.transaction(async (tx) => {
        await tx.run(SQL.insertFamily, { familyId: family.id, userId: family.userId, expiresAt: family.expiresAt.getTime(), createdAt: now });
        await tx.run(SQL.insertToken, { tokenHash: firstTokenHash, familyId: family.id, createdAt: now });
      });
    } catch (error) {
      if (isMysqlError(error, 'ER_DUP_ENTRY')) throw new ConflictError('The token family or token already exists');
      throw error;
    }
  }

  async rotate(tokenHash: string, nextTokenHash: string, now: Date): Promise<RotateOutcome> {
    const at = now.getTime();
    return this.db.transaction(async (tx): Promise<RotateOutcome> => {
      const row = await tx.get<TokenRow>(SQL.lockTokenWithFamily, { tokenHash });
      if (!row || row.expires_at <= at) return { kind: 'invalid' };
      const family = toFamily(row);
      if (row.spent_at !== null) {
        await tx.run(SQL.revokeFamily, { familyId: row.id, revokedAt: at });
        return { kind: 'reused', family };
      }
      if (row.revoked_at !== null) return { kind: 'invalid' };
      await tx.run(SQL.spendToken, { tokenHash, spentAt: at });
      await tx.run(SQL.insertToken, { tokenHash: nextTokenHash, familyId: row.id, createdAt: at });
      return { kind: 'rotated', family };
    });
  }

  async findFamilyByToken(tokenHash: string): Promise<TokenFamily | null> {
    const row = await this.db.get<TokenRow>(SQL.tokenWithFamily, { tokenHash });
    return row ? toFamily(row) : null;
  }

  async revokeFamily(familyId: string): Promise<TokenFamily | null> {
    const { affectedRows } = await this.db.run(SQL.revokeFamily, { familyId, revokedAt: Date.now() });
    if (affectedRows === 0) return null;
    // MySQL's UPDATE returns no rows. A family's id, user and expiry never change; only a purge
    // between the two statements could remove it, and then there is nothing left to revoke.
    const row = await this.db.get<FamilyRow>(SQL.family, { familyId });
    return row ? toFamily(row) : null;
  }

  async revokeAllForUser(userId: string): Promise<TokenFamily[]> {
    const revokedAt = Date.now();
    return this.db.transaction(async (tx) => {
      const rows = await tx.all<FamilyRow>(SQL.lockLiveFamiliesOfUser, { userId });
      if (rows.length > 0) await tx.run(SQL.revokeFamilies, { familyIds: rows.map((row) => row.id), revokedAt });
      return rows.map(toFamily);
    });
  }

  async purgeExpired(before: Date): Promise<number> {
    const params = { before: before.getTime(), limit: PURGE_BATCH };
    let purged = 0;
    for (;;) {
      const { affectedRows } = await this.db.run(SQL.purgeExpired, params);
      purged += affectedRows;
      if (affectedRows < PURGE_BATCH) return purged;
    }
  }
}
