-- 007-task-leases: named leases for housekeeping, so that one process at a time runs each task
-- (housekeeping/sqlite-task-leases.ts), and an index for purging expired token families.
--
-- A row is held by `owner` until `expires_at` (the database's clock, epoch milliseconds), and
-- renewed while its task runs. After a run the owner keeps it until the task is due again;
-- a row whose time ran out is free, whoever's name it bears.
CREATE TABLE task_leases (
  name       TEXT    NOT NULL PRIMARY KEY,
  owner      TEXT    NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;

-- TokenStore.purgeExpired deletes families by expiry, in batches.
CREATE INDEX token_families_expires ON token_families (expires_at);
