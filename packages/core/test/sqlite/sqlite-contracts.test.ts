import { SqliteTokenStore } from '../../src/auth/sqlite-token-store.js';
import { SqliteTrackCatalog } from '../../src/catalog/sqlite-track-catalog.js';
import { SqliteJobQueue } from '../../src/jobs/sqlite-job-queue.js';
import { SqliteLibraryStore } from '../../src/library/sqlite-library-store.js';
import { SqliteSearchIndex } from '../../src/search/sqlite-search-index.js';
import { SqliteUserStore } from '../../src/users/sqlite-user-store.js';
import { describeJobQueue } from '../contracts/job-queue.contract.js';
import { describeLibraryStore } from '../contracts/library-store.contract.js';
import { describeSearchIndex } from '../contracts/search-index.contract.js';
import { describeTokenStore } from '../contracts/token-store.contract.js';
import { describeTrackCatalog } from '../contracts/track-catalog.contract.js';
import { describeUserStore } from '../contracts/user-store.contract.js';
import { openTempSqlite } from './temp-sqlite.js';

describeUserStore('sqlite', async () => {
  const temp = openTempSqlite();
  return { users: new SqliteUserStore(temp.db), close: temp.close };
});

describeTokenStore('sqlite', async () => {
  const temp = openTempSqlite();
  return { tokens: new SqliteTokenStore(temp.db), close: temp.close };
});

describeTrackCatalog('sqlite', async () => {
  const temp = openTempSqlite();
  return { catalog: new SqliteTrackCatalog(temp.db), close: temp.close };
});

describeLibraryStore('sqlite', async () => {
  const temp = openTempSqlite();
  return { library: new SqliteLibraryStore(temp.db), close: temp.close };
});

describeJobQueue('sqlite', async () => {
  const temp = openTempSqlite();
  return { queue: new SqliteJobQueue(temp.db), close: temp.close };
});

describeSearchIndex('sqlite-fts5', async () => {
  const temp = openTempSqlite();
  return { index: new SqliteSearchIndex(temp.db), close: temp.close };
});
