import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteTokenStore } from '../../src/auth/sqlite-token-store.js';
import { SqliteTrackCatalog } from '../../src/catalog/sqlite-track-catalog.js';
import {
  purgeExpiredTokenFamilies,
  purgeFinishedJobs,
  reapExpiredJobLeases,
  relaySearchOutbox,
  repairCounters,
  sweepOrphanTemps,
} from '../../src/housekeeping/housekeeping-tasks.js';
import type { ReapOutcome } from '../../src/jobs/job-queue.js';
import { SqliteJobQueue } from '../../src/jobs/sqlite-job-queue.js';
import { OutboxRelay } from '../../src/outbox/outbox-relay.js';
import { SqliteSearchOutbox } from '../../src/outbox/sqlite-search-outbox.js';
import { SqliteSearchIndex } from '../../src/search/sqlite-search-index.js';
import { LocalBlobStore } from '../../src/storage/local-blob-store.js';
import { openTempSqlite, type TempSqlite } from '../sqlite/temp-sqlite.js';

const HOUR = 3_600_000;
const every = { intervalMs: 1000 };
const run = (task: { run(signal: AbortSignal): Promise<unknown> }) => task.run(new AbortController().signal);

/** Each housekeeping chore, run once against real rows and files. */
describe('housekeeping tasks', () => {
  let temp: TempSqlite;
  let queue: SqliteJobQueue;
  const count = (sql: string, ...params: unknown[]) => temp.db.prepare(sql).pluck().get(...params) as number;
  const enqueue = async (userId: string, trackId: string) => {
    const outcome = await queue.enqueue({ userId, trackId, maxAttempts: 3, maxActive: 100 });
    if (outcome.kind !== 'enqueued') throw new Error(`not enqueued: ${outcome.kind}`);
    return outcome.job;
  };

  beforeEach(() => {
    temp = openTempSqlite();
    queue = new SqliteJobQueue(temp.db, { purgeBatchSize: 4 });
  });

  afterEach(async () => {
    await temp.close();
  });

  it('reap: takes back a job whose lease ran out', async () => {
    const job = await enqueue('u1', 'a');
    await queue.claim('dead-worker', 20);
    await sleep(60);
    const reaped: ReapOutcome[] = [];
    expect(await run(reapExpiredJobLeases(queue, every, (outcome) => reaped.push(outcome)))).toEqual({ requeued: 1, failed: 0 });
    expect(reaped).toEqual([{ requeued: 1, failed: 0 }]);
    expect((await queue.get(job.id))?.status).toBe('queued');
  });

  it('purge: deletes final jobs past the retention, batch after batch, and nothing else', async () => {
    const old: string[] = [];
    for (let i = 0; i < 10; i += 1) {
      const job = await enqueue('u1', `old-${i}`);
      await queue.cancel(job.id, 'u1');
      old.push(job.id);
    }
    const recent = await enqueue('u1', 'recent');
    await queue.cancel(recent.id, 'u1');
    const active = await enqueue('u1', 'active');
    temp.db.prepare(`UPDATE jobs SET updated_at = updated_at - ${2 * HOUR} WHERE id IN (SELECT value FROM json_each(?))`).run(JSON.stringify(old));

    // Ten rows at four a batch: three batches.
    expect(await run(purgeFinishedJobs(queue, HOUR, every))).toEqual({ purged: 10 });
    expect(count('SELECT count(*) FROM jobs')).toBe(2);
    expect((await queue.get(recent.id))?.status).toBe('cancelled');
    expect((await queue.get(active.id))?.status).toBe('queued');
    expect(await run(purgeFinishedJobs(queue, HOUR, every))).toEqual({ purged: 0 });
  });

  it('token families: deletes the expired ones and their refresh tokens', async () => {
    const tokens = new SqliteTokenStore(temp.db);
    const create = (id: string, expiresInMs: number) =>
      tokens.createFamily({ id, userId: 'u1', expiresAt: new Date(Date.now() + expiresInMs) }, `${id}-token`.padEnd(64, '0'));
    for (const id of ['gone-1', 'gone-2', 'gone-3']) await create(id, -HOUR);
    for (const id of ['kept-1', 'kept-2']) await create(id, HOUR);
    expect(await tokens.rotate('gone-1-token'.padEnd(64, '0'), 'gone-1-next'.padEnd(64, '0'), new Date(Date.now() - 2 * HOUR))).toMatchObject({ kind: 'rotated' });
    expect(count('SELECT count(*) FROM refresh_tokens')).toBe(6);

    expect(await run(purgeExpiredTokenFamilies(tokens, every))).toEqual({ purged: 3 });
    expect(temp.db.prepare('SELECT id FROM token_families ORDER BY id').pluck().all()).toEqual(['kept-1', 'kept-2']);
    expect(count('SELECT count(*) FROM refresh_tokens')).toBe(2);
  });

  it('outbox: applies changes that no kick announced (another process wrote them)', async () => {
    const catalog = new SqliteTrackCatalog(temp.db);
    const outbox = new SqliteSearchOutbox(temp.db);
    const index = new SqliteSearchIndex(temp.db);
    const relay = new OutboxRelay({ outbox, catalog, index });
    await catalog.upsert([{ id: 'track-a', title: 'Housekeeping Blues', artists: ['The Sweepers'], album: 'Chores', durationMs: 1000 }]);
    expect((await outbox.backlog()).pending).toBe(1);

    await run(relaySearchOutbox(relay, every));
    expect((await outbox.backlog()).pending).toBe(0);
    expect((await index.search('Housekeeping', { limit: 5, offset: 0 })).items).toEqual(['track-a']);
    await relay.close();
  });

  it('counters: recounts active jobs per user after they were corrupted by hand', async () => {
    for (const track of ['a', 'b', 'c']) await enqueue('alice', track);
    await enqueue('bob', 'a');
    temp.db.exec(`UPDATE user_job_counts SET active = 20 WHERE user_id = 'alice'; DELETE FROM user_job_counts WHERE user_id = 'bob'`);

    expect(await run(repairCounters([{ name: 'activeJobs', repair: () => queue.repairActiveCounts() }], every))).toEqual({ activeJobs: 2 });
    expect(temp.db.prepare('SELECT user_id, active FROM user_job_counts ORDER BY user_id').all()).toEqual([
      { user_id: 'alice', active: 3 },
      { user_id: 'bob', active: 1 },
    ]);
  });

  describe('temps', () => {
    let root: string;
    let store: LocalBlobStore;
    const tmp = () => readdirSync(join(root, 'tmp')).sort();

    beforeEach(async () => {
      root = mkdtempSync(join(tmpdir(), 'mixtape-housekeeping-temps-'));
      store = new LocalBlobStore({ root });
      await store.start();
    });

    afterEach(() => {
      rmSync(root, { recursive: true, force: true });
    });

    it('sweeps the temps of attempts whose lease is over at once, and anonymous ones past the grace', async () => {
      const live = await enqueue('u1', 'live');
      const expired = await enqueue('u1', 'expired');
      const liveLease = (await queue.claim('w1', 60_000))!;
      const expiredLease = (await queue.claim('w2', 20))!;
      expect([liveLease.job.id, expiredLease.job.id]).toEqual([live.id, expired.id]);
      const writing = await store.begin({ owner: { jobId: live.id, token: liveLease.token } });
      await writing.write(Buffer.from('still arriving'));
      const stalled = await store.begin({ owner: { jobId: expired.id, token: expiredLease.token } });
      await stalled.write(Buffer.from('a worker that was killed'));
      // What an earlier attempt of the live job left, as a killed process would.
      writeFileSync(join(root, 'tmp', `${live.id}.earlier-token.part`), 'old attempt');
      const fresh = await store.begin();
      await fresh.write(Buffer.from('no owner, just begun'));
      writeFileSync(join(root, 'tmp', 'forgotten.part'), 'no owner, long ago');
      const longAgo = new Date(Date.now() - 2 * HOUR);
      utimesSync(join(root, 'tmp', 'forgotten.part'), longAgo, longAgo);
      expect(tmp()).toHaveLength(5);
      await sleep(60);

      expect(await run(sweepOrphanTemps(store, queue, HOUR, every))).toEqual({ removed: 3 });
      const kept = tmp();
      expect(kept).toHaveLength(2);
      expect(kept).toContain(`${live.id}.${liveLease.token}.part`);
      expect(kept.find((name) => !name.startsWith(live.id))).toMatch(/^[0-9a-f]{32}\.part$/);
      // The live attempt carries on and publishes its file.
      expect((await writing.commit()).sizeBytes).toBe('still arriving'.length);
      await fresh.abort();
    });
  });
});
