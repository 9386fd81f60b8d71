-- mysql-search-index: the statements of MysqlSearchIndex (mysql/mysql-search-index.ts).
--
-- Each statement starts at a `-- name:` line and is compiled once, when the module loads.
-- Parameters are named (`@trackIds`) and bound from an object with the same camelCase keys;
-- a list binds as a comma-separated list, a list of lists as parenthesized rows.
--
-- `search_documents` holds each document's words as searchable text (searchableText in the
-- adapter): folded by foldSearchText (lower case, no accents, ø and ł spelled o and l),
-- letters and digits only, one space between words, artists apart by ' \n '. The FULLTEXT
-- index search_documents_text covers (title, artists, album, isrc).
--
-- A search is @match, a boolean-mode query of `+word` terms built by the adapter from the
-- folded query's letters and digits only (so it carries no operator of the user's), and
-- @patterns, a JSON array of LIKE patterns ('% word word %', the last word's '% word%'), for
-- the words FULLTEXT does not index (shorter than innodb_ft_min_token_size, or of several
-- pieces such as "AC/DC"). Both sides are folded already; LIKE and the index follow
-- utf8mb4_unicode_520_ci, which also folds most accents of documents written before
-- migration 002. The patterns match the document's columns between spaces and apart by
-- ' \n ', so a phrase never runs from one column into the next. `@patterns = '[]'` is a
-- constant the optimizer folds: a search of indexed words alone pays nothing for the
-- patterns. @pattern, the longest of them, is tried first on its own, and the others only
-- when there are others: JSON_TABLE costs about 10 µs a row, a plain LIKE a tenth of that.
--
-- The rank is FULLTEXT's relevance (TF-IDF over all columns) times the columns' weights for
-- @phrase, the whole query as one LIKE pattern: 4 where the title holds it, 3 an artist, 2
-- the album, else 1. Ties are broken by track id. (Weighting each word apart would need a
-- subquery per row, twice as slow on 100,000 matches.)

-- name: upsert
-- @documents: rows of (track_id, version, available, title, artists, album, isrc). A row older
-- than the stored one changes nothing: each column takes the new value only if the new
-- version is at least the stored one. `version` is assigned last, because MySQL assigns from
-- left to right and every IF must compare against the version as it was.
INSERT INTO search_documents (track_id, version, available, title, artists, album, isrc)
VALUES @documents
ON DUPLICATE KEY UPDATE
  available = IF(VALUES(version) >= version, VALUES(available), available),
  title = IF(VALUES(version) >= version, VALUES(title), title),
  artists = IF(VALUES(version) >= version, VALUES(artists), artists),
  album = IF(VALUES(version) >= version, VALUES(album), album),
  isrc = IF(VALUES(version) >= version, VALUES(isrc), isrc),
  version = GREATEST(version, VALUES(version));

-- name: remove
DELETE FROM search_documents WHERE track_id IN (@trackIds);

-- name: scanIds
-- A page of documents(): the ids after @afterId, with their versions, in id order (the
-- primary key's).
SELECT track_id AS id, version FROM search_documents WHERE track_id > @afterId ORDER BY track_id LIMIT @limit;

-- name: tokenSizes
-- The lengths of the words the FULLTEXT index holds: server settings, read once.
SELECT @@innodb_ft_min_token_size AS min_size, @@innodb_ft_max_token_size AS max_size;

-- name: countMatching
-- Through the FULLTEXT index; counting stops at @cap matches (API.md).
SELECT COUNT(*) AS total FROM (
  SELECT 1 FROM search_documents AS d
  WHERE MATCH (d.title, d.artists, d.album, d.isrc) AGAINST (@match IN BOOLEAN MODE)
    AND (@patterns = '[]' OR CONCAT(' ', d.title, ' \n ', d.artists, ' \n ', d.album, ' \n ', d.isrc, ' ') LIKE @pattern AND (JSON_LENGTH(@patterns) = 1 OR NOT EXISTS (
      SELECT 1 FROM JSON_TABLE(@patterns, '$[*]' COLUMNS (pattern TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci PATH '$')) AS w
      WHERE CONCAT(' ', d.title, ' \n ', d.artists, ' \n ', d.album, ' \n ', d.isrc, ' ') NOT LIKE w.pattern
    )))
  LIMIT @cap
) AS matches;

-- name: pageMatching
SELECT d.track_id FROM search_documents AS d
WHERE MATCH (d.title, d.artists, d.album, d.isrc) AGAINST (@match IN BOOLEAN MODE)
  AND (@patterns = '[]' OR CONCAT(' ', d.title, ' \n ', d.artists, ' \n ', d.album, ' \n ', d.isrc, ' ') LIKE @pattern AND (JSON_LENGTH(@patterns) = 1 OR NOT EXISTS (
    SELECT 1 FROM JSON_TABLE(@patterns, '$[*]' COLUMNS (pattern TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci PATH '$')) AS w
    WHERE CONCAT(' ', d.title, ' \n ', d.artists, ' \n ', d.album, ' \n ', d.isrc, ' ') NOT LIKE w.pattern
  )))
ORDER BY MATCH (d.title, d.artists, d.album, d.isrc) AGAINST (@match IN BOOLEAN MODE) * CASE
    WHEN CONCAT(' ', d.title, ' ') LIKE @phrase THEN 4
    WHEN CONCAT(' ', d.artists, ' ') LIKE @phrase THEN 3
    WHEN CONCAT(' ', d.album, ' ') LIKE @phrase THEN 2
    ELSE 1
  END DESC, d.track_id
LIMIT @limit OFFSET @offset;

-- name: countScanning
-- No word of the query is in the FULLTEXT index ("u2", "AC/DC"): the patterns alone, over
-- the whole table, as the other backends' fallbacks do. Counting stops at @cap matches.
SELECT COUNT(*) AS total FROM (
  SELECT 1 FROM search_documents AS d
  WHERE CONCAT(' ', d.title, ' \n ', d.artists, ' \n ', d.album, ' \n ', d.isrc, ' ') LIKE @pattern AND (JSON_LENGTH(@patterns) = 1 OR NOT EXISTS (
    SELECT 1 FROM JSON_TABLE(@patterns, '$[*]' COLUMNS (pattern TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci PATH '$')) AS w
    WHERE CONCAT(' ', d.title, ' \n ', d.artists, ' \n ', d.album, ' \n ', d.isrc, ' ') NOT LIKE w.pattern
  ))
  LIMIT @cap
) AS matches;

-- name: pageScanning
-- Ranked by the columns' weights for @phrase alone, since there is no relevance without FULLTEXT.
SELECT d.track_id FROM search_documents AS d
WHERE CONCAT(' ', d.title, ' \n ', d.artists, ' \n ', d.album, ' \n ', d.isrc, ' ') LIKE @pattern AND (JSON_LENGTH(@patterns) = 1 OR NOT EXISTS (
  SELECT 1 FROM JSON_TABLE(@patterns, '$[*]' COLUMNS (pattern TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci PATH '$')) AS w
  WHERE CONCAT(' ', d.title, ' \n ', d.artists, ' \n ', d.album, ' \n ', d.isrc, ' ') NOT LIKE w.pattern
))
ORDER BY CASE
    WHEN CONCAT(' ', d.title, ' ') LIKE @phrase THEN 4
    WHEN CONCAT(' ', d.artists, ' ') LIKE @phrase THEN 3
    WHEN CONCAT(' ', d.album, ' ') LIKE @phrase THEN 2
    ELSE 1
  END DESC, d.track_id
LIMIT @limit OFFSET @offset;
