-- 001-init: the embedded (SQLite) schema of every persistent port.
--
-- Timestamps are INTEGER epoch milliseconds. Tables of different ports carry no foreign keys
-- between them: each port may live in another backend (MySQL, Elasticsearch), so services keep
-- them consistent and the reconciler repairs drift. Within one port, keys are enforced.

-- UserStore. Usernames are ASCII (see API.md), so NOCASE makes them unique without regard to case.
CREATE TABLE users (
  id            TEXT    NOT NULL PRIMARY KEY,
  username      TEXT    NOT NULL COLLATE NOCASE UNIQUE,
  password_hash TEXT    NOT NULL,
  created_at    INTEGER NOT NULL
);

-- TokenStore. A login starts a family; only SHA-256 hashes of refresh tokens are stored.
CREATE TABLE token_families (
  id         TEXT    NOT NULL PRIMARY KEY,
  user_id    TEXT    NOT NULL,
  expires_at INTEGER NOT NULL,
  revoked_at INTEGER,
  created_at INTEGER NOT NULL
);
CREATE INDEX token_families_user ON token_families (user_id);

CREATE TABLE refresh_tokens (
  token_hash TEXT    NOT NULL PRIMARY KEY,
  family_id  TEXT    NOT NULL REFERENCES token_families (id) ON DELETE CASCADE,
  spent_at   INTEGER,
  created_at INTEGER NOT NULL
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

-- TrackCatalog. `artists` is a JSON array of names. The audio columns are all set or all null.
CREATE TABLE tracks (
  id           TEXT    NOT NULL PRIMARY KEY,
  title        TEXT    NOT NULL,
  artists      TEXT    NOT NULL,
  album        TEXT    NOT NULL,
  duration_ms  INTEGER NOT NULL,
  isrc         TEXT,
  blob_key     TEXT,
  size_bytes   INTEGER,
  content_type TEXT,
  updated_at   INTEGER NOT NULL,
  CHECK ((blob_key IS NULL) = (size_bytes IS NULL) AND (blob_key IS NULL) = (content_type IS NULL))
);
-- The reconciler looks a stored file up by its key.
CREATE INDEX tracks_blob_key ON tracks (blob_key) WHERE blob_key IS NOT NULL;

-- LibraryStore. The primary key serves per-user usage sums; the track index serves holderCount.
CREATE TABLE library_items (
  user_id    TEXT    NOT NULL,
  track_id   TEXT    NOT NULL,
  size_bytes INTEGER NOT NULL CHECK (size_bytes >= 0),
  added_at   INTEGER NOT NULL,
  PRIMARY KEY (user_id, track_id)
);
CREATE INDEX library_items_track ON library_items (track_id);
CREATE INDEX library_items_user_added ON library_items (user_id, added_at DESC, track_id);

-- JobQueue. `seq` keeps insertion order as the last tie-break of the claim order (rowids of a
-- table without an INTEGER PRIMARY KEY may change on VACUUM). `next_attempt_at` is set only
-- while queued; `lease_*` only while running.
CREATE TABLE jobs (
  seq              INTEGER PRIMARY KEY,
  id               TEXT    NOT NULL UNIQUE,
  user_id          TEXT    NOT NULL,
  track_id         TEXT    NOT NULL,
  status           TEXT    NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
  attempts         INTEGER NOT NULL DEFAULT 0,
  max_attempts     INTEGER NOT NULL CHECK (max_attempts >= 1),
  next_attempt_at  INTEGER,
  lease_worker     TEXT,
  lease_expires_at INTEGER,
  progress_bytes   INTEGER,
  progress_total   INTEGER,
  error_code       TEXT,
  error_message    TEXT,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL
);
-- Claim order: due queued jobs, and running jobs whose lease ran out.
CREATE INDEX jobs_queued_due ON jobs (status, next_attempt_at, created_at, seq);
CREATE INDEX jobs_running_lease ON jobs (status, lease_expires_at);
-- Listings (newest first, per user or per status) and purging by age.
CREATE INDEX jobs_user_created ON jobs (user_id, created_at DESC);
CREATE INDEX jobs_user_track ON jobs (user_id, track_id);
CREATE INDEX jobs_status_updated ON jobs (status, updated_at);
CREATE INDEX jobs_status_created ON jobs (status, created_at DESC);

-- SearchIndex (embedded). FTS5 rows are addressed by rowid, so `search_documents` maps track
-- ids to rowids: deleting by an UNINDEXED FTS column would scan the whole index.
CREATE TABLE search_documents (
  doc_id   INTEGER PRIMARY KEY,
  track_id TEXT    NOT NULL UNIQUE
);
-- `artists` holds the names joined by newlines; `isrc` is a single token, so a code matches
-- exactly (or by prefix, as the last word of a query).
CREATE VIRTUAL TABLE search_fts USING fts5 (
  title,
  artists,
  album,
  isrc,
  tokenize = 'unicode61 remove_diacritics 2'
);
