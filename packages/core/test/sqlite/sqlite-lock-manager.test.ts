import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SqliteTrackCatalog } from '../../src/catalog/sqlite-track-catalog.js';
import type { SqliteDatabase } from '../../src/db/sqlite-database.js';
import { SqliteFencingTokens } from '../../src/locks/sqlite-fencing-tokens.js';
import { openSqliteLockConnection, SqliteLockManager } from '../../src/locks/sqlite-lock-manager.js';
import { describeLockManager } from '../contracts/lock-manager.contract.js';
import { bundleChildProgram, type ChildProgram } from './child-processes.js';
import { startChild } from './live-child.js';
import { openTempSqlite, type TempSqlite } from './temp-sqlite.js';

describeLockManager(
  'sqlite',
  async () => {
    const temp = openTempSqlite();
    const lockDb = openSqliteLockConnection(temp.path);
    return {
      subject: new SqliteLockManager(lockDb),
      fencing: new SqliteFencingTokens(temp.db),
      // What a holder paused past its TTL leaves behind: a row whose time ran out.
      loseLock: async (key) => {
        temp.db.prepare('UPDATE locks SET expires_at = 0 WHERE key = ?').run(key);
      },
      close: async () => {
        lockDb.close();
        await temp.close();
      },
    };
  },
  { canLoseLocks: true },
);

/** Another process that takes the database's write lock and keeps it for `holdMs`. */
const WRITER = `
const Database = require(process.argv[1]);
const db = new Database(process.argv[2]);
db.exec('BEGIN IMMEDIATE');
db.prepare("INSERT INTO fencing_tokens (key, token) VALUES ('writer', 1)").run();
process.stdout.write('locked\\n');
Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(process.argv[3]));
db.exec('COMMIT');
db.close();
`;

