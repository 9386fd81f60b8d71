// `@mixtape/core/mysql`: the MySQL backend. Everything here needs mysql2, an optional peer
// dependency of @mixtape/core; the main entry point never imports it.

export { createMysqlPool, MYSQL_COLLATION, type MysqlPoolOptions } from './mysql/mysql-pool.js';
export * from './mysql/mysql-database.js';
export { compileMysqlStatement, mysqlStatements, type MysqlParams, type MysqlStatement } from './mysql/mysql-statements.js';
export { ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT, isMysqlError, isTransactionConflict, mysqlErrno } from './mysql/mysql-errors.js';
export * from './mysql/mysql-migrations.js';
export * from './mysql/mysql-health-check.js';
export type { Migration } from './db/sqlite-migrations.js';
export * from './mysql/mysql-user-store.js';
export * from './mysql/mysql-token-store.js';
export * from './mysql/mysql-task-leases.js';
export * from './mysql/mysql-fencing-tokens.js';
export { MysqlLockManager, type MysqlLockManagerOptions } from './mysql/mysql-lock-manager.js';
export { MysqlSearchIndex, searchableText, toMysqlSearch, type FulltextTokenSizes, type MysqlSearchQuery } from './mysql/mysql-search-index.js';
export { MysqlJobQueue, type MysqlJobQueueOptions } from './mysql/mysql-job-queue.js';
export { MysqlLibraryStore } from './mysql/mysql-library-store.js';
export * from './mysql/mysql-revocation-list.js';
export { MysqlTrackCatalog } from './mysql/mysql-track-catalog.js';
export { MysqlSearchOutbox } from './mysql/mysql-search-outbox.js';
export { MysqlBlobLedger } from './mysql/mysql-blob-ledger.js';
export * from './mysql/mysql-backends.js';
