import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { migrateSqlite, openSqliteDatabase, pendingSqliteMigrations } from '../../src/db/sqlite-database.js';
import { sqliteMigrations } from '../../src/db/sqlite-migrations.js';

describe('SQLite migrations', () => {
  let dir: string;
  let path: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mixtape-migrate-'));
    path = join(dir, 'mixtape.db');
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('applies every migration once, and again does nothing', () => {
    const db = openSqliteDatabase(path);
    try {
      const versions = sqliteMigrations.map((m) => m.version);
      expect(pendingSqliteMigrations(db)).toEqual(versions);
      expect(migrateSqlite(db)).toEqual(versions);
      expect(migrateSqlite(db)).toEqual([]);
      expect(pendingSqliteMigrations(db)).toEqual([]);
      expect(db.prepare('SELECT count(*) FROM schema_migrations').pluck().get()).toBe(versions.length);
    } finally {
      db.close();
    }
    // A later process finds the schema in place.
    const reopened = openSqliteDatabase(path);
    try {
      expect(migrateSqlite(reopened)).toEqual([]);
    } finally {
      reopened.close();
    }
  });

  it('creates the tables of every port and the full-text index', () => {
    const db = openSqliteDatabase(path);
    try {
      migrateSqlite(db);
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[];
      for (const table of ['users', 'token_families', 'refresh_tokens', 'tracks', 'library_items', 'jobs', 'search_documents', 'search_fts']) {
        expect(tables).toContain(table);
      }
      expect(db.prepare("SELECT sql FROM sqlite_master WHERE name = 'search_fts'").pluck().get()).toMatch(/fts5/i);
      // Claims must not scan the whole table.
      const plan = db
        .prepare("EXPLAIN QUERY PLAN SELECT seq FROM jobs WHERE status = 'queued' AND next_attempt_at <= 1 ORDER BY due_at, seq LIMIT 1")
        .all() as { detail: string }[];
      expect(plan.map((p) => p.detail).join('\n')).toMatch(/USING (COVERING )?INDEX jobs_queued_due/);
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      db.close();
    }
  });

  it('queues every track for the search index once documents are folded (009), keeping rows already queued', () => {
    const db = openSqliteDatabase(path);
    try {
      migrateSqlite(db, sqliteMigrations.filter((m) => m.version < 9));
      const insertTrack = db.prepare(`INSERT INTO tracks (id, title, artists, album, duration_ms, updated_at, version)
        VALUES (?, 'Jóga', '["Björk"]', 'Homogenic', 1, 0, ?)`);
      insertTrack.run('t1', 3);
      insertTrack.run('t2', 1);
      // A change that has failed twice, waiting for its retry.
      db.prepare('INSERT INTO search_outbox (track_id, version, enqueued_at, next_attempt_at, attempts) VALUES (?, 3, 5, 99, 2)').run('t1');
      const before = Date.now();
      expect(migrateSqlite(db)).toEqual([9]);
      const rows = db.prepare('SELECT track_id, version, enqueued_at, next_attempt_at, attempts FROM search_outbox ORDER BY track_id').all();
      expect(rows).toEqual([
        { track_id: 't1', version: 3, enqueued_at: 5, next_attempt_at: 99, attempts: 2 },
        { track_id: 't2', version: 1, enqueued_at: expect.any(Number), next_attempt_at: expect.any(Number), attempts: 0 },
      ]);
      const queued = rows[1] as { enqueued_at: number; next_attempt_at: number };
      expect(queued.enqueued_at).toBeGreaterThanOrEqual(before - 1000);
      expect(queued.next_attempt_at).toBe(queued.enqueued_at);
    } finally {
      db.close();
    }
  });

  it('rolls a failing migration back and records nothing of it', () => {
    const db = openSqliteDatabase(path);
    try {
      migrateSqlite(db);
      const broken = [...sqliteMigrations, { version: 999, name: 'broken', sql: 'CREATE TABLE half (x INTEGER); SELECT * FROM no_such_table;' }];
      expect(() => migrateSqlite(db, broken)).toThrow(/no_such_table/);
      expect(pendingSqliteMigrations(db, broken)).toEqual([999]);
      expect(db.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'half'").pluck().get()).toBe(0);
    } finally {
      db.close();
    }
  });
});
