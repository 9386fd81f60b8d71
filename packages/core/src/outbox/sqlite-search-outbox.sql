-- sqlite-search-outbox: the statements of SqliteSearchOutbox (outbox/sqlite-search-outbox.ts).
--
-- Each statement starts at a `-- name:` line and is prepared once per outbox, on first use.
-- Parameters are named (`@trackId`) and bound from an object with the same camelCase keys.
-- Times are INTEGER epoch milliseconds. SqliteTrackCatalog writes the rows, in the transaction
-- of each change (its statement recordChange); these statements read and settle them.

-- name: due
-- Served by search_outbox_due, in its order.
SELECT track_id, version, attempts, last_error, enqueued_at FROM search_outbox
WHERE next_attempt_at <= @now
ORDER BY next_attempt_at, track_id
LIMIT @limit;

-- name: applied
-- A change that arrived after the relay read the catalog has a higher version, and stays.
DELETE FROM search_outbox WHERE track_id = @trackId AND version <= @version;

-- name: failed
UPDATE search_outbox SET attempts = attempts + 1, last_error = @error, next_attempt_at = @retryAt
WHERE track_id = @trackId AND version = @version;

-- name: enqueue
-- @trackIds is a JSON array. A track the catalog lacks is queued at version 0: the relay then
-- removes its document. (`WHERE true` tells SQLite's parser that ON CONFLICT is an upsert.)
INSERT INTO search_outbox (track_id, version, enqueued_at, next_attempt_at)
SELECT ids.value, coalesce(tracks.version, 0), @now, @now
FROM json_each(@trackIds) AS ids LEFT JOIN tracks ON tracks.id = ids.value
WHERE true
ON CONFLICT (track_id) DO UPDATE SET
  version = max(search_outbox.version, excluded.version), next_attempt_at = excluded.next_attempt_at;

-- name: backlog
-- One scan of search_outbox_enqueued, its narrowest index: the table holds pending changes only.
SELECT count(*) AS pending, min(enqueued_at) AS oldest FROM search_outbox;
