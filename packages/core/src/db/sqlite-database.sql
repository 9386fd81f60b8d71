-- sqlite-database: the statements of the migration runner (db/sqlite-database.ts).
--
-- Each statement starts at a `-- name:` line. Parameters are named (`@version`) and bound from
-- an object with the same camelCase keys. The migrations themselves are the numbered files in
-- db/sqlite/; `schema_migrations` records which of them a database has.

-- name: createMigrationsTable
CREATE TABLE IF NOT EXISTS schema_migrations (
  version INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  applied_at TEXT NOT NULL
);

-- name: migrationsTableExists
-- Asked before reading versions, so that checking for pending migrations changes nothing.
SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations';

-- name: appliedVersions
SELECT version FROM schema_migrations;

-- name: recordMigration
-- applied_at is an ISO 8601 timestamp, for people reading the table.
INSERT INTO schema_migrations (version, name, applied_at) VALUES (@version, @name, @appliedAt);