describe('SqliteLockManager', () => {
  let temp: TempSqlite;
  const connections: SqliteDatabase[] = [];
  const connect = () => {
    const db = openSqliteLockConnection(temp.path);
    connections.push(db);
    return db;
  };

  beforeEach(() => {
    temp = openTempSqlite();
  });

  afterEach(async () => {
    for (const db of connections.splice(0)) db.close();
    await temp.close();
  });

  it('excludes a manager on another connection, as another process, and shares its fencing tokens', async () => {
    const [first, second] = [new SqliteLockManager(connect()), new SqliteLockManager(connect())];
    let inside = 0;
    let most = 0;
    const tokens: number[] = [];
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        (i % 2 === 0 ? first : second).using(['track:x'], async ({ fencingToken }) => {
          inside += 1;
          most = Math.max(most, inside);
          tokens.push(fencingToken);
          await sleep(3);
          inside -= 1;
        }),
      ),
    );
    expect(most).toBe(1);
    expect(tokens).toEqual([...tokens].sort((a, b) => a - b));
    expect(new Set(tokens).size).toBe(12);
    expect(await new SqliteFencingTokens(temp.db).current('track:x')).toBe(tokens.at(-1));
    expect(temp.db.prepare('SELECT count(*) FROM locks').pluck().get()).toBe(0);
  });

  it('takes over a lock whose holder died once its time runs out', async () => {
    temp.db
      .prepare("INSERT INTO locks (key, owner, token, expires_at) VALUES ('track:x', 'dead', 7, CAST(unixepoch('subsec') * 1000 AS INTEGER) + 300)")
      .run();
    temp.db.prepare("INSERT INTO fencing_tokens (key, token) VALUES ('track:x', 7)").run();
    const locks = new SqliteLockManager(connect());
    const startedAt = Date.now();
    const token = await locks.using(['track:x'], async ({ fencingToken }) => fencingToken, { waitTimeoutMs: 5000 });
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(250);
    expect(token).toBe(8);
  });

  it('wakes a waiter in this process as soon as a holder here lets go, not at its next poll', async () => {
    const locks = new SqliteLockManager(connect(), { minPollMs: 3000, maxPollMs: 3000 });
    let release!: () => void;
    const holder = locks.using(['k'], () => new Promise<void>((resolve) => (release = resolve)));
    await sleep(20);
    const asked = Date.now();
    const waiter = locks.using(['k'], async () => Date.now() - asked, { waitTimeoutMs: 10_000 });
    await sleep(50);
    release();
    await holder;
    expect(await waiter).toBeLessThan(1000);
  });

  it('gives up after its default wait timeout when the caller names none', async () => {
    const locks = new SqliteLockManager(connect(), { waitTimeoutMs: 100 });
    let release!: () => void;
    const holder = locks.using(['k'], () => new Promise<void>((resolve) => (release = resolve)));
    await sleep(20);
    await expect(locks.using(['k'], async () => 'ran')).rejects.toMatchObject({ code: 'ERR_UNAVAILABLE' });
    release();
    await holder;
  });

  it('checks its options at construction', () => {
    const db = connect();
    expect(() => new SqliteLockManager(db, { ttlMs: 0 })).toThrow(expect.objectContaining({ code: 'ERR_VALIDATION' }));
    expect(() => new SqliteLockManager(db, { minPollMs: 10, maxPollMs: 5 })).toThrow(expect.objectContaining({ code: 'ERR_VALIDATION' }));
  });

  it('retries a busy database asynchronously: the event loop keeps running while another process writes', async () => {
    const require = createRequire(import.meta.url);
    const writer = spawn(process.execPath, ['-e', WRITER, require.resolve('better-sqlite3'), temp.path, '400'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = once(writer, 'exit');
    await once(writer.stdout, 'data');

    const locks = new SqliteLockManager(connect());
    let lastTick = performance.now();
    let longestStall = 0;
    const ticker = setInterval(() => {
      const now = performance.now();
      longestStall = Math.max(longestStall, now - lastTick);
      lastTick = now;
    }, 5);
    const startedAt = performance.now();
    const token = await locks.using(['k'], async ({ fencingToken }) => fencingToken, { waitTimeoutMs: 5000 });
    const waited = performance.now() - startedAt;
    // The gap since the last tick counts too: a wait that blocked throughout would show only there.
    longestStall = Math.max(longestStall, performance.now() - lastTick);
    clearInterval(ticker);
    await exited;

    expect(token).toBe(1);
    // It got the lock only once the other process committed...
    expect(waited).toBeGreaterThanOrEqual(250);
    // ...and never made the event loop sit out that wait inside SQLite.
    expect(longestStall).toBeLessThan(150);
  });

  describe('across processes', () => {
    let child: ChildProgram;

    beforeAll(async () => {
      child = await bundleChildProgram('./lock-child.ts');
    }, 60_000);
    afterAll(() => child?.remove());

    it('a holder paused past its TTL loses the lock to another process: it learns so, and its writes are refused', async () => {
      const catalog = new SqliteTrackCatalog(temp.db);
      await catalog.upsert([{ id: 'x', title: 'X', artists: ['A'], album: 'B', durationMs: 1000 }]);
      const holder = startChild(child.path, [temp.path, 'x', '300']);
      try {
        const { held } = (await holder.nextLine()) as { held: number };

        // A pause longer than the TTL: a GC pause, a SIGSTOP, a laptop lid.
        holder.process.kill('SIGSTOP');
        const locks = new SqliteLockManager(connect());
        const mine = await locks.using(['track:x'], async ({ fencingToken }) => {
          expect(fencingToken).toBeGreaterThan(held);
          await catalog.attachAudio('x', { blobKey: 'b'.repeat(64), sizeBytes: 3, contentType: 'audio/mpeg' }, { key: 'track:x', token: fencingToken });
          holder.process.kill('SIGCONT');
          // The old holder writes before any renewal of its could tell it anything.
          holder.send(`attach ${'a'.repeat(64)}`);
          expect(await holder.nextLine()).toEqual({ attach: 'ERR_LOCK_LOST' });
          return fencingToken;
        }, { waitTimeoutMs: 5000 });

        holder.send('wait-lost');
        expect(await holder.nextLine()).toEqual({ lost: 'ERR_LOCK_LOST' });
        holder.send('release');
        expect((await holder.exited).code).toBe(0);
        expect((await catalog.get('x'))?.audio?.blobKey).toBe('b'.repeat(64));
        expect(await new SqliteFencingTokens(temp.db).current('track:x')).toBe(mine);
      } finally {
        holder.process.kill('SIGKILL');
      }
    });
  });
});
