-- 009-folded-search-text: the search index holds its text folded by the application.
--
-- SqliteSearchIndex now writes titles, artists and albums folded by foldSearchText (lower
-- case, marks removed, ø, ł, æ, ß and the like spelled out) and folds each query alike, as
-- every engine does, since unicode61 leaves ø and ł as they are. search_fts keeps its
-- tokenizer: it still removes diacritics, so documents written before this migration go on
-- answering most queries ("bjork" finds "Björk", "lona" not yet "Łona") until they are
-- written again.

-- Every track is queued for the relay, which writes its document again, folded, at its
-- current version (the index accepts the version it holds). A track already queued keeps its
-- row: that change will be written folded too. (`WHERE true` tells SQLite's parser that ON
-- CONFLICT is an upsert.)
INSERT INTO search_outbox (track_id, version, enqueued_at, next_attempt_at)
SELECT id, version, CAST(unixepoch('subsec') * 1000 AS INTEGER), CAST(unixepoch('subsec') * 1000 AS INTEGER) FROM tracks
WHERE true
ON CONFLICT (track_id) DO NOTHING;
