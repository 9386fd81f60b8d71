-- 001-init: the MySQL schema of every persistent port, as SQLite's migrations 001 to 008 leave
-- it (db/sqlite/), with the same tables and columns, so that `mixtape transfer` copies rows
-- one to one. Runs on MariaDB >= 10.6 and MySQL >= 8.0: only syntax both accept.
--
-- - Every table is InnoDB, text utf8mb4 with utf8mb4_unicode_520_ci: it compares without
--   regard to case or accents, and on MariaDB 10.11 folds ø and Ł in FULLTEXT as well as ö, ü,
--   á and ř (general_ci and unicode_ci do not fold ø and Ł), so "bjork" finds "Björk".
-- - Ids and keys (Spotify track ids, uuids, token hashes, blob and lock keys) are ASCII with a
--   binary collation: Spotify ids are case-sensitive base62, and under a case-insensitive
--   collation two different tracks would collide on their primary key.
-- - Timestamps are BIGINT epoch milliseconds, as in SQLite. Nullability follows SQLite's.
-- - `key` is a reserved word: write it `key` in backquotes.
-- - MySQL has no partial index: where SQLite indexes some rows, this indexes all of them, or
--   a generated column that is NULL for the others (NULLs never collide in a UNIQUE index).
-- - DDL commits as it goes, so a migration that fails half-way is not rolled back: each one is
--   written to complete when run again (IF NOT EXISTS), and is recorded only once it has.
-- - FULLTEXT indexes are created without InnoDB's stopword list, so that "the" or "who" can be
--   searched like on the other backends. The setting is read when an index is built: a later
--   migration that rebuilds one of these tables must turn stopwords off again first. Words
--   shorter than innodb_ft_min_token_size (3) are never indexed; search needs another path
--   for them (LIKE, which follows the same collation).

SET SESSION innodb_ft_enable_stopword = OFF;

