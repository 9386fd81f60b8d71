-- 008-quota-usage: a usage row per user, quota reservations tied to the job's row, and the size
-- of a track's audio once seen.
--
-- `user_usage` holds, per user, the bytes their library holds (`committed_bytes`) and the bytes
-- reserved by their running downloads (`reserved_bytes`). Both change only by conditional
-- updates in the transaction of the change itself: a reservation (the job's row and the usage
-- row), a library add that commits one, a removal. Nothing sums a user's items to decide.
--
-- `jobs.reserved_bytes` is what a running job reserved, taken when its fetch starts (the known
-- size or else the origin's Content-Length) and set back to 0, with the usage row, when it is
-- committed with the library entry or the job leaves `running` (complete, fail, release, reap,
-- cancel, purge).
ALTER TABLE jobs ADD COLUMN reserved_bytes INTEGER NOT NULL DEFAULT 0 CHECK (reserved_bytes >= 0);
-- Few jobs hold a reservation at once; reaping and repairs find them here.
CREATE INDEX jobs_reserved ON jobs (user_id) WHERE reserved_bytes > 0;

CREATE TABLE user_usage (
  user_id         TEXT    NOT NULL PRIMARY KEY,
  committed_bytes INTEGER NOT NULL DEFAULT 0 CHECK (committed_bytes >= 0),
  reserved_bytes  INTEGER NOT NULL DEFAULT 0 CHECK (reserved_bytes >= 0)
) WITHOUT ROWID;

INSERT INTO user_usage (user_id, committed_bytes)
SELECT user_id, sum(size_bytes) FROM library_items GROUP BY user_id;

-- The size of a track's audio as last seen (stored, or declared by the origin), kept when the
-- bytes are not: a user it does not fit is refused before anything is fetched again.
ALTER TABLE tracks ADD COLUMN seen_size_bytes INTEGER CHECK (seen_size_bytes >= 0);
UPDATE tracks SET seen_size_bytes = size_bytes WHERE size_bytes IS NOT NULL;
