-- sqlite-track-catalog: the statements of SqliteTrackCatalog (catalog/sqlite-track-catalog.ts).
--
-- Each statement starts at a `-- name:` line and is prepared once per catalog, on first use.
-- Parameters are named (`@trackId`) and bound from an object with the same camelCase keys.
-- Timestamps are INTEGER epoch milliseconds; `artists` is a JSON array of names; the audio
-- columns (blob_key, size_bytes, content_type) are all set or all null.
--
-- Every write that changes a track raises its `version` and returns it, and the catalog then
-- records the change in `search_outbox` (recordChange) in the same transaction.
--
-- attachAudio and detachAudio are fenced when @fenceKey is set: they change nothing unless
-- @fenceToken is still the key's current token in `fencing_tokens` (the track's lock).

-- name: upsert
-- Returns the new version; no row when the metadata is the same as stored, so that refreshing
-- a track with what it already says (the demo seeding, at every start) changes nothing.
INSERT INTO tracks (id, title, artists, album, duration_ms, isrc, updated_at, version)
VALUES (@id, @title, @artists, @album, @durationMs, @isrc, @updatedAt, 1)
ON CONFLICT (id) DO UPDATE SET
  title = excluded.title, artists = excluded.artists, album = excluded.album,
  duration_ms = excluded.duration_ms, isrc = excluded.isrc, updated_at = excluded.updated_at,
  version = tracks.version + 1
WHERE tracks.title IS NOT excluded.title OR tracks.artists IS NOT excluded.artists
  OR tracks.album IS NOT excluded.album OR tracks.duration_ms IS NOT excluded.duration_ms
  OR tracks.isrc IS NOT excluded.isrc
RETURNING version;

-- name: recordChange
-- The outbox row of a change: one per track, raised to the newest version. A new change is
-- due at once, even if an earlier one of the same track is waiting out a failure; enqueued_at
-- stays the time of the oldest change not yet indexed.
INSERT INTO search_outbox (track_id, version, enqueued_at, next_attempt_at)
VALUES (@trackId, @version, @now, @now)
ON CONFLICT (track_id) DO UPDATE SET
  version = max(search_outbox.version, excluded.version), next_attempt_at = excluded.next_attempt_at;

-- name: byId
SELECT * FROM tracks WHERE id = @trackId;

-- name: byIds
-- One JSON array parameter instead of one parameter per id, so no list is too long for SQLite.
SELECT * FROM tracks WHERE id IN (SELECT value FROM json_each(@trackIds));

-- name: attachAudio
-- Returns the new version; no row for an unknown track or a stale fence.
UPDATE tracks SET blob_key = @blobKey, size_bytes = @sizeBytes, content_type = @contentType, updated_at = @updatedAt,
  seen_size_bytes = @sizeBytes, version = version + 1
WHERE id = @trackId
  AND (@fenceKey IS NULL OR EXISTS (SELECT 1 FROM fencing_tokens WHERE key = @fenceKey AND token = @fenceToken))
RETURNING version;

-- name: detachAudio
-- Leaves a track without audio untouched, so neither its updated_at nor its version moves.
UPDATE tracks SET blob_key = NULL, size_bytes = NULL, content_type = NULL, updated_at = @updatedAt, version = version + 1
WHERE id = @trackId AND blob_key IS NOT NULL
  AND (@fenceKey IS NULL OR EXISTS (SELECT 1 FROM fencing_tokens WHERE key = @fenceKey AND token = @fenceToken))
RETURNING version;

-- name: rememberSize
-- The size last seen of the track's audio, kept after its bytes are let go (detachAudio leaves
-- it). Not part of a Track's document, so no version and no outbox row.
UPDATE tracks SET seen_size_bytes = @sizeBytes WHERE id = @trackId AND seen_size_bytes IS NOT @sizeBytes;

-- name: knownSize
-- The stored audio's size, else the size last seen; no row for an unknown track.
SELECT coalesce(size_bytes, seen_size_bytes) FROM tracks WHERE id = @trackId;

-- name: countMatching
-- The fallback search. @patterns is a JSON array of LIKE patterns (with `\` escaping `%`, `_`
-- and `\`), one per word: a track matches when no word fails to occur in its title, its album
-- or one of its artists. LIKE folds ASCII case only. No index serves a `%word%` pattern, so
-- this scans the table; the caller bounds the number of words. Counting stops at @cap
-- matches: totals beyond it need not be exact (API.md).
SELECT count(*) FROM (
  SELECT 1 FROM tracks
  WHERE NOT EXISTS (
    SELECT 1 FROM json_each(@patterns) AS word
    WHERE NOT (
      title LIKE word.value ESCAPE '\'
      OR album LIKE word.value ESCAPE '\'
      OR EXISTS (SELECT 1 FROM json_each(tracks.artists) AS artist WHERE artist.value LIKE word.value ESCAPE '\')
    )
  )
  LIMIT @cap
);

-- name: pageMatching
-- The same condition as countMatching, one page of it, ordered by title, then id.
SELECT * FROM tracks
WHERE NOT EXISTS (
  SELECT 1 FROM json_each(@patterns) AS word
  WHERE NOT (
    title LIKE word.value ESCAPE '\'
    OR album LIKE word.value ESCAPE '\'
    OR EXISTS (SELECT 1 FROM json_each(tracks.artists) AS artist WHERE artist.value LIKE word.value ESCAPE '\')
  )
)
ORDER BY title COLLATE NOCASE, id
LIMIT @limit OFFSET @offset;

-- name: idsWithBlob
-- Served by the partial index tracks_blob_key.
SELECT id FROM tracks WHERE blob_key = @blobKey ORDER BY id;

-- name: storedBytes
-- Tracks with the same audio share one blob (keyed by its hash), so each key counts once.
SELECT coalesce(sum(size_bytes), 0) FROM
  (SELECT max(size_bytes) AS size_bytes FROM tracks WHERE blob_key IS NOT NULL GROUP BY blob_key);

-- name: scanFirst
-- The first batch of a scan in id order. Two statements rather than `(@afterId IS NULL OR
-- id > @afterId)`: with that, each batch would walk the id index from its start.
SELECT * FROM tracks ORDER BY id LIMIT @limit;

-- name: scanAfter
SELECT * FROM tracks WHERE id > @afterId ORDER BY id LIMIT @limit;
