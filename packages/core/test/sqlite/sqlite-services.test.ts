import { describeAuth } from '../services/auth.suite.js';
import { describeDownloads } from '../services/downloads.suite.js';
import { describeLibrary } from '../services/library.suite.js';
import { describeSearchSync } from '../services/search-sync.suite.js';
import type { OpenServiceBackends } from '../services/service-backends.js';
import { describeHousekeeping } from '../housekeeping/mixtape-housekeeping.suite.js';
import { openSqliteBackends } from '../../src/embedded/sqlite-backends.js';

/** The service suites over the embedded backends: one database file and the audio under the data dir. */
const openSqlite: OpenServiceBackends = async (options) => {
  const backends = await openSqliteBackends(options);
  const { db } = backends;
  return Object.assign(backends, {
    tamper: {
      // The full-text table out of the way: every write to it and every search of it fails.
      async breakIndex() {
        db.exec('ALTER TABLE search_fts RENAME TO search_fts_away');
      },
      async healIndex() {
        db.exec('ALTER TABLE search_fts_away RENAME TO search_fts');
      },
      async ageJob(jobId: string, ms: number) {
        db.prepare('UPDATE jobs SET updated_at = updated_at - ? WHERE id = ?').run(ms, jobId);
      },
      async corruptActiveCount(userId: string, active: number) {
        db.prepare('UPDATE user_job_counts SET active = ? WHERE user_id = ?').run(active, userId);
      },
      async activeCount(userId: string) {
        return (db.prepare('SELECT active FROM user_job_counts WHERE user_id = ?').pluck().get(userId) as number | undefined) ?? null;
      },
    },
  });
};

describeAuth('sqlite', openSqlite);
describeDownloads('sqlite', openSqlite);
describeLibrary('sqlite', openSqlite);
describeSearchSync('sqlite', openSqlite);
describeHousekeeping('sqlite', openSqlite);
