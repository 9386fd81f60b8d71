-- sqlite-search-index: the statements of SqliteSearchIndex (search/sqlite-search-index.ts).
--
-- Each statement starts at a `-- name:` line and is prepared once per index, on first use.
-- Parameters are named (`@trackId`) and bound from an object with the same camelCase keys.
-- FTS5 rows are addressed by rowid, so `search_documents` maps each track id to the rowid
-- (`doc_id`) of its row in `search_fts`: deleting by an UNINDEXED column would scan the index.
-- `search_documents` also keeps each document's version, so an older one is never written.
-- `search_fts` holds the text folded by foldSearchText, and @match is built from the folded
-- query: unicode61 alone leaves ø, ł and æ as they are.

-- name: register
-- Returns the document's doc_id when it is new or @version is no older than the indexed one;
-- no row when the index already holds a newer version, which is then left as it is.
INSERT INTO search_documents (track_id, version, available) VALUES (@trackId, @version, @available)
ON CONFLICT (track_id) DO UPDATE SET version = excluded.version, available = excluded.available
WHERE excluded.version >= search_documents.version
RETURNING doc_id;

-- name: docId
SELECT doc_id FROM search_documents WHERE track_id = @trackId;

-- name: unindex
DELETE FROM search_fts WHERE rowid = @docId;

-- name: index
-- Every column is folded; `artists` holds the names joined by newlines; a track without an
-- ISRC indexes ''.
INSERT INTO search_fts (rowid, title, artists, album, isrc) VALUES (@docId, @title, @artists, @album, @isrc);

-- name: forget
DELETE FROM search_documents WHERE doc_id = @docId;

-- name: scanIds
-- A page of documents(): the ids after @afterId, with their versions, in id order.
SELECT track_id AS id, version FROM search_documents WHERE track_id > @afterId ORDER BY track_id LIMIT @limit;

-- name: countMatches
-- @match is an FTS5 expression built by toFtsQuery, so it carries no syntax from the user.
-- Counting stops at @cap matches: totals beyond it need not be exact (API.md).
SELECT count(*) FROM (SELECT 1 FROM search_fts WHERE search_fts MATCH @match LIMIT @cap);

-- name: pageMatches
-- Ranked by bm25 with column weights in the column order of search_fts (title, artists,
-- album, isrc); ties broken by track id.
SELECT d.track_id FROM search_fts JOIN search_documents d ON d.doc_id = search_fts.rowid
WHERE search_fts MATCH @match
ORDER BY bm25(search_fts, 4.0, 3.0, 1.5, 1.0), d.track_id
LIMIT @limit OFFSET @offset;
