import { SqliteFencingTokens } from '../../src/locks/sqlite-fencing-tokens.js';
import { SqliteBlobLedger } from '../../src/storage/sqlite-blob-ledger.js';
import { describeBlobLedger } from '../contracts/blob-ledger.contract.js';
import { openTempSqlite } from './temp-sqlite.js';

describeBlobLedger('sqlite', async () => {
  const temp = openTempSqlite();
  const fencing = new SqliteFencingTokens(temp.db);
  return {
    ledger: new SqliteBlobLedger(temp.db),
    fence: async (key) => ({ key, token: await fencing.issue([key]) }),
    close: temp.close,
  };
});
