import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RedisRevocationList, type RedisRevocationListOptions } from '../../src/auth/redis-revocation-list.js';
import type { MirroredRevocationList } from '../../src/auth/revocation-list.js';
import { SqliteRevocationList } from '../../src/auth/sqlite-revocation-list.js';
import { ConfigError, UnavailableError } from '../../src/errors.js';
import { MysqlDatabase } from '../../src/mysql/mysql-database.js';
import { createMysqlPool } from '../../src/mysql/mysql-pool.js';
import { MysqlRevocationList } from '../../src/mysql/mysql-revocation-list.js';
import { RedisConnection, type RedisConnectionOptions } from '../../src/redis/redis-connection.js';
import { describeRevocationList, type RevocationListInstance } from '../contracts/revocation-list.contract.js';
import { perFileDatabase } from '../mysql/per-file-database.js';
import { openTempSqlite, type TempSqlite } from '../sqlite/temp-sqlite.js';
import { ownRedisServer } from './own-redis-server.js';
import { sharedRedisUrl, uniqueRedisPrefix } from './shared-redis.js';

/** A database poll so slow that only Redis can deliver a revoke within a test's wait. */
const SLOW_POLL_MS = 30_000;
/** Pub/sub delivers in a few ms; the rest is room for a busy two-core machine running other files. */
const PROPAGATION_MS = 150;
const HOUR = 3_600_000;
const inAnHour = () => new Date(Date.now() + HOUR);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const mysql = perFileDatabase();

/**
 * What one process holds: its Redis connection, its database list and the Redis list over them.
 * The process owns the database list and the connection, so it starts and closes them too.
 */
interface ProcessLists {
  list: RedisRevocationList;
  database: MirroredRevocationList & { start(): Promise<void>; close(): Promise<void> };
  connection: RedisConnection;
  /** Starts the database list, then the Redis one; closes them the other way, then the connection. */
  instance: RevocationListInstance;
}

function processLists(
  database: ProcessLists['database'],
  connectionOptions: RedisConnectionOptions,
  options: RedisRevocationListOptions = {},
): ProcessLists {
  const connection = new RedisConnection(connectionOptions);
  const list = new RedisRevocationList(connection, database, options);
  const instance: RevocationListInstance = {
    revokeSession: (id, until) => list.revokeSession(id, until),
    revokeToken: (id, until) => list.revokeToken(id, until),
    isRevoked: (token) => list.isRevoked(token),
    async start() {
      await database.start();
      await list.start();
    },
    async close() {
      await list.close();
      await database.close();
      await connection.close();
    },
  };
  return { list, database, connection, instance };
}

/** The denylist as Redis holds it: member → score. */
async function denylist(connection: RedisConnection): Promise<Record<string, number>> {
  const flat = await connection.run((redis) => redis.zrange(`${connection.prefix}revoked`, 0, -1, 'WITHSCORES'));
  const members: Record<string, number> = {};
  // Redis writes +inf as "inf".
  for (let i = 0; i < flat.length; i += 2) members[flat[i]!] = flat[i + 1] === 'inf' ? Infinity : Number(flat[i + 1]);
  return members;
}

describeRevocationList('redis over sqlite', async () => {
  const temp = openTempSqlite();
  const prefix = uniqueRedisPrefix();
  const processes: ProcessLists[] = [];
  return {
    create: () => {
      const created = processLists(new SqliteRevocationList(temp.connect(), { pollIntervalMs: SLOW_POLL_MS }), { url: sharedRedisUrl(), prefix });
      processes.push(created);
      return created.instance;
    },
    propagationMs: PROPAGATION_MS,
    async close() {
      await Promise.all(processes.map((each) => each.instance.close()));
      await temp.close();
    },
  };
});

describeRevocationList('redis over mysql', async () => {
  const { url } = await mysql.emptied(['revoked_ids']);
  const prefix = uniqueRedisPrefix();
  const processes: ProcessLists[] = [];
  const pools: MysqlDatabase[] = [];
  return {
    create: () => {
      const db = new MysqlDatabase(createMysqlPool(url, { poolSize: 2 }));
      pools.push(db);
      const created = processLists(new MysqlRevocationList(db, { pollIntervalMs: SLOW_POLL_MS }), { url: sharedRedisUrl(), prefix });
      processes.push(created);
      return created.instance;
    },
    propagationMs: PROPAGATION_MS,
    async close() {
      await Promise.all(processes.map((each) => each.instance.close()));
      await Promise.all(pools.map((db) => db.close()));
    },
  };
});

