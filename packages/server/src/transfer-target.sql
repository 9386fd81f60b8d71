-- transfer-target: what `mixtape transfer` asks of the MySQL database it copies into
-- (sqlite-to-mysql-transfer.ts), all from information_schema, about the connection's own
-- database (DATABASE()). Statements whose table names are only known at run time (counting,
-- inserting) are built there from the names these return.
--
-- Each statement starts at a `-- name:` line; parameters are named (`@version`).

-- name: tables
-- Every table and view, so that another application's database is not taken for an empty one.
SELECT TABLE_NAME AS name, TABLE_TYPE AS type
FROM information_schema.TABLES
WHERE TABLE_SCHEMA = DATABASE()
ORDER BY TABLE_NAME;

-- name: columns
-- `generated` for columns the server computes (jobs.active_user_id): they take no value.
-- MariaDB leaves GENERATION_EXPRESSION NULL for an ordinary column, MySQL 8 leaves it ''.
SELECT TABLE_NAME AS table_name, COLUMN_NAME AS column_name,
  (GENERATION_EXPRESSION IS NOT NULL AND GENERATION_EXPRESSION <> '') AS generated
FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = DATABASE()
ORDER BY TABLE_NAME, ORDINAL_POSITION;

-- name: primaryKeys
-- Rows are read from SQLite in the order of the target's primary key, which InnoDB inserts
-- fastest (its rows are stored in that order).
SELECT TABLE_NAME AS table_name, COLUMN_NAME AS column_name
FROM information_schema.KEY_COLUMN_USAGE
WHERE TABLE_SCHEMA = DATABASE() AND CONSTRAINT_NAME = 'PRIMARY'
ORDER BY TABLE_NAME, ORDINAL_POSITION;

-- name: foreignKeys
-- A table is filled after the tables it references, and emptied before them.
SELECT TABLE_NAME AS table_name, REFERENCED_TABLE_NAME AS referenced
FROM information_schema.REFERENTIAL_CONSTRAINTS
WHERE CONSTRAINT_SCHEMA = DATABASE();

-- name: migrationsTableExists
SELECT 1 AS present FROM information_schema.TABLES
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'schema_migrations';

-- name: appliedVersions
SELECT version FROM schema_migrations ORDER BY version;
