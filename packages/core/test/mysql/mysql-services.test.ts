import { join } from 'node:path';
import { afterEach } from 'vitest';
import { openMysqlBackends } from '../../src/mysql/mysql-backends.js';
import { describeHousekeeping } from '../housekeeping/mixtape-housekeeping.suite.js';
import { describeAuth } from '../services/auth.suite.js';
import { describeDownloads } from '../services/downloads.suite.js';
import { describeLibrary } from '../services/library.suite.js';
import { describeSearchSync } from '../services/search-sync.suite.js';
import type { OpenServiceBackends } from '../services/service-backends.js';
import { freshMysqlDatabase, type FreshMysqlDatabase } from './mysql-test-server.js';

/**
 * A deployment is its data dir: the first opening with a data dir gets a fresh, empty database
 * and migrates it, as the first process of a new deployment would; later openings with the
 * same data dir (the suites' "other processes") reach that database through pools of their
 * own. Creating and migrating one costs a few tens of ms, so each test gets its own, dropped
 * once the suite's own afterEach has closed the backends (a file's afterEach runs after those
 * of its describes).
 */
const deployments = new Map<string, Promise<FreshMysqlDatabase>>();

afterEach(async () => {
  const opened = [...deployments.values()];
  deployments.clear();
  await Promise.all(opened.map(async (database) => (await database).drop()));
});

function deployment(dataDir: string): Promise<FreshMysqlDatabase> {
  let database = deployments.get(dataDir);
  if (database === undefined) {
    database = freshMysqlDatabase({ migrate: false, pool: { poolSize: 2 } });
    deployments.set(dataDir, database);
  }
  return database;
}

/** The service suites over MySQL: one database per deployment, the audio under the data dir. */
const openMysql: OpenServiceBackends = async ({ dataDir, ...options }) => {
  const { url, db } = await deployment(dataDir);
  const backends = await openMysqlBackends({ url, storageDir: join(dataDir, 'audio'), pool: { poolSize: 4 }, ...options });
  return Object.assign(backends, {
    tamper: {
      // The index's table out of the way: every write to it and every search of it fails (1146).
      async breakIndex() {
        await db.run('RENAME TABLE search_documents TO search_documents_away');
      },
      async healIndex() {
        await db.run('RENAME TABLE search_documents_away TO search_documents');
      },
      async ageJob(jobId: string, ms: number) {
        await db.run('UPDATE jobs SET updated_at = updated_at - @ms WHERE id = @jobId', { ms, jobId });
      },
      async corruptActiveCount(userId: string, active: number) {
        await db.run('UPDATE user_job_counts SET active = @active WHERE user_id = @userId', { active, userId });
      },
      async activeCount(userId: string) {
        const row = await db.get<{ active: number }>('SELECT active FROM user_job_counts WHERE user_id = @userId', { userId });
        return row === undefined ? null : Number(row.active);
      },
    },
  });
};

describeAuth('mysql', openMysql);
describeDownloads('mysql', openMysql);
describeLibrary('mysql', openMysql);
describeSearchSync('mysql', openMysql);
describeHousekeeping('mysql', openMysql);