-- UserStore. unicode_520_ci makes usernames unique regardless of case (and of accents).
CREATE TABLE IF NOT EXISTS users (
  id            VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  username      VARCHAR(255) NOT NULL,
  password_hash VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  created_at    BIGINT       NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY users_username (username)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_520_ci;

-- UserStore. One row per granted role; being a plain `user` needs no row.
CREATE TABLE IF NOT EXISTS user_roles (
  user_id    VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  role       VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  granted_at BIGINT      NOT NULL,
  PRIMARY KEY (user_id, role),
  CONSTRAINT user_roles_role CHECK (role IN ('admin')),
  CONSTRAINT user_roles_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_520_ci;

-- TokenStore. A login starts a family; only SHA-256 hashes of refresh tokens are stored.
CREATE TABLE IF NOT EXISTS token_families (
  id         VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  user_id    VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  expires_at BIGINT      NOT NULL,
  revoked_at BIGINT,
  created_at BIGINT      NOT NULL,
  PRIMARY KEY (id),
  KEY token_families_user (user_id),
  KEY token_families_expires (expires_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_520_ci;

CREATE TABLE IF NOT EXISTS refresh_tokens (
  token_hash VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  family_id  VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  spent_at   BIGINT,
  created_at BIGINT      NOT NULL,
  PRIMARY KEY (token_hash),
  KEY refresh_tokens_family (family_id),
  CONSTRAINT refresh_tokens_family_fk FOREIGN KEY (family_id) REFERENCES token_families (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_520_ci;

-- RevocationList (auth/sqlite-revocation-list.ts): revoked sessions (family ids) and access
-- tokens (jti), kept until every token they can stop has expired. Pollers read rows above the
-- last `seq` they saw; unlike SQLite's single writer, InnoDB hands out AUTO_INCREMENT values
-- before commit, so concurrent revocations can become visible out of seq order, which a
-- poller must allow for (re-read a window behind its high-water mark, for example).
CREATE TABLE IF NOT EXISTS revoked_ids (
  seq        BIGINT      NOT NULL AUTO_INCREMENT,
  kind       VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  id         VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  expires_at BIGINT      NOT NULL,
  revoked_at BIGINT      NOT NULL,
  PRIMARY KEY (seq),
  UNIQUE KEY revoked_ids_kind_id (kind, id),
  KEY revoked_ids_expires (expires_at),
  CONSTRAINT revoked_ids_kind CHECK (kind IN ('session', 'token'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_520_ci;

-- TrackCatalog. `artists` is a JSON array of names, kept as text so that FULLTEXT covers it
-- (MySQL cannot index a JSON column so). The audio columns are all set or all null. Every
-- change bumps `version` and, in the same transaction, writes `search_outbox`.
-- `seen_size_bytes` is the size of the audio as last seen, kept when the bytes are not.
-- The FULLTEXT index serves the catalog's own search, and search while Elasticsearch is down.
CREATE TABLE IF NOT EXISTS tracks (
  id              VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  title           TEXT         NOT NULL,
  artists         TEXT         NOT NULL,
  album           TEXT         NOT NULL,
  duration_ms     BIGINT       NOT NULL,
  isrc            VARCHAR(64),
  blob_key        VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin,
  size_bytes      BIGINT,
  content_type    VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin,
  updated_at      BIGINT       NOT NULL,
  version         BIGINT       NOT NULL DEFAULT 1,
  seen_size_bytes BIGINT,
  PRIMARY KEY (id),
  KEY tracks_blob_key (blob_key),
  FULLTEXT KEY tracks_text (title, artists, album),
  CONSTRAINT tracks_audio CHECK ((blob_key IS NULL) = (size_bytes IS NULL) AND (blob_key IS NULL) = (content_type IS NULL)),
  CONSTRAINT tracks_version CHECK (version >= 1),
  CONSTRAINT tracks_seen_size CHECK (seen_size_bytes >= 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_520_ci;

-- LibraryStore. The primary key serves per-user sums; the track index serves holderCount.
CREATE TABLE IF NOT EXISTS library_items (
  user_id    VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  track_id   VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  size_bytes BIGINT      NOT NULL,
  added_at   BIGINT      NOT NULL,
  PRIMARY KEY (user_id, track_id),
  KEY library_items_track (track_id),
  KEY library_items_user_added (user_id, added_at, track_id),
  CONSTRAINT library_items_size CHECK (size_bytes >= 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_520_ci;

-- Quota: per user, the bytes their library holds and the bytes their running downloads
-- reserved, each changed only by conditional updates in the transaction of the change.
CREATE TABLE IF NOT EXISTS user_usage (
  user_id         VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  committed_bytes BIGINT      NOT NULL DEFAULT 0,
  reserved_bytes  BIGINT      NOT NULL DEFAULT 0,
  PRIMARY KEY (user_id),
  CONSTRAINT user_usage_committed CHECK (committed_bytes >= 0),
  CONSTRAINT user_usage_reserved CHECK (reserved_bytes >= 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_520_ci;

-- JobQueue. `seq` is the insertion order, the last tie-break of the claim order. `due_at` is
-- the job's virtual due time (its place in the fair claim order); `next_attempt_at` the real
-- time from which an attempt may start, set only while queued; `lease_*` only while running,
-- `lease_token` new for each claim; `reserved_bytes` the quota a running job reserved.
--
-- One active job per user and track: `active_user_id` is the user while the job is queued or
-- running and NULL otherwise, and (active_user_id, track_id) is unique. It also serves the
-- look-up of that job: WHERE active_user_id = @userId AND track_id = @trackId.
--
-- The claim, `WHERE status = 'queued' AND next_attempt_at <= now ORDER BY due_at, seq LIMIT n
-- FOR UPDATE SKIP LOCKED`, reads jobs_queued_due in order; `next_attempt_at` rides along so
-- that a retry still backing off is skipped without reading its row.
CREATE TABLE IF NOT EXISTS jobs (
  seq              BIGINT       NOT NULL AUTO_INCREMENT,
  id               VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  user_id          VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  track_id         VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  status           VARCHAR(16)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  attempts         INT          NOT NULL DEFAULT 0,
  max_attempts     INT          NOT NULL,
  next_attempt_at  BIGINT,
  lease_worker     VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
  lease_expires_at BIGINT,
  progress_bytes   BIGINT,
  progress_total   BIGINT,
  error_code       VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin,
  error_message    TEXT,
  created_at       BIGINT       NOT NULL,
  updated_at       BIGINT       NOT NULL,
  lease_token      VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin,
  due_at           BIGINT,
  reserved_bytes   BIGINT       NOT NULL DEFAULT 0,
  active_user_id   VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin
    GENERATED ALWAYS AS (IF(status IN ('queued', 'running'), user_id, NULL)) VIRTUAL,
  PRIMARY KEY (seq),
  UNIQUE KEY jobs_id (id),
  UNIQUE KEY jobs_active (active_user_id, track_id),
  KEY jobs_queued_due (status, due_at, seq, next_attempt_at),
  KEY jobs_running_lease (status, lease_expires_at),
  KEY jobs_user_created (user_id, created_at),
  KEY jobs_status_updated (status, updated_at),
  KEY jobs_status_created (status, created_at),
  -- Few jobs hold a reservation at once: a range scan of reserved_bytes > 0 finds them.
  KEY jobs_reserved (reserved_bytes, user_id),
  CONSTRAINT jobs_status CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
  CONSTRAINT jobs_max_attempts CHECK (max_attempts >= 1),
  CONSTRAINT jobs_reserved_bytes CHECK (reserved_bytes >= 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_520_ci;

-- Per user: queued plus running jobs, and the virtual due time of the latest one.
CREATE TABLE IF NOT EXISTS user_job_counts (
  user_id  VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  active   INT         NOT NULL DEFAULT 0,
  last_due BIGINT,
  PRIMARY KEY (user_id),
  CONSTRAINT user_job_counts_active CHECK (active >= 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_520_ci;

-- SearchOutbox: one row per track with a change not yet in the search index. A later change
-- raises `version` and keeps `enqueued_at`; version 0 names a track to remove from the index.
CREATE TABLE IF NOT EXISTS search_outbox (
  track_id        VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  version         BIGINT      NOT NULL,
  enqueued_at     BIGINT      NOT NULL,
  next_attempt_at BIGINT      NOT NULL,
  attempts        INT         NOT NULL DEFAULT 0,
  last_error      TEXT,
  PRIMARY KEY (track_id),
  KEY search_outbox_due (next_attempt_at, track_id),
  KEY search_outbox_enqueued (enqueued_at),
  CONSTRAINT search_outbox_version CHECK (version >= 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_520_ci;

-- SearchIndex in the database, when no Elasticsearch is configured: SQLite's search_documents
-- and search_fts in one table, since InnoDB addresses FULLTEXT rows by primary key. Each
-- document keeps the catalog version it was written at (an older one is ignored) and whether
-- its audio is stored. `artists` holds the names joined by newlines.
CREATE TABLE IF NOT EXISTS search_documents (
  track_id  VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  version   BIGINT      NOT NULL DEFAULT 0,
  available TINYINT     NOT NULL DEFAULT 0,
  title     TEXT        NOT NULL,
  artists   TEXT        NOT NULL,
  album     TEXT        NOT NULL,
  isrc      VARCHAR(64) NOT NULL DEFAULT '',
  PRIMARY KEY (track_id),
  FULLTEXT KEY search_documents_text (title, artists, album, isrc),
  CONSTRAINT search_documents_available CHECK (available IN (0, 1))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_520_ci;

-- Fencing: a key's token only ever rises; taking a lock raises it in the same transaction,
-- and a guarded write changes nothing unless the token it presents is still the current one.
CREATE TABLE IF NOT EXISTS fencing_tokens (
  `key` VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  token BIGINT       NOT NULL,
  PRIMARY KEY (`key`),
  CONSTRAINT fencing_tokens_token CHECK (token >= 1)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_520_ci;

-- The lock manager on a table, for hosts that share MySQL without Redis: a row is held until
-- `expires_at` (the database's clock), renewed while the work runs; an expired one may be
-- taken over. `owner` names the acquisition, `token` is its fencing token.
CREATE TABLE IF NOT EXISTS locks (
  `key`      VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  owner      VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  token      BIGINT       NOT NULL,
  expires_at BIGINT       NOT NULL,
  PRIMARY KEY (`key`)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_520_ci;

-- BlobLedger: one row per stored file; `tombstoned_at` is the time since when no track uses it.
CREATE TABLE IF NOT EXISTS blobs (
  `key`         VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  size_bytes    BIGINT       NOT NULL,
  recorded_at   BIGINT       NOT NULL,
  tombstoned_at BIGINT,
  PRIMARY KEY (`key`),
  KEY blobs_tombstoned (tombstoned_at, `key`),
  CONSTRAINT blobs_size CHECK (size_bytes >= 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_520_ci;

-- Housekeeping: a named lease per task, held by `owner` until `expires_at` (the database's clock).
CREATE TABLE IF NOT EXISTS task_leases (
  name       VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  owner      VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  expires_at BIGINT       NOT NULL,
  PRIMARY KEY (name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_520_ci;

SET SESSION innodb_ft_enable_stopword = DEFAULT;
