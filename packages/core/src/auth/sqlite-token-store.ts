import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { prepareOnFirstUse, requireStatements, type PreparedStatements } from '../db/named-statements.js';
import type { SqliteDatabase } from '../db/sqlite-database.js';
import { runSqlite } from '../db/sqlite-faults.js';
import { ConflictError } from '../errors.js';
import text from './sqlite-token-store.sql';
import { toFamily, type FamilyRow, type TokenRow } from './token-rows.js';
import type { RotateOutcome, TokenFamily, TokenStore } from './token-store.js';

const SQL = requireStatements(text, [
  'insertFamily',
  'insertToken',
  'tokenWithFamily',
  'spendToken',
  'revokeFamily',
  'revokeAllForUser',
  'purgeExpired',
]);

/** Families deleted per transaction when purging. */
const PURGE_BATCH = 500;

/**
 * Refresh-token families in the embedded database. Spent tokens are kept to detect reuse.
 * Each method is one statement or one transaction (a purge, one per batch), run by `runSqlite`.
 */
export class SqliteTokenStore implements TokenStore {
  private readonly statements: PreparedStatements<keyof typeof SQL>;

  constructor(private readonly db: SqliteDatabase) {
    this.statements = prepareOnFirstUse(db, SQL);
  }

  async createFamily(family: TokenFamily, firstTokenHash: string): Promise<void> {
    const now = Date.now();
    try {
      await runSqlite(
        this.db,
        this.db.transaction(() => {
          this.statements.insertFamily.run({
            familyId: family.id,
            userId: family.userId,
            expiresAt: family.expiresAt.getTime(),
            createdAt: now,
          });
          this.statements.insertToken.run({ tokenHash: firstTokenHash, familyId: family.id, createdAt: now });
        }),
      );
    } catch (error) {
      if (isUniqueViolation(error)) throw new ConflictError('The token family or token already exists');
      throw error;
    }
  }

  async rotate(tokenHash: string, nextTokenHash: string, now: Date): Promise<RotateOutcome> {
    // Immediate: two refreshes racing with the same token must not both see it unspent.
    const rotate = this.db.transaction((): RotateOutcome => {
      const row = this.statements.tokenWithFamily.get({ tokenHash }) as TokenRow | undefined;
      if (!row || row.expires_at <= now.getTime()) return { kind: 'invalid' };
      const family = toFamily(row);
      if (row.spent_at !== null) {
        this.statements.revokeFamily.run({ familyId: row.id, revokedAt: now.getTime() });
        return { kind: 'reused', family };
      }
      if (row.revoked_at !== null) return { kind: 'invalid' };
      this.statements.spendToken.run({ tokenHash, spentAt: now.getTime() });
      this.statements.insertToken.run({ tokenHash: nextTokenHash, familyId: row.id, createdAt: now.getTime() });
      return { kind: 'rotated', family };
    });
    return runSqlite(this.db, () => rotate.immediate());
  }

  async findFamilyByToken(tokenHash: string): Promise<TokenFamily | null> {
    const row = await runSqlite(this.db, () => this.statements.tokenWithFamily.get({ tokenHash }) as TokenRow | undefined);
    return row ? toFamily(row) : null;
  }

  async revokeFamily(familyId: string): Promise<TokenFamily | null> {
    const row = await runSqlite(this.db, () => this.statements.revokeFamily.get({ familyId, revokedAt: Date.now() }) as FamilyRow | undefined);
    return row ? toFamily(row) : null;
  }

  async revokeAllForUser(userId: string): Promise<TokenFamily[]> {
    const rows = await runSqlite(this.db, () => this.statements.revokeAllForUser.all({ userId, revokedAt: Date.now() }) as FamilyRow[]);
    return rows.map(toFamily);
  }

  async purgeExpired(before: Date): Promise<number> {
    const params = { before: before.getTime(), limit: PURGE_BATCH };
    let purged = 0;
    for (;;) {
      const deleted = await runSqlite(this.db, () => this.statements.purgeExpired.run(params).changes);
      purged += deleted;
      if (deleted < PURGE_BATCH) return purged;
      // Between batches the write lock is free for logins and refreshes.
      await yieldToEventLoop();
    }
  }
}

function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}
