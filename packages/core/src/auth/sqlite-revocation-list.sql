-- sqlite-revocation-list: the statements of SqliteRevocationList (auth/sqlite-revocation-list.ts).
--
-- Each statement starts at a `-- name:` line and is prepared once per list, on first use.
-- Parameters are named (`@expiresAt`) and bound from an object with the same camelCase keys.
-- Timestamps are INTEGER epoch milliseconds; `kind` is 'session' or 'token'. The table and why
-- `seq` is a safe cursor are in db/sqlite/005-revocation-list.sql.

-- name: lastSeq
-- The cursor of a full load, read in the same transaction as liveEntries. Expired rows count:
-- a row is never seen twice, and one past the cursor is always new.
SELECT coalesce(max(seq), 0) FROM revoked_ids;

-- name: liveEntries
SELECT kind, id, expires_at FROM revoked_ids WHERE expires_at > @now;

-- name: entriesAfter
-- The poll: what other processes (and this one) revoked since the last poll.
SELECT seq, kind, id, expires_at FROM revoked_ids WHERE seq > @after ORDER BY seq;

-- name: dropShorter
-- A revoke of an id already listed with an earlier expiry replaces that row, so that the new
-- row gets a new seq and pollers see the later expiry.
DELETE FROM revoked_ids WHERE kind = @kind AND id = @id AND expires_at < @expiresAt;

-- name: insertEntry
-- Does nothing when the id is listed already with an expiry as late or later.
INSERT INTO revoked_ids (kind, id, expires_at, revoked_at)
VALUES (@kind, @id, @expiresAt, @revokedAt)
ON CONFLICT (kind, id) DO NOTHING;

-- name: purgeExpired
DELETE FROM revoked_ids WHERE expires_at <= @now;
