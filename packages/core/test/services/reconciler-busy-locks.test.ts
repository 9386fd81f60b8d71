import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, unlinkSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AudioFiles, DEMO_TRACKS, OutboxRelay, Reconciler, UnavailableError, type LockManager } from '../../src/index.js';
import { openSqliteBackends, type SqliteBackends } from '../../src/sqlite.js';

const [track] = DEMO_TRACKS as [(typeof DEMO_TRACKS)[0]];

/** Every key is held by someone else past the wait timeout: a long download, say. */
const busyLocks: LockManager = {
  backend: 'busy',
  using: async () => {
    throw new UnavailableError('Timed out waiting for the lock');
  },
};

describe('Reconciler when the locks it needs are busy', () => {
  let dataDir: string;
  let backends: SqliteBackends;

  beforeEach(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'mixtape-reconcile-busy-'));
    backends = await openSqliteBackends({ dataDir });
  });

  afterEach(async () => {
    await backends.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('leaves those repairs for the next run instead of failing the whole run', async () => {
    const { catalog, blobs } = backends;
    await catalog.upsert([track]);
    const stored = await blobs.begin();
    await stored.write(randomBytes(100));
    const blob = await stored.commit();
    await catalog.attachAudio(track.id, { blobKey: blob.key, sizeBytes: blob.sizeBytes, contentType: 'audio/wav' });
    unlinkSync(join(dataDir, 'audio', 'blobs', blob.key.slice(0, 2), blob.key.slice(2, 4), blob.key));
    const orphan = await blobs.begin();
    await orphan.write(randomBytes(50));
    const orphanKey = (await orphan.commit()).key;
    const old = new Date(Date.now() - 3_600_000);
    utimesSync(join(dataDir, 'audio', 'blobs', orphanKey.slice(0, 2), orphanKey.slice(2, 4), orphanKey), old, old);

    const files = new AudioFiles({ catalog, blobs, ledger: backends.blobLedger, locks: busyLocks });
    const reconciler = new Reconciler({
      catalog,
      blobs,
      files,
      index: backends.index,
      searchRepairs: new OutboxRelay({ outbox: backends.searchOutbox, catalog, index: backends.index }),
      queue: backends.queue,
      locks: busyLocks,
      orphanGraceMs: 60_000,
    });
    const report = await reconciler.run({ dryRun: false });
    expect(report.found).toMatchObject({ orphanFiles: 1, missingFiles: 1 });
    expect(report.repaired).toMatchObject({ orphanFiles: 0, missingFiles: 0 });
    expect((await catalog.get(track.id))?.audio?.blobKey).toBe(blob.key);
    expect(await blobs.stat(orphanKey)).not.toBeNull();
  });
});
