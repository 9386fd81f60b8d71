import init from './sqlite/001-init.sql';
import userRoles from './sqlite/002-user-roles.sql';
import jobLeases from './sqlite/003-job-leases.sql';
import searchOutbox from './sqlite/004-search-outbox.sql';
import revocationList from './sqlite/005-revocation-list.sql';
import locksAndFencing from './sqlite/006-locks-and-fencing.sql';
import taskLeases from './sqlite/007-task-leases.sql';
import quotaUsage from './sqlite/008-quota-usage.sql';
import foldedSearchText from './sqlite/009-folded-search-text.sql';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Numbered migrations of the embedded database, oldest first. Never edit one that has shipped. */
export const sqliteMigrations: readonly Migration[] = [
  { version: 1, name: 'init', sql: init },
  { version: 2, name: 'user-roles', sql: userRoles },
  { version: 3, name: 'job-leases', sql: jobLeases },
  { version: 4, name: 'search-outbox', sql: searchOutbox },
  { version: 5, name: 'revocation-list', sql: revocationList },
  { version: 6, name: 'locks-and-fencing', sql: locksAndFencing },
  { version: 7, name: 'task-leases', sql: taskLeases },
  { version: 8, name: 'quota-usage', sql: quotaUsage },
  { version: 9, name: 'folded-search-text', sql: foldedSearchText },
];
