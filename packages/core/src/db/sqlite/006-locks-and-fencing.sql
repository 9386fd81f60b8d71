-- 006-locks-and-fencing: a lock table shared by every process on the data dir, the database as
-- the fencing authority, and a row per stored file so that files are deleted through tombstones.
--
-- Taking a lock raises `fencing_tokens.token` of each of its keys to one new number, in the
-- same transaction: the acquisition's fencing token. A guarded write (a catalog attach or
-- detach, a library add, a blob row) is a conditional statement that changes nothing unless
-- the token it presents is still the key's current one. A key's token never goes backwards,
-- so its row is never deleted, whatever lock manager issued it.

CREATE TABLE fencing_tokens (
  key   TEXT    NOT NULL PRIMARY KEY,
  token INTEGER NOT NULL CHECK (token >= 1)
) WITHOUT ROWID;

-- SqliteLockManager. A row is held until `expires_at` (the database's clock), renewed while
-- the work runs; an expired row may be taken over. `owner` names the acquisition, `token` is
-- its fencing token. Released rows are deleted.
CREATE TABLE locks (
  key        TEXT    NOT NULL PRIMARY KEY,
  owner      TEXT    NOT NULL,
  token      INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;

-- BlobLedger. One row per stored file (content-addressed, so shared by tracks with the same
-- bytes). `tombstoned_at` is set when no track uses the file any more: the time since when it
-- is unused. The file is unlinked only once that is older than a grace longer than any lock's
-- TTL; attaching the key again clears the tombstone.
CREATE TABLE blobs (
  key           TEXT    NOT NULL PRIMARY KEY,
  size_bytes    INTEGER NOT NULL CHECK (size_bytes >= 0),
  recorded_at   INTEGER NOT NULL,
  tombstoned_at INTEGER
) WITHOUT ROWID;
CREATE INDEX blobs_tombstoned ON blobs (key) WHERE tombstoned_at IS NOT NULL;

-- Every file the catalog already points to is in use.
INSERT INTO blobs (key, size_bytes, recorded_at)
SELECT blob_key, max(size_bytes), CAST(unixepoch('subsec') * 1000 AS INTEGER)
FROM tracks WHERE blob_key IS NOT NULL GROUP BY blob_key;