describe('RedisRevocationList on the shared redis-server', () => {
  let temp: TempSqlite;
  let prefix: string;
  const processes: ProcessLists[] = [];

  async function started(pollIntervalMs = SLOW_POLL_MS, options: RedisRevocationListOptions = {}): Promise<ProcessLists> {
    const created = processLists(new SqliteRevocationList(temp.connect(), { pollIntervalMs }), { url: sharedRedisUrl(), prefix }, options);
    processes.push(created);
    await created.instance.start();
    return created;
  }

  beforeEach(() => {
    temp = openTempSqlite();
    prefix = uniqueRedisPrefix();
  });

  afterEach(async () => {
    await Promise.all(processes.splice(0).map((each) => each.instance.close()));
    await temp.close();
  });

  it('shows a revoke in another process within milliseconds, with the database polled every 30 s', async () => {
    const [a, b] = [await started(), await started()];
    const times: number[] = [];
    for (let i = 0; i < 30; i += 1) {
      const sid = `s-${i}`;
      const begun = performance.now();
      await a.list.revokeSession(sid, inAnHour());
      // Checked on every turn of the event loop, as requests would be.
      while (!b.list.isRevoked({ sid, jti: 'j' })) {
        if (performance.now() - begun > 1000) throw new Error(`${sid} not seen within 1 s`);
        await new Promise((resolve) => setImmediate(resolve));
      }
      times.push(performance.now() - begun);
    }
    times.sort((x, y) => x - y);
    const median = times[Math.floor(times.length / 2)]!;
    const slowest = times.at(-1)!;
    // The measured propagation, from the call to revoke to the other process refusing the token.
    console.info(`revocation propagation over Redis: median ${median.toFixed(2)} ms, slowest ${slowest.toFixed(2)} ms (30 revokes)`);
    expect(median).toBeLessThan(50);
    expect(slowest).toBeLessThan(PROPAGATION_MS);
    // The denylist holds each with its expiry, and the marker of the refill made at the first start.
    const held = await denylist(a.connection);
    expect(Object.keys(held)).toHaveLength(31);
    expect(held['~filled']).toBe(Infinity);
    expect(held['session:s-0']).toBeGreaterThan(Date.now() + HOUR - 60_000);
  });

  it('keeps the later expiry in the denylist when an id is revoked twice', async () => {
    const a = await started();
    const later = Date.now() + 2 * HOUR;
    await a.list.revokeToken('j-1', new Date(later));
    await a.list.revokeToken('j-1', new Date(Date.now() + HOUR));
    await a.list.revokeSession('s-1', new Date(Date.now() + 200));
    await sleep(250);
    // A revoke drops what expired.
    await a.list.revokeSession('s-2', inAnHour());
    const held = await denylist(a.connection);
    expect(held['token:j-1']).toBe(later);
    expect(held['session:s-1']).toBeUndefined();
    expect(Object.keys(held).sort()).toEqual(['session:s-2', 'token:j-1', '~filled']);
  });

  it('merges the denylist into its copy at start, beside what it loaded from the database', async () => {
    const a = await started();
    await a.list.revokeSession('s-db', inAnHour());
    // Entries only Redis holds (revokes whose database rows this process cannot read yet), more
    // than one page of the read; one has expired.
    const until = Date.now() + HOUR;
    const onlyInRedis = Array.from({ length: 2500 }, (_, i) => [until + i, `token:j-redis-${i}`]).flat();
    await a.connection.run((redis) => redis.zadd(`${prefix}revoked`, ...onlyInRedis, until, 'session:s-redis', Date.now() - 1, 'session:s-gone'));
    const b = await started();
    expect(b.list.isRevoked({ sid: 's-db', jti: 'j' })).toBe(true);
    expect(b.list.isRevoked({ sid: 's-redis', jti: 'j' })).toBe(true);
    expect(b.list.isRevoked({ sid: 's-gone', jti: 'j' })).toBe(false);
    expect(b.list.isRevoked({ sid: 's-other', jti: 'j' })).toBe(false);
    const learned = Array.from({ length: 2500 }, (_, i) => b.list.isRevoked({ sid: 's', jti: `j-redis-${i}` }));
    expect(learned.filter(Boolean)).toHaveLength(2500);
  });

  it('refills a lost denylist from the database in chunks, once, however many processes start at once', async () => {
    const now = Date.now();
    const insert = temp.db.prepare("INSERT INTO revoked_ids (kind, id, expires_at, revoked_at) VALUES (?, ?, ?, ?)");
    temp.db.transaction(() => {
      for (let i = 0; i < 2500; i += 1) insert.run(i % 2 ? 'token' : 'session', `id-${i}`, now + HOUR + i, now);
      insert.run('session', 'expired', now - 1, now - HOUR);
    })();
    const lists = await Promise.all([started(), started(), started()]);
    const held = await denylist(lists[0]!.connection);
    expect(Object.keys(held)).toHaveLength(2501);
    expect(held['~filled']).toBe(Infinity);
    expect(held['token:id-2499']).toBe(now + HOUR + 2499);
    expect(held['session:expired']).toBeUndefined();
    expect(await lists[0]!.connection.run((redis) => redis.exists(`${prefix}revoked:refill`))).toBe(0);
  });

  it('refills from MySQL too, with the expiries of the record', async () => {
    const { db, url } = await mysql.emptied(['revoked_ids']);
    const now = Date.now();
    const entries = [
      ['session', 's-1', now + HOUR, now],
      ['token', 'j-1', now + 2 * HOUR, now],
      ['session', 's-expired', now - 1, now - HOUR],
    ];
    await db.run('INSERT INTO revoked_ids (kind, id, expires_at, revoked_at) VALUES @entries', { entries });
    const pool = new MysqlDatabase(createMysqlPool(url, { poolSize: 2 }));
    const created = processLists(new MysqlRevocationList(pool, { pollIntervalMs: SLOW_POLL_MS }), { url: sharedRedisUrl(), prefix });
    try {
      await created.instance.start();
      expect(await denylist(created.connection)).toEqual({ 'session:s-1': now + HOUR, 'token:j-1': now + 2 * HOUR, '~filled': Infinity });
    } finally {
      await created.instance.close();
      await pool.close();
    }
  });

  it('reports a stranger on its channel and goes on hearing revokes', async () => {
    const errors: unknown[] = [];
    const [a, b] = [await started(), await started(SLOW_POLL_MS, { onError: (error) => errors.push(error) })];
    await a.connection.publish(`${prefix}revocations`, 'not json');
    await a.connection.publish(`${prefix}revocations`, JSON.stringify({ kind: 'user', id: 'x', until: Date.now() + HOUR }));
    await a.list.revokeSession('s-1', inAnHour());
    await vi.waitFor(() => expect(b.list.isRevoked({ sid: 's-1', jti: 'j' })).toBe(true), { timeout: PROPAGATION_MS, interval: 5 });
    expect(errors).toHaveLength(2);
    expect(b.list.isRevoked({ sid: 'x', jti: 'x' })).toBe(false);
  });

  it('refuses a sync interval that cannot work, with ERR_CONFIG', async () => {
    const connection = new RedisConnection({ url: sharedRedisUrl(), prefix });
    try {
      const database = new SqliteRevocationList(temp.connect());
      for (const syncIntervalMs of [0, -1, 1.5]) {
        expect(() => new RedisRevocationList(connection, database, { syncIntervalMs }), String(syncIntervalMs)).toThrow(ConfigError);
      }
    } finally {
      await connection.close();
    }
  });
});

