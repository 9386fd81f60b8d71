-- mysql-blob-ledger: the statements of MysqlBlobLedger (mysql/mysql-blob-ledger.ts).
--
-- Each statement starts at a `-- name:` line and is compiled once, when the module loads.
-- Parameters are named (`@key`) and bound by name. Times are BIGINT epoch milliseconds;
-- `key` is a reserved word, hence the backquotes.
--
-- Every write is fenced: the ledger runs it in a transaction after holdsFence
-- (mysql-fencing-tokens.sql) has found each fence current and share-locked its token, so that
-- no newer token of those keys can be issued until the write has committed.

-- name: record
-- The file is stored and about to be used: written, or its tombstone cleared.
INSERT INTO blobs (`key`, size_bytes, recorded_at, tombstoned_at) VALUES (@key, @sizeBytes, @now, NULL)
ON DUPLICATE KEY UPDATE size_bytes = VALUES(size_bytes), recorded_at = VALUES(recorded_at), tombstoned_at = NULL;

-- name: tombstone
-- A tombstone already there keeps its time; a new one on a recorded row is never older than
-- the last record. A file without a row gets one, tombstoned since @unusedSince.
INSERT INTO blobs (`key`, size_bytes, recorded_at, tombstoned_at) VALUES (@key, @sizeBytes, @now, @unusedSince)
ON DUPLICATE KEY UPDATE tombstoned_at = COALESCE(tombstoned_at, GREATEST(VALUES(tombstoned_at), recorded_at));

-- name: tombstonedFirst
-- A range of blobs_tombstoned (tombstoned_at, key), sorted by key: few rows are tombstoned at
-- once, while reading the primary key in order would go through every stored file.
SELECT `key`, size_bytes FROM blobs
WHERE tombstoned_at IS NOT NULL AND tombstoned_at <= @before
ORDER BY `key` LIMIT @limit;

-- name: tombstonedAfter
SELECT `key`, size_bytes FROM blobs
WHERE tombstoned_at IS NOT NULL AND tombstoned_at <= @before AND `key` > @afterKey
ORDER BY `key` LIMIT @limit;

-- name: forget
-- No row deleted when the file was recorded again since: the caller keeps the file.
DELETE FROM blobs WHERE `key` = @key AND tombstoned_at IS NOT NULL AND tombstoned_at <= @before;
