import type { SqliteDatabase } from '../db/sqlite-database.js';
import { ConflictError } from '../errors.js';
import type { RotateOutcome, TokenFamily, TokenStore } from './token-store.js';

interface FamilyRow {
  id: string;
  user_id: string;
  expires_at: number;
  revoked_at: number | null;
}

interface TokenRow extends FamilyRow {
  spent_at: number | null;
}

const TOKEN_WITH_FAMILY = `
  SELECT f.id, f.user_id, f.expires_at, f.revoked_at, t.spent_at
  FROM refresh_tokens t JOIN token_families f ON f.id = t.family_id
  WHERE t.token_hash = ?`;

function toFamily(row: FamilyRow): TokenFamily {
  return { id: row.id, userId: row.user_id, expiresAt: new Date(row.expires_at) };
}

/** Refresh-token families in the embedded database. Spent tokens are kept to detect reuse. */
export class SqliteTokenStore implements TokenStore {
  constructor(private readonly db: SqliteDatabase) {}

  async createFamily(family: TokenFamily, firstTokenHash: string): Promise<void> {
    const now = Date.now();
    try {
      this.db.transaction(() => {
        this.db
          .prepare('INSERT INTO token_families (id, user_id, expires_at, revoked_at, created_at) VALUES (?, ?, ?, NULL, ?)')
          .run(family.id, family.userId, family.expiresAt.getTime(), now);
        this.db
          .prepare('INSERT INTO refresh_tokens (token_hash, family_id, spent_at, created_at) VALUES (?, ?, NULL, ?)')
          .run(firstTokenHash, family.id, now);
      })();
    } catch (error) {
      if (isUniqueViolation(error)) throw new ConflictError('The token family or token already exists');
      throw error;
    }
  }

  async rotate(tokenHash: string, nextTokenHash: string, now: Date): Promise<RotateOutcome> {
    // Immediate: two refreshes racing with the same token must not both see it unspent.
    return this.db
      .transaction((): RotateOutcome => {
        const row = this.db.prepare(TOKEN_WITH_FAMILY).get(tokenHash) as TokenRow | undefined;
        if (!row || row.revoked_at !== null || row.expires_at <= now.getTime()) return { kind: 'invalid' };
        const family = toFamily(row);
        if (row.spent_at !== null) {
          this.db.prepare('UPDATE token_families SET revoked_at = ? WHERE id = ?').run(now.getTime(), row.id);
          return { kind: 'reused', family };
        }
        this.db.prepare('UPDATE refresh_tokens SET spent_at = ? WHERE token_hash = ?').run(now.getTime(), tokenHash);
        this.db
          .prepare('INSERT INTO refresh_tokens (token_hash, family_id, spent_at, created_at) VALUES (?, ?, NULL, ?)')
          .run(nextTokenHash, row.id, now.getTime());
        return { kind: 'rotated', family };
      })
      .immediate();
  }

  async findFamilyByToken(tokenHash: string): Promise<TokenFamily | null> {
    const row = this.db.prepare(TOKEN_WITH_FAMILY).get(tokenHash) as TokenRow | undefined;
    return row ? toFamily(row) : null;
  }

  async revokeFamily(familyId: string): Promise<void> {
    this.db
      .prepare('UPDATE token_families SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL')
      .run(Date.now(), familyId);
  }

  async revokeAllForUser(userId: string): Promise<void> {
    this.db
      .prepare('UPDATE token_families SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL')
      .run(Date.now(), userId);
  }

  async isFamilyActive(familyId: string, now: Date): Promise<boolean> {
    const row = this.db
      .prepare('SELECT 1 FROM token_families WHERE id = ? AND revoked_at IS NULL AND expires_at > ?')
      .get(familyId, now.getTime());
    return row !== undefined;
  }
}

function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}
