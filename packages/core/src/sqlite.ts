// `@mixtape/core/sqlite`: the embedded backends. Everything here needs better-sqlite3, an
// optional peer dependency of @mixtape/core; the main entry point never imports it.

export * from './embedded/sqlite-backends.js';
export * from './db/sqlite-database.js';
export * from './db/sqlite-faults.js';
export type { Migration } from './db/sqlite-migrations.js';

export * from './users/sqlite-user-store.js';
export * from './auth/sqlite-token-store.js';
export * from './auth/sqlite-revocation-list.js';
export * from './catalog/sqlite-track-catalog.js';
export * from './library/sqlite-library-store.js';
export * from './search/sqlite-search-index.js';
export * from './outbox/sqlite-search-outbox.js';
export * from './storage/sqlite-blob-ledger.js';
export * from './jobs/sqlite-job-queue.js';
export * from './locks/sqlite-lock-manager.js';
export * from './locks/sqlite-fencing-tokens.js';
export * from './housekeeping/sqlite-task-leases.js';
export * from './health/sqlite-health-check.js';
