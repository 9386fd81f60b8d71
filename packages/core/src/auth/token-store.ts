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
  /**
   * A spent token came back: the family is revoked, since one of its tokens leaked. Said again
   * each time it comes back while the family has not expired, so that a caller whose follow-up
   * (ending the family's access tokens) failed gets another chance.
   */
  | { kind: 'reused'; family: TokenFamily }
  | { kind: 'invalid' };

export interface TokenStore {
  createFamily(family: TokenFamily, firstTokenHash: string): Promise<void>;
  /** Atomically spends `tokenHash` and stores `nextTokenHash` in the same family. */
  rotate(tokenHash: string, nextTokenHash: string, now: Date): Promise<RotateOutcome>;
  /** The family the token belongs to, if any, whether spent or not. */
  findFamilyByToken(tokenHash: string): Promise<TokenFamily | null>;
  /**
   * Stops the family's refresh tokens; its access tokens live on until they are put on the
   * `RevocationList`. Returns the family (revoked now or before), or null if there is none.
   */
  revokeFamily(familyId: string): Promise<TokenFamily | null>;
  /** `revokeFamily` for each family of the user that was not revoked yet; returns those. */
  revokeAllForUser(userId: string): Promise<TokenFamily[]>;
  /**
   * Deletes the families that expired before `before`, with their tokens, in bounded batches;
   * returns how many. An expired family can neither refresh nor be reused, so nothing is lost.
   */
  purgeExpired(before: Date): Promise<number>;
}