describe('RedisRevocationList against a redis-server that dies', () => {
  // Empty again, and up, before each test, whatever the last test left.
  const server = ownRedisServer({ restartBeforeEach: true });
  let temp: TempSqlite;
  const processes: ProcessLists[] = [];

  async function started(pollIntervalMs: number, errors: unknown[] = []): Promise<ProcessLists> {
    const created = processLists(
      new SqliteRevocationList(temp.connect(), { pollIntervalMs }),
      { url: server.url, prefix: 'r:', breaker: { failureThreshold: 2, openMs: 100, maxOpenMs: 400 } },
      { syncIntervalMs: 200, onError: (error) => errors.push(error) },
    );
    processes.push(created);
    await created.instance.start();
    return created;
  }

  beforeEach(async () => {
    temp = openTempSqlite();
  });
  afterEach(async () => {
    await Promise.all(processes.splice(0).map((each) => each.instance.close()));
    await temp.close();
  });

  it('refills the denylist from the database after a restart that lost it, and propagates again', async () => {
    const [a, b] = [await started(SLOW_POLL_MS), await started(SLOW_POLL_MS)];
    await a.list.revokeSession('s-1', inAnHour());
    await a.list.revokeToken('j-1', inAnHour());
    await vi.waitFor(() => expect(b.list.isRevoked({ sid: 's-2', jti: 'j-1' })).toBe(true), { timeout: PROPAGATION_MS, interval: 5 });
    const before = await denylist(a.connection);
    expect(Object.keys(before).sort()).toEqual(['session:s-1', 'token:j-1', '~filled']);

    await server.kill();
    // Recorded in the database while Redis is away; the other process polls only every 30 s.
    await a.list.revokeSession('s-during', inAnHour());
    expect(b.list.isRevoked({ sid: 's-during', jti: 'j' })).toBe(false);
    await server.restart();

    // The denylist is back, from the database, with the revoke Redis never got; and the other
    // process has that revoke from Redis, long before its next database poll.
    await vi.waitFor(
      async () => {
        const after = await denylist(a.connection);
        expect(Object.keys(after).sort()).toEqual(['session:s-1', 'session:s-during', 'token:j-1', '~filled']);
        expect(after['session:s-1']).toBe(before['session:s-1']);
        expect(b.list.isRevoked({ sid: 's-during', jti: 'j' })).toBe(true);
      },
      { timeout: 8000, interval: 50 },
    );

    const begun = performance.now();
    await a.list.revokeSession('s-2', inAnHour());
    await vi.waitFor(() => expect(b.list.isRevoked({ sid: 's-2', jti: 'j' })).toBe(true), { timeout: PROPAGATION_MS, interval: 5 });
    expect(performance.now() - begun).toBeLessThan(PROPAGATION_MS);
    await b.list.revokeToken('j-2', inAnHour());
    await vi.waitFor(() => expect(a.list.isRevoked({ sid: 's-3', jti: 'j-2' })).toBe(true), { timeout: PROPAGATION_MS, interval: 5 });
  });

  it('with Redis down, revokes still succeed, other processes see them by their database poll, and checks never throw', async () => {
    const POLL_MS = 50;
    const errors: unknown[] = [];
    const [a, b] = [await started(POLL_MS, errors), await started(POLL_MS)];
    await a.list.revokeSession('s-before', inAnHour());
    await server.kill();

    const timings: number[] = [];
    for (const sid of ['s-down-1', 's-down-2', 's-down-3']) {
      const begun = performance.now();
      await a.list.revokeSession(sid, inAnHour());
      timings.push(performance.now() - begun);
      // This process has it at once.
      expect(a.list.isRevoked({ sid, jti: 'j' })).toBe(true);
    }
    // At most the command timeout (250 ms), then at once once the breaker is open.
    expect(Math.max(...timings)).toBeLessThan(400);
    expect(timings.at(-1)!).toBeLessThan(50);
    expect(errors.some((error) => error instanceof UnavailableError)).toBe(true);

    await vi.waitFor(() => expect(b.list.isRevoked({ sid: 's-down-3', jti: 'j' })).toBe(true), { timeout: POLL_MS + 500, interval: 10 });
    // Checks answer, right, all the while.
    let checks = 0;
    const until = Date.now() + 300;
    while (Date.now() < until) {
      for (const list of [a.list, b.list]) {
        expect(list.isRevoked({ sid: 's-before', jti: 'j' })).toBe(true);
        expect(list.isRevoked({ sid: 's-down-1', jti: 'j' })).toBe(true);
        expect(list.isRevoked({ sid: 's-never', jti: 'j' })).toBe(false);
        checks += 1;
      }
      await sleep(5);
    }
    expect(checks).toBeGreaterThan(50);

    // Back up, empty: the denylist has everything again, the outage's revokes included.
    await server.restart();
    await vi.waitFor(
      async () => {
        const held = await denylist(a.connection);
        expect(Object.keys(held).sort()).toEqual(['session:s-before', 'session:s-down-1', 'session:s-down-2', 'session:s-down-3', '~filled']);
      },
      { timeout: 8000, interval: 50 },
    );
  });

  it('shares the revokes Redis missed during a short outage that lost nothing, once it answers', async () => {
    const [a, b] = [await started(SLOW_POLL_MS), await started(SLOW_POLL_MS)];
    await a.list.revokeSession('s-1', inAnHour());
    // Nothing answers; the keys stay, so no refill is due when it wakes.
    server.pause();
    try {
      await a.list.revokeSession('s-paused', inAnHour());
      expect(a.list.isRevoked({ sid: 's-paused', jti: 'j' })).toBe(true);
      expect(b.list.isRevoked({ sid: 's-paused', jti: 'j' })).toBe(false);
    } finally {
      server.resume();
    }
    await vi.waitFor(
      async () => {
        expect(b.list.isRevoked({ sid: 's-paused', jti: 'j' })).toBe(true);
        expect(Object.keys(await denylist(a.connection)).sort()).toEqual(['session:s-1', 'session:s-paused', '~filled']);
      },
      { timeout: 8000, interval: 50 },
    );
  });
});
