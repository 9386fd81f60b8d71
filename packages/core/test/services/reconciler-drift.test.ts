import { mkdtempSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteBackends } from '../../src/sqlite.js';
import { describeReconcilerDrift } from './reconciler-drift.suite.js';

describeReconcilerDrift('the embedded backends', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'mixtape-drift-'));
  const backends = await openSqliteBackends({ dataDir });
  return {
    backends,
    // SQLite forgets a removed document's version, so the next write is taken whatever its version.
    async plantDocument(document) {
      await backends.index.remove([document.id]);
      await backends.index.upsert([document]);
    },
    async ageBlob(key, ms) {
      const then = new Date(Date.now() - ms);
      utimesSync(join(dataDir, 'audio', 'blobs', key.slice(0, 2), key.slice(2, 4), key), then, then);
    },
    async settle() {},
    async close() {
      await backends.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
});
