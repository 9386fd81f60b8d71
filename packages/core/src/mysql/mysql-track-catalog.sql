-- mysql-track-catalog: the statements of MysqlTrackCatalog (mysql/mysql-track-catalog.ts).
--
-- Each statement starts at a `-- name:` line and is compiled once, when the module loads.
-- Parameters are named (`@trackId`) and bound by name; a list binds as a comma-separated list
-- for IN (never empty), a list of lists as parenthesized rows for VALUES. Timestamps are BIGINT
-- epoch milliseconds; `artists` is a JSON array of names kept as text; the audio columns
-- (blob_key, size_bytes, content_type) are all set or all null.
--
-- Every write that changes a track raises its `version`, and the catalog records the change
-- in `search_outbox` (recordChanges) in the same transaction. MySQL has no RETURNING: an
-- upsert reads the rows it may change under an exclusive lock first (lockTracks) and works
-- out the new versions itself; attachAudio and detachAudio hand the new version back as the
-- statement's insert id, with LAST_INSERT_ID(expr).
--
-- attachAudio and detachAudio, when fenced, run after holdsFence (mysql-fencing-tokens.sql)
-- in the same transaction: its share lock on the key's token keeps a newer token from being
-- issued until the write has committed.

-- name: lockTracks
-- The rows an upsert may change, locked until it commits; ids the table lacks lock nothing
-- (READ COMMITTED takes no gap locks), so a concurrent insert of one meets ER_DUP_ENTRY.
SELECT id, title, artists, album, duration_ms, isrc, version FROM tracks WHERE id IN (@trackIds) ORDER BY id FOR UPDATE;

-- name: insertTracks
-- @rows: (id, title, artists, album, duration_ms, isrc, updated_at, version) of new tracks.
INSERT INTO tracks (id, title, artists, album, duration_ms, isrc, updated_at, version) VALUES @rows;

-- name: updateTracks
-- The same rows for tracks that exist and that lockTracks holds: each is replaced, with the
-- version worked out under that lock. Stored audio and the size seen are left alone.
INSERT INTO tracks (id, title, artists, album, duration_ms, isrc, updated_at, version) VALUES @rows
ON DUPLICATE KEY UPDATE title = VALUES(title), artists = VALUES(artists), album = VALUES(album),
  duration_ms = VALUES(duration_ms), isrc = VALUES(isrc), updated_at = VALUES(updated_at), version = VALUES(version);

-- name: recordChanges
-- @rows: (track_id, version, enqueued_at, next_attempt_at) of the changes, one per track. A
-- row already there is raised to the newer version and due at once, even if an earlier change
-- of the track is waiting out a failure; enqueued_at stays the time of the oldest change not
-- yet indexed.
INSERT INTO search_outbox (track_id, version, enqueued_at, next_attempt_at) VALUES @rows
ON DUPLICATE KEY UPDATE version = GREATEST(version, VALUES(version)), next_attempt_at = VALUES(next_attempt_at);

-- name: byId
SELECT id, title, artists, album, duration_ms, isrc, blob_key, size_bytes, content_type, updated_at, version
FROM tracks WHERE id = @trackId;

-- name: byIds
SELECT id, title, artists, album, duration_ms, isrc, blob_key, size_bytes, content_type, updated_at, version
FROM tracks WHERE id IN (@trackIds);

-- name: attachAudio
-- No row changed for an unknown track; the new version is the insert id.
UPDATE tracks SET blob_key = @blobKey, size_bytes = @sizeBytes, content_type = @contentType, updated_at = @updatedAt,
  seen_size_bytes = @sizeBytes, version = LAST_INSERT_ID(version + 1)
WHERE id = @trackId;

-- name: detachAudio
-- Leaves a track without audio untouched, so neither its updated_at nor its version moves.
UPDATE tracks SET blob_key = NULL, size_bytes = NULL, content_type = NULL, updated_at = @updatedAt,
  version = LAST_INSERT_ID(version + 1)
WHERE id = @trackId AND blob_key IS NOT NULL;

