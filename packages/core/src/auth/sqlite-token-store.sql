-- sqlite-token-store: the statements of SqliteTokenStore (auth/sqlite-token-store.ts).
--
-- Each statement starts at a `-- name:` line and is prepared once per store, on first use.
-- Parameters are named (`@familyId`) and bound from an object with the same camelCase keys.
-- Timestamps are INTEGER epoch milliseconds. Only SHA-256 hashes of refresh tokens are stored,
-- and spent ones are kept, so presenting one again is detected as reuse.

-- name: insertFamily
INSERT INTO token_families (id, user_id, expires_at, revoked_at, created_at)
VALUES (@familyId, @userId, @expiresAt, NULL, @createdAt);

-- name: insertToken
INSERT INTO refresh_tokens (token_hash, family_id, spent_at, created_at)
VALUES (@tokenHash, @familyId, NULL, @createdAt);

-- name: tokenWithFamily
-- A token with the state of its family, which decides whether the token is still good.
SELECT f.id, f.user_id, f.expires_at, f.revoked_at, t.spent_at
FROM refresh_tokens t JOIN token_families f ON f.id = t.family_id
WHERE t.token_hash = @tokenHash;

-- name: spendToken
UPDATE refresh_tokens SET spent_at = @spentAt WHERE token_hash = @tokenHash;

-- name: revokeFamily
-- Keeps the first revocation time when a family is revoked twice, and returns the family either way.
UPDATE token_families SET revoked_at = coalesce(revoked_at, @revokedAt) WHERE id = @familyId
RETURNING id, user_id, expires_at, revoked_at;

-- name: revokeAllForUser
UPDATE token_families SET revoked_at = @revokedAt WHERE user_id = @userId AND revoked_at IS NULL
RETURNING id, user_id, expires_at, revoked_at;

-- name: purgeExpired
-- One batch of at most @limit expired families (served by token_families_expires); their
-- refresh tokens go with them (ON DELETE CASCADE).
DELETE FROM token_families WHERE id IN (
  SELECT id FROM token_families WHERE expires_at < @before LIMIT @limit
);
