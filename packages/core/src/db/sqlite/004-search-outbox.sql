-- 004-search-outbox: the search index is fed from an outbox written with the catalog.
--
-- Every catalog write that changes a track bumps its `version` and, in the same transaction,
-- records the track in `search_outbox`. The OutboxRelay (outbox/outbox-relay.ts) reads the
-- pending tracks, writes their current catalog rows to the index with their versions, and then
-- deletes each outbox row unless a newer version arrived meanwhile. The index keeps the
-- version it holds, and refuses an older one.

-- TrackCatalog. Existing tracks start at version 1; documents indexed before this migration
-- hold version 0, so the rewrite queued below replaces every one of them.
ALTER TABLE tracks ADD COLUMN version INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1);

-- One row per track with a change not yet in the index: a later change of the same track
-- raises `version` and keeps `enqueued_at`, the time since when the index has been behind.
-- `attempts` and `last_error` describe failed attempts; `next_attempt_at` delays the next.
-- Version 0 names a track the catalog does not hold: its document is to be removed.
CREATE TABLE search_outbox (
  track_id        TEXT    NOT NULL PRIMARY KEY,
  version         INTEGER NOT NULL CHECK (version >= 0),
  enqueued_at     INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL,
  attempts        INTEGER NOT NULL DEFAULT 0,
  last_error      TEXT
) WITHOUT ROWID;
-- The relay takes due rows in this order; the sync lag is the oldest enqueued_at.
CREATE INDEX search_outbox_due ON search_outbox (next_attempt_at, track_id);
CREATE INDEX search_outbox_enqueued ON search_outbox (enqueued_at);

-- SearchIndex (embedded). The version of each document, and whether its audio is stored.
ALTER TABLE search_documents ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE search_documents ADD COLUMN available INTEGER NOT NULL DEFAULT 0 CHECK (available IN (0, 1));

-- Until now an index failure while resolving a track lost its document silently, so every
-- track is written to the index once more, through the relay.
INSERT INTO search_outbox (track_id, version, enqueued_at, next_attempt_at)
SELECT id, version, CAST(unixepoch('subsec') * 1000 AS INTEGER), CAST(unixepoch('subsec') * 1000 AS INTEGER) FROM tracks;
