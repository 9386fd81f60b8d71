import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sqliteMigrations } from '../../src/db/sqlite-migrations.js';
import { MysqlDatabase } from '../../src/mysql/mysql-database.js';
import { isMysqlError } from '../../src/mysql/mysql-errors.js';
import { migrateMysql, mysqlMigrations, pendingMysqlMigrations } from '../../src/mysql/mysql-migrations.js';
import { createMysqlPool } from '../../src/mysql/mysql-pool.js';
import { freshMysqlDatabase, type FreshMysqlDatabase } from './mysql-test-server.js';

/** Every table SQLite's migrations create, except FTS5's own, which MySQL folds into search_documents. */
function sqliteTables(): string[] {
  const tables = new Set<string>();
  for (const migration of sqliteMigrations) {
    for (const match of migration.sql.matchAll(/CREATE (?:VIRTUAL )?TABLE (?:IF NOT EXISTS )?(\w+)/gi)) tables.add(match[1]!);
  }
  tables.delete('search_fts');
  return [...tables].sort();
}

describe('MySQL migrations', () => {
  const opened: FreshMysqlDatabase[] = [];
  const fresh = async (migrate: boolean) => {
    const database = await freshMysqlDatabase({ migrate });
    opened.push(database);
    return database;
  };

  afterAll(async () => {
    await Promise.all(opened.map((database) => database.drop()));
  });

  it('with three migrators starting at once on a new database, applies each migration exactly once', async () => {
    const { url } = await fresh(false);
    // Three pools, as `serve`, `worker` and `migrate` would each have.
    const migrators = [1, 2, 3].map(() => new MysqlDatabase(createMysqlPool(url, { poolSize: 1 })));
    try {
      expect(await pendingMysqlMigrations(migrators[0]!)).toEqual(mysqlMigrations.map((m) => m.version));
      const results = await Promise.all(migrators.map((db) => migrateMysql(db)));
      expect(results.filter((applied) => applied.length > 0)).toEqual([mysqlMigrations.map((m) => m.version)]);
      expect(results.filter((applied) => applied.length === 0)).toHaveLength(2);
      for (const db of migrators) expect(await pendingMysqlMigrations(db)).toEqual([]);
      expect(await migrators[0]!.all('SELECT version, name FROM schema_migrations ORDER BY version')).toEqual(
        mysqlMigrations.map(({ version, name }) => ({ version, name })),
      );
      // Idempotent: again, nothing to do.
      expect(await migrateMysql(migrators[1]!)).toEqual([]);
    } finally {
      await Promise.all(migrators.map((db) => db.close()));
    }
  });

  it('creates every table of the SQLite schema, InnoDB, with the collations of the design', async () => {
    const { db, name } = await fresh(true);
    const tables = await db.all<{ name: string; engine: string; collation: string }>(
      `SELECT table_name AS name, engine, table_collation AS collation FROM information_schema.tables
       WHERE table_schema = @name AND table_name <> 'schema_migrations' ORDER BY table_name`,
      { name },
    );
    expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(sqliteTables()));
    for (const table of tables) expect(table).toMatchObject({ engine: 'InnoDB', collation: 'utf8mb4_unicode_520_ci' });
    const columns = await db.all<{ table: string; column: string; collation: string | null; type: string }>(
      `SELECT table_name AS \`table\`, column_name AS \`column\`, collation_name AS collation, data_type AS type
       FROM information_schema.columns WHERE table_schema = @name`,
      { name },
    );
    const collationOf = (table: string, column: string) => columns.find((c) => c.table === table && c.column === column)?.collation;
    for (const [table, column] of [['tracks', 'id'], ['jobs', 'track_id'], ['users', 'id'], ['library_items', 'track_id'], ['blobs', 'key']] as const) {
      expect(collationOf(table, column)).toBe('ascii_bin');
    }
    for (const [table, column] of [['tracks', 'title'], ['tracks', 'artists'], ['users', 'username']] as const) {
      expect(collationOf(table, column)).toBe('utf8mb4_unicode_520_ci');
    }
    // Every timestamp is BIGINT epoch milliseconds.
    const timestamps = columns.filter((c) => /_at$/.test(c.column) && c.table !== 'schema_migrations');
    expect(timestamps.length).toBeGreaterThan(15);
    for (const column of timestamps) expect(column.type).toBe('bigint');
  });

  it('keeps the case of ids: two track ids that differ only in case are two tracks', async () => {
    const { db } = await fresh(true);
    const insert = `INSERT INTO tracks (id, title, artists, album, duration_ms, updated_at) VALUES (@id, @title, '[]', 'A', 1, 0)`;
    await db.run(insert, { id: '4uLU6hMCjMI75M1A2tKUQC', title: 'upper' });
    await db.run(insert, { id: '4ulu6hmcjmi75m1a2tkuqc', title: 'lower' });
    expect(await db.all('SELECT title FROM tracks WHERE id = @id', { id: '4ulu6hmcjmi75m1a2tkuqc' })).toEqual([{ title: 'lower' }]);
    expect(await db.all('SELECT id FROM tracks ORDER BY id')).toHaveLength(2);
  });

  it('makes usernames unique regardless of case', async () => {
    const { db } = await fresh(true);
    const insert = 'INSERT INTO users (id, username, password_hash, created_at) VALUES (@id, @username, @hash, 0)';
    await db.run(insert, { id: 'u1', username: 'Alice', hash: 'h' });
    const clash = await db.run(insert, { id: 'u2', username: 'aLICE', hash: 'h' }).catch((error: unknown) => error);
    expect(isMysqlError(clash, 'ER_DUP_ENTRY')).toBe(true);
    expect(await db.get('SELECT id FROM users WHERE username = @username', { username: 'alice' })).toEqual({ id: 'u1' });
  });

  it('folds case and accents (Björk, ø, Ł, ü, á, ř) in the FULLTEXT index, and keeps short stopwords', async () => {
    const { db } = await fresh(true);
    const tracks = [
      ['t1', 'Jóga', ['Björk'], 'Homogenic'],
      ['t2', 'Søvnløs', ['Kaizers Orchestra'], 'Ørkenen'],
      ['t3', 'Łódź', ['Czesław Niemen'], 'Dziwny'],
      ['t4', 'Über', ['Mötley Crüe'], 'Dr. Feelgood'],
      ['t5', 'Rusalka', ['Antonín Dvořák'], 'Opera'],
      ['t6', 'This Is the Day', ['The The'], 'Soul Mining'],
    ];
    for (const [id, title, artists, album] of tracks) {
      await db.run(
        `INSERT INTO tracks (id, title, artists, album, duration_ms, updated_at) VALUES (@id, @title, @artists, @album, 1, 0)`,
        { id, title, artists: JSON.stringify(artists), album },
      );
    }
    const search = async (words: string) =>
      (
        await db.all<{ id: string }>(
          'SELECT id FROM tracks WHERE MATCH (title, artists, album) AGAINST (@words IN BOOLEAN MODE) ORDER BY id',
          { words },
        )
      ).map((row) => row.id);
    expect(await search('+bjork')).toEqual(['t1']);
    expect(await search('+BJÖRK')).toEqual(['t1']);
    expect(await search('+joga')).toEqual(['t1']);
    expect(await search('+sovnlos')).toEqual(['t2']);
    expect(await search('+orkenen')).toEqual(['t2']);
    expect(await search('+lodz')).toEqual(['t3']);
    expect(await search('+czeslaw')).toEqual(['t3']);
    expect(await search('+uber')).toEqual(['t4']);
    expect(await search('+motley +crue')).toEqual(['t4']);
    expect(await search('+dvorak +antonin')).toEqual(['t5']);
    expect(await search('+bjo*')).toEqual(['t1']);
    // Built without InnoDB's stopword list, so "the" is a word like any other.
    expect(await search('+the')).toEqual(['t6']);
  });

  it('queues every track for the search index once documents are folded (002), keeping rows already queued', async () => {
    const { db } = await fresh(false);
    await migrateMysql(db, { migrations: mysqlMigrations.filter((m) => m.version < 2) });
    const insertTrack = `INSERT INTO tracks (id, title, artists, album, duration_ms, updated_at, version)
      VALUES (@id, 'Jóga', '["Björk"]', 'Homogenic', 1, 0, @version)`;
    await db.run(insertTrack, { id: 't1', version: 3 });
    await db.run(insertTrack, { id: 't2', version: 1 });
    // A change that has failed twice, waiting for its retry.
    await db.run("INSERT INTO search_outbox (track_id, version, enqueued_at, next_attempt_at, attempts) VALUES ('t1', 3, 5, 99, 2)");
    const before = Date.now();
    expect(await migrateMysql(db)).toEqual([2]);
    const rows = await db.all<{ track_id: string; enqueued_at: number; next_attempt_at: number }>(
      'SELECT track_id, version, enqueued_at, next_attempt_at, attempts FROM search_outbox ORDER BY track_id',
    );
    expect(rows).toEqual([
      { track_id: 't1', version: 3, enqueued_at: 5, next_attempt_at: 99, attempts: 2 },
      { track_id: 't2', version: 1, enqueued_at: expect.any(Number), next_attempt_at: expect.any(Number), attempts: 0 },
    ]);
    // The database's clock: allow it a little skew from this process's.
    expect(rows[1]!.enqueued_at).toBeGreaterThanOrEqual(before - 5000);
    expect(rows[1]!.next_attempt_at).toBe(rows[1]!.enqueued_at);
    // Written to complete when run again: a second run changes nothing.
    await db.run('DELETE FROM schema_migrations WHERE version = 2');
    expect(await migrateMysql(db)).toEqual([2]);
    expect(await db.all('SELECT track_id, version, enqueued_at, next_attempt_at, attempts FROM search_outbox ORDER BY track_id')).toEqual(rows);
  });

  it('allows one active job per user and track, and any number of finished ones', async () => {
    const { db } = await fresh(true);
    const insert = `INSERT INTO jobs (id, user_id, track_id, status, max_attempts, due_at, created_at, updated_at)
      VALUES (@id, 'u1', 'track', @status, 5, 0, 0, 0)`;
    await db.run(insert, { id: 'j1', status: 'completed' });
    await db.run(insert, { id: 'j2', status: 'failed' });
    await db.run(insert, { id: 'j3', status: 'queued' });
    const second = await db.run(insert, { id: 'j4', status: 'running' }).catch((error: unknown) => error);
    expect(isMysqlError(second, 'ER_DUP_ENTRY')).toBe(true);
    await db.run("UPDATE jobs SET status = 'completed' WHERE id = 'j3'");
    await db.run(insert, { id: 'j4', status: 'queued' });
    expect(await db.get("SELECT id FROM jobs WHERE active_user_id = 'u1' AND track_id = 'track'")).toEqual({ id: 'j4' });
    // The claim reads its index in order.
    const plan = await db.all<{ key: string | null }>(
      "EXPLAIN SELECT seq FROM jobs WHERE status = 'queued' AND next_attempt_at <= 1 ORDER BY due_at, seq LIMIT 1 FOR UPDATE SKIP LOCKED",
    );
    expect(plan[0]?.key).toBe('jobs_queued_due');
  });

  describe('a migration that fails half-way', () => {
    let database: FreshMysqlDatabase;
    beforeAll(async () => {
      database = await fresh(true);
    });
    afterEach(async () => {
      await database.db.run('DROP TABLE IF EXISTS half');
    });

    it('stays pending, records nothing, and completes when run again once it is fixed', async () => {
      const broken = [...mysqlMigrations, { version: 999, name: 'half', sql: 'CREATE TABLE IF NOT EXISTS half (x INT); SELECT * FROM no_such_table;' }];
      const failure = await migrateMysql(database.db, { migrations: broken }).catch((error: unknown) => error);
      expect(isMysqlError(failure, 'ER_NO_SUCH_TABLE')).toBe(true);
      expect(await pendingMysqlMigrations(database.db, broken)).toEqual([999]);
      const fixed = [...mysqlMigrations, { version: 999, name: 'half', sql: 'CREATE TABLE IF NOT EXISTS half (x INT); INSERT INTO half VALUES (1);' }];
      expect(await migrateMysql(database.db, { migrations: fixed })).toEqual([999]);
      expect(await database.db.all('SELECT x FROM half')).toEqual([{ x: 1 }]);
      await database.db.run('DELETE FROM schema_migrations WHERE version = 999');
    });
  });
});
