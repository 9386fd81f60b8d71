-- mysql-migrations: the statements of the MySQL migration runner (mysql/mysql-migrations.ts).
--
-- Each statement starts at a `-- name:` line; parameters are named (`@version`) and bound
-- from an object with the same camelCase keys. The migrations themselves are the numbered
-- files in db/mysql/; `schema_migrations` records which of them a database has.

-- name: createMigrationsTable
CREATE TABLE IF NOT EXISTS schema_migrations (
  version    INT          NOT NULL,
  name       VARCHAR(255) NOT NULL,
  applied_at VARCHAR(32)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  PRIMARY KEY (version)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_520_ci;

-- name: migrationsTableExists
-- Asked before reading versions, so that checking for pending migrations changes nothing.
SELECT 1 AS present FROM information_schema.tables
WHERE table_schema = DATABASE() AND table_name = 'schema_migrations';

-- name: appliedVersions
SELECT version FROM schema_migrations ORDER BY version;

-- name: recordMigration
-- applied_at is an ISO 8601 timestamp, for people reading the table.
INSERT INTO schema_migrations (version, name, applied_at) VALUES (@version, @name, @appliedAt);

-- name: takeMigrationLock
-- A named lock of the server, held by this connection until released or until the connection
-- ends (a crashed migrator holds nothing). Lock names are server-wide and at most 64
-- characters: the database's name is hashed into it, so that two databases on one server
-- migrate independently. 1 when taken, 0 when `waitSeconds` passed first.
SELECT GET_LOCK(CONCAT('mixtape_migrate:', LEFT(SHA2(DATABASE(), 256), 40)), @waitSeconds) AS taken;

-- name: releaseMigrationLock
SELECT RELEASE_LOCK(CONCAT('mixtape_migrate:', LEFT(SHA2(DATABASE(), 256), 40))) AS released;
