import type { RevocationKind } from './revocation-mirror.js';

/**
 * Sessions (token family ids, the `sid` claim) and single access tokens (the `jti` claim) that
 * were revoked while their signed tokens had not yet expired: the denylist that makes a logout,
 * or a refresh token's reuse, stop the access tokens at once.
 *
 * - **TTL.** An entry lives until `until`, the last moment a token it can stop is valid: for a
 *   session, its refresh family's expiry plus one access-token lifetime (a refresh just before
 *   the family expires mints a token that outlives it); for a `jti`, that token's `exp`. After
 *   that the token fails on its own, and the entry may be dropped. A second revoke of the same
 *   id keeps the later `until`.
 * - **Cache.** `isRevoked` answers from a copy of the list held by this process, with no I/O,
 *   which is why it is synchronous. A revoke is durable once it resolves, and this process's
 *   copy has it already.
 * - **Invalidation.** Other processes learn of a revoke within the adapter's stated bound: the
 *   embedded adapter polls the database for entries newer than the last it saw; a Redis adapter
 *   publishes each revoke to every process.
 * - **Fail closed.** Until the copy is loaded, after `close`, and whenever it has gone without a
 *   successful refresh for longer than the adapter's staleness bound, `isRevoked` throws
 *   `UnavailableError` (503): it never passes a token it cannot vouch for.
 */
export interface RevocationList {
  /** Revokes every access token of a session until `until`. */
  revokeSession(sessionId: string, until: Date): Promise<void>;
  /** Revokes one access token, by its `jti`, until `until` (its `exp`). */
  revokeToken(tokenId: string, until: Date): Promise<void>;
  /**
   * Whether the token's session or the token itself is revoked, from this process's copy.
   * @throws UnavailableError while the copy cannot be trusted (see above).
   */
  isRevoked(token: { sid: string; jti: string }): boolean;
}

/** One live entry of the list: what is revoked, and until when. */
export interface RevokedEntry {
  kind: RevocationKind;
  id: string;
  until: Date;
}

/**
 * A list that records revokes in a database and answers from its own copy (SqliteRevocationList,
 * MysqlRevocationList), as a shared cache in front of it (RedisRevocationList) needs it: told of
 * a revoke made elsewhere, and asked for the record when the cache lost it.
 */
export interface MirroredRevocationList extends RevocationList {
  /** Puts an entry revoked by another process into this process's copy at once, writing nothing; the copy keeps the later `until`. */
  learn(kind: RevocationKind, id: string, until: Date): void;
  /** The live entries of the record, read from the database. */
  liveEntries(): Promise<RevokedEntry[]>;
}
