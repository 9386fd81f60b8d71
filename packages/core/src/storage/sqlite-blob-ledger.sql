-- sqlite-blob-ledger: the statements of SqliteBlobLedger (storage/sqlite-blob-ledger.ts).
--
-- Each statement starts at a `-- name:` line and is prepared once, on first use. Parameters
-- are named and bound from an object with the same camelCase keys. Times are epoch ms.
--
-- Every write is fenced: it changes nothing unless each fence it presents (@fenceKey and
-- @fenceToken, or @fences, a JSON array of {"key", "token"}) is still the current token of its
-- key in `fencing_tokens`, which every lock acquisition raises.

-- name: record
-- Written, or its tombstone cleared, only if no fence is stale.
INSERT INTO blobs (key, size_bytes, recorded_at, tombstoned_at)
SELECT @key, @sizeBytes, @now, NULL
WHERE NOT EXISTS (
  SELECT 1 FROM json_each(@fences) AS fence
  WHERE NOT EXISTS (
    SELECT 1 FROM fencing_tokens AS current
    WHERE current.key = fence.value ->> 'key' AND current.token = fence.value ->> 'token'
  )
)
ON CONFLICT (key) DO UPDATE SET size_bytes = excluded.size_bytes, recorded_at = excluded.recorded_at, tombstoned_at = NULL;

-- name: staleFence
-- After a refusal: the first fence whose token is no longer current, for the error.
SELECT fence.value ->> 'key' FROM json_each(@fences) AS fence
WHERE NOT EXISTS (
  SELECT 1 FROM fencing_tokens AS current
  WHERE current.key = fence.value ->> 'key' AND current.token = fence.value ->> 'token'
)
LIMIT 1;

-- name: tombstone
-- A tombstone already there keeps its time; a new one is never older than the last record.
INSERT INTO blobs (key, size_bytes, recorded_at, tombstoned_at)
SELECT @key, @sizeBytes, @now, @unusedSince
WHERE EXISTS (SELECT 1 FROM fencing_tokens WHERE key = @fenceKey AND token = @fenceToken)
ON CONFLICT (key) DO UPDATE SET tombstoned_at = coalesce(blobs.tombstoned_at, max(excluded.tombstoned_at, blobs.recorded_at));

-- name: tombstonedFirst
-- Served by the partial index blobs_tombstoned, which holds only tombstoned rows.
SELECT key, size_bytes FROM blobs
WHERE tombstoned_at IS NOT NULL AND tombstoned_at <= @before
ORDER BY key LIMIT @limit;

-- name: tombstonedAfter
SELECT key, size_bytes FROM blobs
WHERE tombstoned_at IS NOT NULL AND tombstoned_at <= @before AND key > @afterKey
ORDER BY key LIMIT @limit;

-- name: forget
DELETE FROM blobs
WHERE key = @key AND tombstoned_at IS NOT NULL AND tombstoned_at <= @before
  AND EXISTS (SELECT 1 FROM fencing_tokens WHERE key = @fenceKey AND token = @fenceToken);

-- name: isCurrent
SELECT 1 FROM fencing_tokens WHERE key = @fenceKey AND token = @fenceToken;
