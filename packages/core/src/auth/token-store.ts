/**
 * Refresh-token families. A login starts a family; every refresh spends one token and issues
 * the next. Only SHA-256 hashes of refresh tokens are stored.
 */
export interface TokenFamily {
  id: string;
  userId: string;
  expiresAt: Date;
}

export type RotateOutcome =
  | { kind: 'rotated'; family: TokenFamily }
  /** A spent token came back: the family is revoked, since one of its tokens leaked. */
  | { kind: 'reused'; family: TokenFamily }
  | { kind: 'invalid' };

export interface TokenStore {
  createFamily(family: TokenFamily, firstTokenHash: string): Promise<void>;
  /** Atomically spends `tokenHash` and stores `nextTokenHash` in the same family. */
  rotate(tokenHash: string, nextTokenHash: string, now: Date): Promise<RotateOutcome>;
  /** The family the token belongs to, if any, whether spent or not. */
  findFamilyByToken(tokenHash: string): Promise<TokenFamily | null>;
  revokeFamily(familyId: string): Promise<void>;
  revokeAllForUser(userId: string): Promise<void>;
  isFamilyActive(familyId: string, now: Date): Promise<boolean>;
}
