-- mysql-lock-manager: the statements of MysqlLockManager (mysql/mysql-lock-manager.ts).
--
-- Each statement starts at a `-- name:` line and is compiled once, at load. Parameters are
-- named (`@owner`) and bound from an object with the same camelCase keys; @keys is an array of
-- lock keys, sorted, bound as a list for IN. @owner names one acquisition.
--
-- Time is the database's clock, in epoch milliseconds, so that hosts whose clocks disagree
-- still agree on when a lock ran out. NOW(3) is fixed for the length of a statement, so every
-- use of it in one statement reads the same instant.
--
-- An acquisition is one short transaction (nextToken, take for each key in sorted order,
-- owned, raiseTokens), committed, or rolled back when another acquisition holds a key. It
-- locks the keys' fencing_tokens rows, then their locks rows, both in key order, and nothing
-- else locks both tables: two acquisitions wait for each other, never deadlock. No
-- transaction stays open while the work runs; renew and release are one statement each.

-- name: heldByOthers
-- A key of the set that another acquisition holds unexpired: a plain read, no lock taken, so
-- that waiters polling a held lock never queue behind its holder's renewals.
SELECT `key` FROM locks
WHERE `key` IN (@keys) AND expires_at > CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)
LIMIT 1;

-- name: nextToken
-- One above the keys' highest token (1 for keys never locked); FOR UPDATE holds their rows
-- until commit, so two acquisitions of a key read its counter one after the other.
SELECT COALESCE(MAX(token), 0) + 1 AS token FROM fencing_tokens WHERE `key` IN (@keys) FOR UPDATE;

-- name: take
-- One key for this acquisition: a new row, or an expired one taken over; a live row of
-- another acquisition is left as it is (`owned` then tells). The assignments of ON DUPLICATE
-- KEY UPDATE run left to right, each seeing the ones before: expires_at, which every
-- condition reads, is assigned last.
INSERT INTO locks (`key`, owner, token, expires_at)
VALUES (@key, @owner, @token, CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED) + @ttlMs)
ON DUPLICATE KEY UPDATE
  owner = IF(expires_at <= CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED), @owner, owner),
  token = IF(expires_at <= CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED), @token, token),
  expires_at = IF(
    expires_at <= CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED),
    CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED) + @ttlMs,
    expires_at
  );

-- name: owned
-- How many keys of the set this acquisition took: all of them, or it rolls back.
SELECT COUNT(*) AS owned FROM locks WHERE `key` IN (@keys) AND owner = @owner;

-- name: raiseTokens
-- Every key of the acquisition to its token, in the same transaction as the take.
INSERT INTO fencing_tokens (`key`, token)
SELECT `key`, @token FROM locks WHERE `key` IN (@keys) AND owner = @owner ORDER BY `key`
ON DUPLICATE KEY UPDATE token = @token;

-- name: renew
-- How many keys this acquisition still holds (rows matched): fewer than it took means one
-- was taken over after it expired.
UPDATE locks SET expires_at = CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED) + @ttlMs
WHERE `key` IN (@keys) AND owner = @owner;

-- name: release
-- Only this acquisition's rows: one taken over stays with its new holder.
DELETE FROM locks WHERE `key` IN (@keys) AND owner = @owner;
