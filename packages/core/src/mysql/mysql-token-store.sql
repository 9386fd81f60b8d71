-- mysql-token-store: the statements of MysqlTokenStore (mysql/mysql-token-store.ts).
--
-- Each statement starts at a `-- name:` line and is compiled once, when the module loads.
-- Parameters are named (`@familyId`) and bound by name. Timestamps are BIGINT epoch
-- milliseconds. Only SHA-256 hashes of refresh tokens are stored, and spent ones are kept, so
-- that presenting one again is detected as reuse. The tables are in db/mysql/001-init.sql;
-- deleting a family deletes its tokens (ON DELETE CASCADE).

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

-- name: lockTokenWithFamily
-- The same, for a rotation: it locks the token's row and its family's row until the rotation
-- commits, and reads their latest committed state (a locking read), so of two rotations of one
-- token the second waits, then finds the token spent.
SELECT f.id, f.user_id, f.expires_at, f.revoked_at, t.spent_at
FROM refresh_tokens t JOIN token_families f ON f.id = t.family_id
WHERE t.token_hash = @tokenHash
FOR UPDATE;

-- name: spendToken
UPDATE refresh_tokens SET spent_at = @spentAt WHERE token_hash = @tokenHash;

-- name: revokeFamily
-- Keeps the first revocation time when a family is revoked twice. The count is of rows matched
-- (CLIENT_FOUND_ROWS): 1 whenever the family exists.
UPDATE token_families SET revoked_at = COALESCE(revoked_at, @revokedAt) WHERE id = @familyId;

-- name: family
SELECT id, user_id, expires_at FROM token_families WHERE id = @familyId;

-- name: lockLiveFamiliesOfUser
-- The user's families not yet revoked, locked (served by token_families_user): a concurrent
-- revokeAllForUser waits, then finds them revoked, so each family is reported once.
SELECT id, user_id, expires_at FROM token_families
WHERE user_id = @userId AND revoked_at IS NULL
ORDER BY id
FOR UPDATE;

-- name: revokeFamilies
UPDATE token_families SET revoked_at = @revokedAt WHERE id IN (@familyIds) AND revoked_at IS NULL;

-- name: purgeExpired
-- One batch of at most @limit expired families, read through token_families_expires; their
-- refresh tokens go with them. Each batch is its own short transaction, so a large purge never
-- holds many locks for long. The count is of families: cascaded tokens are not counted.
DELETE FROM token_families WHERE expires_at < @before ORDER BY expires_at, id LIMIT @limit;
