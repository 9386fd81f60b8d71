import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SqliteRevocationList, type SqliteRevocationListOptions } from '../../src/auth/sqlite-revocation-list.js';
import revocationListSql from '../../src/auth/sqlite-revocation-list.sql';
import { namedStatements } from '../../src/db/named-statements.js';
import { migrateSqlite, openSqliteDatabase, type SqliteDatabase } from '../../src/db/sqlite-database.js';
import { sqliteMigrations } from '../../src/db/sqlite-migrations.js';
import { ConfigError, UnavailableError } from '../../src/errors.js';
import { describeRevocationList } from '../contracts/revocation-list.contract.js';
import { openTempSqlite, type TempSqlite } from './temp-sqlite.js';

const POLL_MS = 50;
const HOUR = 3_600_000;
const inAnHour = () => new Date(Date.now() + HOUR);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describeRevocationList('sqlite', async () => {
  const temp = openTempSqlite();
  const lists: SqliteRevocationList[] = [];
  return {
    // Each on its own connection, as each process sharing a data dir has.
    create: () => {
      const list = new SqliteRevocationList(temp.connect(), { pollIntervalMs: POLL_MS });
      lists.push(list);
      return list;
    },
    // One poll interval, and room for a timer that fires late on a busy machine.
    propagationMs: POLL_MS + 250,
    async close() {
      await Promise.all(lists.map((list) => list.close()));
      await temp.close();
    },
  };
});

