import { SqliteTrackCatalog } from '../../src/catalog/sqlite-track-catalog.js';
import { SqliteLibraryStore } from '../../src/library/sqlite-library-store.js';
import { SqliteFencingTokens } from '../../src/locks/sqlite-fencing-tokens.js';
import { describeFencedWrites } from '../contracts/fenced-writes.contract.js';
import { openTempSqlite } from './temp-sqlite.js';

describeFencedWrites('sqlite', async () => {
  const temp = openTempSqlite();
  return {
    catalog: new SqliteTrackCatalog(temp.db),
    library: new SqliteLibraryStore(temp.db),
    fencing: new SqliteFencingTokens(temp.db),
    close: temp.close,
  };
});
