-- mysql-revocation-list: the statements of MysqlRevocationList (mysql/mysql-revocation-list.ts).
--
-- Each statement starts at a `-- name:` line and is compiled once, when the module loads.
-- Parameters are named and bound by name. `expires_at` is the epoch ms at which an entry stops
-- mattering (this process's clock, like the tokens' own expiry); `revoked_at` is when its row
-- was written, by the database's clock, CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED) (the
-- session is in UTC; NOW(3) is when the statement began). The table is in db/mysql/001-init.sql.
--
-- Why the poll reads behind its cursor: InnoDB hands out AUTO_INCREMENT values when a row is
-- inserted, not when it commits, so a revoke can become visible after one with a higher `seq`
-- was read. The cursor only moves past rows written over @windowMs ago by the database's
-- clock: every lower `seq` was given out before such a row was written, so unless its
-- statement has been running for longer than the window, it has committed and is read. The
-- rows of the last window are read again at each poll.

-- name: clock
SELECT CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED) AS now_ms;

-- name: settledCursor
-- The cursor of a full load, read before the rows: the highest `seq` among rows written over
-- @windowMs ago, expired rows included. Walks the primary key down from its end, so it reads
-- only the rows of the window and one more.
SELECT seq FROM revoked_ids
WHERE revoked_at <= CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED) - @windowMs
ORDER BY seq DESC
LIMIT 1;

-- name: liveEntries
-- Served by revoked_ids_expires.
SELECT kind, id, expires_at FROM revoked_ids WHERE expires_at > @now;

-- name: entriesAfter
-- The poll: a range of the primary key above the cursor.
SELECT seq, kind, id, expires_at, revoked_at FROM revoked_ids WHERE seq > @after ORDER BY seq;

-- name: insertEntry
-- A revoke is this one statement, committed by the server as soon as it ends, so nothing on
-- the client's side can hold it open between the `seq` it takes and its commit. An id listed
-- already fails with ER_DUP_ENTRY on revoked_ids_kind_id; the list then compares expiries in a
-- short transaction (lockEntry, deleteEntry, this again).
INSERT INTO revoked_ids (kind, id, expires_at, revoked_at)
VALUES (@kind, @id, @expiresAt, CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED));

-- name: lockEntry
-- An id listed already, locked for the rest of the transaction, by revoked_ids_kind_id.
SELECT seq, expires_at FROM revoked_ids WHERE kind = @kind AND id = @id FOR UPDATE;

-- name: deleteEntry
-- Its row gives way to one with the later expiry and a new `seq`, in the same transaction, so
-- that pollers read the later expiry.
DELETE FROM revoked_ids WHERE seq = @seq;

-- name: purgeExpired
-- One batch of expired rows, through revoked_ids_expires.
DELETE FROM revoked_ids WHERE expires_at <= @now ORDER BY expires_at LIMIT @limit;