-- name: rememberSize
-- The size last seen of the track's audio, kept after its bytes are let go (detachAudio leaves
-- it). Not part of a Track's document, so no version and no outbox row.
UPDATE tracks SET seen_size_bytes = @sizeBytes WHERE id = @trackId AND NOT (seen_size_bytes <=> @sizeBytes);

-- name: knownSize
-- The stored audio's size, else the size last seen; no row for an unknown track.
SELECT COALESCE(size_bytes, seen_size_bytes) AS size FROM tracks WHERE id = @trackId;

-- name: countMatching
-- The fallback search while the search index is down. @patterns is a JSON array of LIKE
-- patterns (`\` escaping `%`, `_` and `\`), one per word: a track matches when no word fails
-- to occur in its title, its album or one of its artists (each name apart, so that the JSON
-- punctuation between names never matches). LIKE follows utf8mb4_unicode_520_ci: case and
-- accents fold, "bjork" finds "Björk". No index serves a '%word%' pattern, so this scans the
-- table; @pattern, the longest word's, is tried first on the columns as stored (a plain LIKE
-- costs a tenth of a JSON_TABLE), or is '%' when its word holds what JSON escapes (`"`, `\`,
-- control characters), since the stored text would then not show it. Counting stops at @cap
-- matches: totals beyond it need not be exact (API.md).
SELECT COUNT(*) AS total FROM (
  SELECT 1 FROM tracks AS t
  WHERE (t.title LIKE @pattern OR t.album LIKE @pattern OR t.artists LIKE @pattern)
    AND NOT EXISTS (
      SELECT 1 FROM JSON_TABLE(@patterns, '$[*]' COLUMNS (pattern TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci PATH '$')) AS word
      WHERE NOT (t.title LIKE word.pattern OR t.album LIKE word.pattern OR EXISTS (
        SELECT 1 FROM JSON_TABLE(t.artists, '$[*]' COLUMNS (name TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci PATH '$')) AS artist
        WHERE artist.name LIKE word.pattern
      ))
    )
  LIMIT @cap
) AS matches;

-- name: pageMatching
-- The same condition as countMatching, one page of it, ordered by title, then id.
SELECT t.id, t.title, t.artists, t.album, t.duration_ms, t.isrc, t.blob_key, t.size_bytes, t.content_type, t.updated_at, t.version
FROM tracks AS t
WHERE (t.title LIKE @pattern OR t.album LIKE @pattern OR t.artists LIKE @pattern)
  AND NOT EXISTS (
    SELECT 1 FROM JSON_TABLE(@patterns, '$[*]' COLUMNS (pattern TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci PATH '$')) AS word
    WHERE NOT (t.title LIKE word.pattern OR t.album LIKE word.pattern OR EXISTS (
      SELECT 1 FROM JSON_TABLE(t.artists, '$[*]' COLUMNS (name TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci PATH '$')) AS artist
      WHERE artist.name LIKE word.pattern
    ))
  )
ORDER BY t.title, t.id
LIMIT @limit OFFSET @offset;

-- name: idsWithBlob
-- Served by tracks_blob_key, whose entries end with the primary key: already in id order.
SELECT id FROM tracks WHERE blob_key = @blobKey ORDER BY id;

-- name: storedBytes
-- Tracks with the same audio share one blob (keyed by its hash), so each key counts once.
SELECT COALESCE(SUM(size_bytes), 0) AS total FROM
  (SELECT MAX(size_bytes) AS size_bytes FROM tracks WHERE blob_key IS NOT NULL GROUP BY blob_key) AS blobs;

-- name: scanFirst
-- The first batch of a scan in id order. Two statements rather than `(@afterId IS NULL OR
-- id > @afterId)`, which would keep the optimizer from a range read of the primary key.
SELECT id, title, artists, album, duration_ms, isrc, blob_key, size_bytes, content_type, updated_at, version
FROM tracks ORDER BY id LIMIT @limit;

-- name: scanAfter
SELECT id, title, artists, album, duration_ms, isrc, blob_key, size_bytes, content_type, updated_at, version
FROM tracks WHERE id > @afterId ORDER BY id LIMIT @limit;
