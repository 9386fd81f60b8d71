-- mysql-search-outbox: the statements of MysqlSearchOutbox (mysql/mysql-search-outbox.ts).
--
-- Each statement starts at a `-- name:` line and is compiled once, when the module loads.
-- Parameters are named (`@trackId`) and bound by name. Times are BIGINT epoch milliseconds.
-- MysqlTrackCatalog writes the rows, in the transaction of each change (its statement
-- recordChanges): one row per track, at the version of its latest change; these statements
-- read and settle them. Rows are taken by due time, never by a cursor over ids, which can
-- commit out of order.
--
-- Several relays, in one process or several, may read the same rows and write the same
-- documents: the index keeps the newest version of each, and a row is deleted only up to the
-- version written, so a change made meanwhile stays for the next pass.

-- name: due
-- Read from search_outbox_due (next_attempt_at, track_id) in its order, @limit rows and no
-- more. Forced: when most rows are due (a reindex queues every track), the optimizer would
-- rather scan the table and sort all of it, on every pass.
SELECT track_id, version, attempts, last_error, enqueued_at FROM search_outbox FORCE INDEX (search_outbox_due)
WHERE next_attempt_at <= @now
ORDER BY next_attempt_at, track_id
LIMIT @limit;

-- name: applied
-- @changes is a JSON array of {"trackId", "version"}, in track id order. A change that arrived
-- after the relay read the catalog has a higher version, and stays.
DELETE search_outbox FROM search_outbox
JOIN JSON_TABLE(@changes, '$[*]' COLUMNS (
  track_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin PATH '$.trackId',
  version  BIGINT PATH '$.version'
)) AS written ON written.track_id = search_outbox.track_id
WHERE search_outbox.version <= written.version;

-- name: failed
-- Only the version that failed: a newer change of the track is due at once, untouched.
UPDATE search_outbox SET attempts = attempts + 1, last_error = @error, next_attempt_at = @retryAt
WHERE track_id = @trackId AND version = @version;

-- name: enqueue
-- @trackIds is a JSON array. A track the catalog lacks is queued at version 0: the relay then
-- removes its document. A row already there keeps the higher version and is due at once.
INSERT INTO search_outbox (track_id, version, enqueued_at, next_attempt_at)
SELECT ids.track_id, COALESCE(tracks.version, 0), @now, @now
FROM JSON_TABLE(@trackIds, '$[*]' COLUMNS (track_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin PATH '$')) AS ids
LEFT JOIN tracks ON tracks.id = ids.track_id
ON DUPLICATE KEY UPDATE version = GREATEST(search_outbox.version, VALUES(version)), next_attempt_at = VALUES(next_attempt_at);

-- name: backlog
-- The table holds pending changes only; MIN is read from search_outbox_enqueued.
SELECT COUNT(*) AS pending, MIN(enqueued_at) AS oldest FROM search_outbox;
