-- 002-folded-search-text: the search index holds its text folded by the application, as
-- SQLite's 009.
--
-- MysqlSearchIndex now writes titles, artists and albums folded by foldSearchText (lower
-- case, marks removed, ø, ł, æ, ß and the like spelled out) and folds each query alike, as
-- every engine does: utf8mb4_unicode_520_ci folds neither þ nor ı, and its LIKE does not take
-- ß for "ss". The columns keep their collation, so documents written before this migration
-- go on answering most queries ("bjork" finds "Björk") until they are written again.

-- Every track is queued for the relay, which writes its document again, folded, at its
-- current version (the index accepts the version it holds). A track already queued keeps its
-- row, which will be written folded too, and running this again changes nothing.
INSERT INTO search_outbox (track_id, version, enqueued_at, next_attempt_at)
SELECT id, version, CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED), CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED) FROM tracks
ON DUPLICATE KEY UPDATE search_outbox.track_id = search_outbox.track_id;
