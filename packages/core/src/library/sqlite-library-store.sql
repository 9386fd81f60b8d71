-- sqlite-library-store: the statements of SqliteLibraryStore (library/sqlite-library-store.ts).
--
-- Each statement starts at a `-- name:` line and is prepared once per store, on first use.
-- Parameters are named (`@userId`) and bound from an object with the same camelCase keys.
-- Timestamps are INTEGER epoch milliseconds. A user's usage is the sum of their items' sizes.

-- name: item
-- Also how `add` finds a track already held: the primary key (user_id, track_id) serves it.
SELECT * FROM library_items WHERE user_id = @userId AND track_id = @trackId;

-- name: insert
-- Fenced when @fenceKey is set: nothing is inserted unless @fenceToken is still the current
-- token of that key (the track's lock) in `fencing_tokens`.
INSERT INTO library_items (user_id, track_id, size_bytes, added_at)
SELECT @userId, @trackId, @sizeBytes, @addedAt
WHERE @fenceKey IS NULL OR EXISTS (SELECT 1 FROM fencing_tokens WHERE key = @fenceKey AND token = @fenceToken);

-- name: remove
DELETE FROM library_items WHERE user_id = @userId AND track_id = @trackId;

-- name: countForUser
SELECT count(*) FROM library_items WHERE user_id = @userId;

-- name: pageForUser
-- Newest first; items added in the same millisecond are ordered by track id, as the index
-- library_items_user_added is, so a page is read from it without sorting.
SELECT * FROM library_items WHERE user_id = @userId
ORDER BY added_at DESC, track_id
LIMIT @limit OFFSET @offset;

-- name: usedBytes
SELECT coalesce(sum(size_bytes), 0) FROM library_items WHERE user_id = @userId;

-- name: holderCount
SELECT count(*) FROM library_items WHERE track_id = @trackId;
