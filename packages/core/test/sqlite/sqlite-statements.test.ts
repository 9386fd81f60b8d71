import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import tokenStoreSql from '../../src/auth/sqlite-token-store.sql';
import trackCatalogSql from '../../src/catalog/sqlite-track-catalog.sql';
import { namedStatements } from '../../src/db/named-statements.js';
import databaseSql from '../../src/db/sqlite-database.sql';
import jobQueueSql from '../../src/jobs/sqlite-job-queue.sql';
import libraryStoreSql from '../../src/library/sqlite-library-store.sql';
import searchIndexSql from '../../src/search/sqlite-search-index.sql';
import userStoreSql from '../../src/users/sqlite-user-store.sql';
import { openTempSqlite, type TempSqlite } from './temp-sqlite.js';

const FILES = {
  'sqlite-database': databaseSql,
  'sqlite-user-store': userStoreSql,
  'sqlite-token-store': tokenStoreSql,
  'sqlite-track-catalog': trackCatalogSql,
  'sqlite-library-store': libraryStoreSql,
  'sqlite-job-queue': jobQueueSql,
  'sqlite-search-index': searchIndexSql,
};
type File = keyof typeof FILES;

/**
 * The index each statement must search (a regular expression over index names). Listings by
 * user and status may use either index; the planner picks one without statistics.
 */
const INDEXED: [File, string, string][] = [
  ['sqlite-user-store', 'byUsername', 'sqlite_autoindex_users_2'],
  ['sqlite-token-store', 'revokeAllForUser', 'token_families_user'],
  ['sqlite-track-catalog', 'idsWithBlob', 'tracks_blob_key'],
  ['sqlite-track-catalog', 'scanAfter', 'sqlite_autoindex_tracks_1'],
  ['sqlite-library-store', 'pageForUser', 'library_items_user_added'],
  ['sqlite-library-store', 'countForUser', 'library_items_user_added'],
  ['sqlite-library-store', 'holderCount', 'library_items_track'],
  ['sqlite-job-queue', 'nextQueued', 'jobs_queued_due'],
  ['sqlite-job-queue', 'requeueExpiredLeases', 'jobs_running_lease'],
  ['sqlite-job-queue', 'failSpentLeases', 'jobs_running_lease'],
  ['sqlite-job-queue', 'activeFor', 'jobs_user_(created|track)'],
  ['sqlite-job-queue', 'countOfUser', 'jobs_user_created'],
  ['sqlite-job-queue', 'listOfUser', 'jobs_user_created'],
  ['sqlite-job-queue', 'countWithStatus', 'jobs_status_created'],
  ['sqlite-job-queue', 'listWithStatus', 'jobs_status_created'],
  ['sqlite-job-queue', 'countOfUserWithStatus', 'jobs_(user|status)_created'],
  ['sqlite-job-queue', 'listOfUserWithStatus', 'jobs_(user|status)_created'],
  ['sqlite-job-queue', 'purgeFinished', 'jobs_status_updated'],
  ['sqlite-search-index', 'scanIds', 'sqlite_autoindex_search_documents_1'],
];

/** Statements whose order comes from their index, with no sort of the matching rows. */
const ORDERED_BY_INDEX: [File, string][] = [
  ['sqlite-library-store', 'pageForUser'],
  ['sqlite-job-queue', 'nextQueued'],
];

function statement(file: File, name: string): string {
  const sql = namedStatements(FILES[file])[name];
  if (sql === undefined) throw new Error(`${file}.sql has no statement ${name}`);
  return sql;
}

describe('the SQLite adapters’ statement files', () => {
  let temp: TempSqlite;

  beforeAll(() => {
    temp = openTempSqlite();
  });

  afterAll(async () => {
    await temp.close();
  });

  /** The query plan of a statement, with every parameter bound to null (plans do not depend on values). */
  function plan(sql: string): string {
    const params = Object.fromEntries([...sql.matchAll(/@(\w+)/g)].map((match) => [match[1], null]));
    const rows = temp.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(params) as { detail: string }[];
    return rows.map((row) => row.detail).join('\n');
  }

  // Adapters prepare on first use, so a typo would otherwise wait for the first call to surface.
  it.each(Object.keys(FILES) as File[])('%s.sql: every statement prepares against the migrated schema', (file) => {
    const statements = Object.entries(namedStatements(FILES[file]));
    expect(statements.length).toBeGreaterThan(0);
    for (const [name, sql] of statements) {
      expect(() => temp.db.prepare(sql), `${file}.sql ${name}`).not.toThrow();
    }
  });

  it.each(INDEXED)('%s.sql %s searches %s', (file, name, index) => {
    expect(plan(statement(file, name))).toMatch(new RegExp(`^SEARCH \\w+ USING (COVERING )?INDEX ${index} \\(`, 'm'));
  });

  it.each(ORDERED_BY_INDEX)('%s.sql %s reads its rows in order from the index', (file, name) => {
    expect(plan(statement(file, name))).not.toMatch(/TEMP B-TREE/);
  });
});
