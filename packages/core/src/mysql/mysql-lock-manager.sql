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
-- An acquisition is one short transaction: take for each key in sorted order, the keys'
-- tokens raised (MysqlFencingTokens.issueWithin), then stamp, which also tells whether every
-- key is this acquisition's; committed, or rolled back (the raise with it) when another
-- acquisition holds a key. It locks the keys' locks rows, then their fencing_tokens rows, both
-- in key order; a guarded write locks only fencing_tokens rows, a renewal only locks rows: no
-- two of them wait for each other in a cycle. No transaction stays open while the work runs;
-- renew and release are one statement each.

-- name: heldByOthers
-- A key of the set that another acquisition holds unexpired: a plain read, no lock taken, so
-- that waiters polling a held lock never queue behind its holder's renewals.
SELECT `key` FROM locks
WHERE `key` IN (@keys) AND expires_at > CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)
LIMIT 1;

-- name: take
-- One key for this acquisition, its token stamped later in the transaction: a new row, or an
-- expired one taken over; a live row of another acquisition is left as it is. The
-- assignments of ON DUPLICATE KEY UPDATE run left to right, each seeing the ones before:
-- expires_at, which every condition reads, is assigned last.
INSERT INTO locks (`key`, owner, token, expires_at)
VALUES (@key, @owner, 0, CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED) + @ttlMs)
ON DUPLICATE KEY UPDATE
  owner = IF(expires_at <= CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED), @owner, owner),
  expires_at = IF(
    expires_at <= CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED),
    CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED) + @ttlMs,
    expires_at
  );

-- name: stamp
-- The acquisition's token on its rows, in the same transaction as the take: how many keys of
-- the set it took (rows matched), all of them or it rolls back.
UPDATE locks SET token = @token WHERE `key` IN (@keys) AND owner = @owner;

-- name: renew
-- How many keys this acquisition still holds (rows matched): fewer than it took means one
-- was taken over after it expired.
UPDATE locks SET expires_at = CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED) + @ttlMs
WHERE `key` IN (@keys) AND owner = @owner;

-- name: release
-- Only this acquisition's rows: one taken over stays with its new holder.
DELETE FROM locks WHERE `key` IN (@keys) AND owner = @owner;
