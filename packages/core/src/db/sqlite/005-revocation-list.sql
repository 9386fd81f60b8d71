-- 005-revocation-list: the RevocationList's denylist (auth/sqlite-revocation-list.ts).
--
-- One row per revoked session (a token family id) or access token (a jti), kept until
-- `expires_at`, when every token it can stop has expired on its own. Each process holds the
-- live rows in memory and polls for rows with a `seq` above the last it saw. SQLite commits one
-- writer at a time, so seq values become visible in order; AUTOINCREMENT keeps a purged seq
-- from ever being handed out again, which a poller past it would miss.
CREATE TABLE revoked_ids (
  seq        INTEGER PRIMARY KEY AUTOINCREMENT,
  kind       TEXT    NOT NULL CHECK (kind IN ('session', 'token')),
  id         TEXT    NOT NULL,
  expires_at INTEGER NOT NULL,
  revoked_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX revoked_ids_kind_id ON revoked_ids (kind, id);
CREATE INDEX revoked_ids_expires ON revoked_ids (expires_at);

-- Families revoked before this table existed stopped their access tokens through a database
-- read per request. Those tokens were all issued before the revoke and live one access-token
-- lifetime (15 minutes by default), so a day past the revoke covers them.
INSERT INTO revoked_ids (kind, id, expires_at, revoked_at)
SELECT 'session', id, revoked_at + 86400000, revoked_at
FROM token_families
WHERE revoked_at IS NOT NULL
  AND revoked_at + 86400000 > CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER);
