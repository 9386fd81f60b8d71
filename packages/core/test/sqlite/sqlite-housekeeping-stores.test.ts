import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteTokenStore } from '../../src/auth/sqlite-token-store.js';
import { namedStatements } from '../../src/db/named-statements.js';
import { SqliteJobQueue } from '../../src/jobs/sqlite-job-queue.js';
import jobQueueSql from '../../src/jobs/sqlite-job-queue.sql';
import { describeJobQueueHousekeeping } from '../contracts/job-queue-housekeeping.contract.js';
import { describeTokenStorePurge } from '../contracts/token-store-purge.contract.js';
import { openTempSqlite, type TempSqlite } from './temp-sqlite.js';

describeJobQueueHousekeeping('sqlite', async () => {
  const temp = openTempSqlite();
  return {
    queue: new SqliteJobQueue(temp.db),
    async corruptActiveCount(userId, active) {
      if (active === null) temp.db.prepare('DELETE FROM user_job_counts WHERE user_id = ?').run(userId);
      else temp.db.prepare('UPDATE user_job_counts SET active = ? WHERE user_id = ?').run(active, userId);
    },
    close: temp.close,
  };
});

describeTokenStorePurge('sqlite', async () => {
  const temp = openTempSqlite();
  return { tokens: new SqliteTokenStore(temp.db), close: temp.close };
});

describe('the job queue statements housekeeping adds', () => {
  let temp: TempSqlite;

  beforeAll(() => {
    temp = openTempSqlite();
  });

  afterAll(async () => {
    await temp.close();
  });

  function plan(name: string): string {
    const sql = namedStatements(jobQueueSql)[name]!;
    const params = Object.fromEntries([...sql.matchAll(/@(\w+)/g)].map((match) => [match[1], null]));
    return (temp.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(params) as { detail: string }[]).map((row) => row.detail).join('\n');
  }

  it.each([
    ['holdsLease', /SEARCH jobs USING INDEX sqlite_autoindex_jobs_1/],
    // Each user's count from the index of active jobs, not from all their jobs.
    ['recountActive', /SEARCH jobs USING (COVERING )?INDEX jobs_user_track/],
    // Only active jobs are read.
    ['addMissingCounts', /SEARCH jobs USING (COVERING )?INDEX (jobs_user_track|jobs_status_\w+) \(status=\?\)|SCAN jobs USING (COVERING )?INDEX jobs_user_track/],
  ] as const)('%s reads an index, never the whole table', (name, index) => {
    const found = plan(name);
    expect(found).toMatch(index);
    expect(found).not.toMatch(/SCAN jobs$/m);
  });
});