describe('SqliteRevocationList', () => {
  let temp: TempSqlite;
  const lists: SqliteRevocationList[] = [];

  function list(db: SqliteDatabase = temp.connect(), options: SqliteRevocationListOptions = {}): SqliteRevocationList {
    const created = new SqliteRevocationList(db, { pollIntervalMs: POLL_MS, ...options });
    lists.push(created);
    return created;
  }

  const rowCount = () => temp.db.prepare('SELECT count(*) FROM revoked_ids').pluck().get() as number;

  beforeEach(() => {
    temp = openTempSqlite();
  });

  afterEach(async () => {
    await Promise.all(lists.splice(0).map((each) => each.close()));
    await temp.close();
  });

  it('answers a check without a single statement once loaded', async () => {
    const executed: string[] = [];
    const counted = new Database(temp.path, { verbose: (sql) => executed.push(String(sql)) });
    try {
      // A poll far away, so that only the checks could run statements.
      const revocations = list(counted, { pollIntervalMs: 60_000 });
      await list().revokeSession('s-1', inAnHour());
      await revocations.start();
      expect(executed.length).toBeGreaterThan(0);
      executed.length = 0;
      for (let i = 0; i < 1000; i++) {
        expect(revocations.isRevoked({ sid: i === 0 ? 's-1' : `s-${i + 1}`, jti: `j-${i}` })).toBe(i === 0);
      }
      expect(executed).toEqual([]);
      await revocations.close();
    } finally {
      counted.close();
    }
  });

  it('reads each row once: a poll asks only for rows newer than the last it saw', async () => {
    const db = temp.connect();
    const polled: number[] = [];
    const prepare = db.prepare.bind(db);
    // Counts the rows each poll returns, through the statement the adapter prepares.
    db.prepare = ((sql: string) => {
      const statement = prepare(sql);
      if (!sql.includes('seq > @after')) return statement;
      const all = statement.all.bind(statement);
      statement.all = ((...params: unknown[]) => {
        const rows = all(...(params as [object]));
        polled.push(rows.length);
        return rows;
      }) as typeof statement.all;
      return statement;
    }) as typeof db.prepare;
    const revocations = list(db);
    await revocations.start();
    const writer = list();
    await writer.revokeSession('s-1', inAnHour());
    await writer.revokeSession('s-2', inAnHour());
    await vi.waitFor(() => expect(revocations.isRevoked({ sid: 's-2', jti: 'j' })).toBe(true), { timeout: 2000, interval: 10 });
    await writer.revokeToken('j-3', inAnHour());
    await vi.waitFor(() => expect(revocations.isRevoked({ sid: 's', jti: 'j-3' })).toBe(true), { timeout: 2000, interval: 10 });
    await sleep(POLL_MS * 3);
    expect(polled.length).toBeGreaterThan(3);
    expect(polled.reduce((sum, rows) => sum + rows, 0)).toBe(3);
  });

  it('never shortens an entry in this process when an id is revoked again with an earlier expiry', async () => {
    // No poll in between to restore the later expiry from the table.
    const revocations = list(temp.connect(), { pollIntervalMs: 60_000 });
    await revocations.start();
    await revocations.revokeSession('s-1', inAnHour());
    await revocations.revokeSession('s-1', new Date(Date.now() + 50));
    await revocations.revokeToken('j-1', inAnHour());
    await revocations.revokeToken('j-1', new Date(Date.now() + 50));
    await sleep(100);
    expect(revocations.isRevoked({ sid: 's-1', jti: 'j' })).toBe(true);
    expect(revocations.isRevoked({ sid: 's', jti: 'j-1' })).toBe(true);
  });

  it('fails closed while the table cannot be read at start, and serves once a poll can read it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mixtape-revocations-'));
    const path = join(dir, 'mixtape.db');
    // A database without the schema yet: the table is missing, as when the database is down.
    const early = openSqliteDatabase(path);
    const other = openSqliteDatabase(path);
    const errors: unknown[] = [];
    const revocations = list(early, { onError: (error) => errors.push(error) });
    try {
      await revocations.start();
      const refused = (() => {
        try {
          return revocations.isRevoked({ sid: 's-1', jti: 'j-1' });
        } catch (error) {
          return error;
        }
      })();
      expect(refused).toBeInstanceOf(UnavailableError);
      expect(refused).toMatchObject({ code: 'ERR_UNAVAILABLE', cause: expect.any(Error) });
      expect(errors.length).toBeGreaterThan(0);

      migrateSqlite(other);
      await list(other).revokeSession('s-1', inAnHour());
      await vi.waitFor(() => expect(revocations.isRevoked({ sid: 's-1', jti: 'j-1' })).toBe(true), { timeout: 2000, interval: 10 });
      expect(revocations.isRevoked({ sid: 's-2', jti: 'j-2' })).toBe(false);
    } finally {
      await revocations.close();
      early.close();
      other.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails closed once its polls have failed for longer than maxStalenessMs, and recovers with the next good poll', async () => {
    const revocations = list(temp.connect(), { maxStalenessMs: 300 });
    await revocations.start();
    // Every poll fails while the table is under another name.
    temp.db.exec('ALTER TABLE revoked_ids RENAME TO revoked_ids_away');
    const brokenAt = Date.now();
    expect(revocations.isRevoked({ sid: 's-1', jti: 'j-1' })).toBe(false);
    await vi.waitFor(() => expect(() => revocations.isRevoked({ sid: 's-1', jti: 'j-1' })).toThrow(UnavailableError), {
      timeout: 3000,
      interval: 10,
    });
    // Not before the bound, and not long after it: one poll interval plus a late timer.
    const failedAfter = Date.now() - brokenAt;
    expect(failedAfter).toBeGreaterThanOrEqual(300 - POLL_MS);
    expect(failedAfter).toBeLessThan(300 + POLL_MS + 500);

    temp.db.exec('ALTER TABLE revoked_ids_away RENAME TO revoked_ids');
    await list().revokeSession('s-1', inAnHour());
    await vi.waitFor(() => expect(revocations.isRevoked({ sid: 's-1', jti: 'j-1' })).toBe(true), { timeout: 2000, interval: 10 });
  });

  it('drops expired entries from memory on the poll, and expired rows on the purge', async () => {
    const revocations = list(temp.connect(), { purgeIntervalMs: POLL_MS });
    await revocations.start();
    await revocations.revokeSession('s-brief', new Date(Date.now() + 100));
    await revocations.revokeToken('j-brief', new Date(Date.now() + 100));
    await revocations.revokeSession('s-long', inAnHour());
    expect(revocations.size).toBe(3);
    expect(rowCount()).toBe(3);
    await vi.waitFor(
      () => {
        expect(revocations.size).toBe(1);
        expect(rowCount()).toBe(1);
      },
      { timeout: 2000, interval: 10 },
    );
    expect(revocations.isRevoked({ sid: 's-long', jti: 'j' })).toBe(true);
  });

  it('purges on demand, only what has expired', async () => {
    const writer = list();
    await writer.revokeSession('s-brief', new Date(Date.now() + 20));
    await writer.revokeSession('s-long', inAnHour());
    await sleep(40);
    expect(await writer.purgeExpired()).toBe(1);
    expect(temp.db.prepare('SELECT id FROM revoked_ids').pluck().all()).toEqual(['s-long']);
  });

  it('polls a read-only connection without ever trying to purge through it', async () => {
    await list().revokeSession('s-brief', new Date(Date.now() + 20));
    const errors: unknown[] = [];
    const reader = list(openSqliteDatabase(temp.path, { readOnly: true }), { purgeIntervalMs: 1, onError: (error) => errors.push(error) });
    try {
      await reader.start();
      await sleep(40 + POLL_MS * 3);
      expect(errors).toEqual([]);
      expect(rowCount()).toBe(1);
      expect(reader.isRevoked({ sid: 's-brief', jti: 'j' })).toBe(false);
    } finally {
      await reader.close();
    }
  });

  it('refuses settings that cannot work, with ERR_CONFIG', () => {
    for (const options of [{ pollIntervalMs: 0 }, { pollIntervalMs: 1000, maxStalenessMs: 1000 }, { purgeIntervalMs: -1 }]) {
      expect(() => new SqliteRevocationList(temp.db, options), JSON.stringify(options)).toThrow(ConfigError);
    }
  });

  it('does no I/O in its constructor', () => {
    const executed: string[] = [];
    const counted = new Database(temp.path, { verbose: (sql) => executed.push(String(sql)) });
    try {
      new SqliteRevocationList(counted);
      expect(executed).toEqual([]);
    } finally {
      counted.close();
    }
  });

  it('migrates sessions revoked before the table existed, for a day after their revoke', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mixtape-revocations-'));
    const db = openSqliteDatabase(join(dir, 'mixtape.db'));
    try {
      const version = sqliteMigrations.find((m) => m.name === 'revocation-list')!.version;
      migrateSqlite(
        db,
        sqliteMigrations.filter((m) => m.version < version),
      );
      const now = Date.now();
      const insert = db.prepare(
        'INSERT INTO token_families (id, user_id, expires_at, revoked_at, created_at) VALUES (?, ?, ?, ?, ?)',
      );
      insert.run('revoked-recently', 'u', now + HOUR, now - 60_000, now - HOUR);
      insert.run('revoked-long-ago', 'u', now + HOUR, now - 2 * 24 * HOUR, now - 3 * 24 * HOUR);
      insert.run('active', 'u', now + HOUR, null, now - HOUR);
      migrateSqlite(db);

      const revocations = list(db);
      await revocations.start();
      expect(revocations.isRevoked({ sid: 'revoked-recently', jti: 'j' })).toBe(true);
      expect(revocations.isRevoked({ sid: 'revoked-long-ago', jti: 'j' })).toBe(false);
      expect(revocations.isRevoked({ sid: 'active', jti: 'j' })).toBe(false);
      expect(db.prepare('SELECT id FROM revoked_ids').pluck().all()).toEqual(['revoked-recently']);
      await revocations.close();
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('statements', () => {
    const plan = (name: string) => {
      const sql = namedStatements(revocationListSql)[name]!;
      const params = Object.fromEntries([...sql.matchAll(/@(\w+)/g)].map((match) => [match[1], null]));
      return (temp.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(params) as { detail: string }[]).map((row) => row.detail).join('\n');
    };

    it('each prepares against the migrated schema', () => {
      for (const [name, sql] of Object.entries(namedStatements(revocationListSql))) {
        expect(() => temp.db.prepare(sql), name).not.toThrow();
      }
    });

    it('polls by a range of the primary key, and finds ids and expired rows by their indexes', () => {
      expect(plan('entriesAfter')).toMatch(/^SEARCH revoked_ids USING INTEGER PRIMARY KEY \(rowid>\?\)/m);
      expect(plan('entriesAfter')).not.toMatch(/TEMP B-TREE/);
      expect(plan('dropShorter')).toMatch(/^SEARCH revoked_ids USING INDEX revoked_ids_kind_id \(kind=\? AND id=\?\)/m);
      expect(plan('purgeExpired')).toMatch(/^SEARCH revoked_ids USING (COVERING )?INDEX revoked_ids_expires \(expires_at<\?\)/m);
      expect(plan('liveEntries')).toMatch(/^SEARCH revoked_ids USING INDEX revoked_ids_expires \(expires_at>\?\)/m);
    });
  });
});
