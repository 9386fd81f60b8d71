import { prepareOnFirstUse, requireStatements, type PreparedStatements } from '../db/named-statements.js';
import type { SqliteDatabase } from '../db/sqlite-database.js';
import { fromSqliteError, runSqlite } from '../db/sqlite-faults.js';
import { ConfigError } from '../errors.js';
import type { MirroredRevocationList, RevokedEntry } from './revocation-list.js';
import { RevocationMirror, revocationPollingProblems, toRevokedEntry, type RevocationKind } from './revocation-mirror.js';
import text from './sqlite-revocation-list.sql';

const SQL = requireStatements(text, ['lastSeq', 'liveEntries', 'entriesAfter', 'dropShorter', 'insertEntry', 'purgeExpired']);

interface EntryRow {
  kind: RevocationKind;
  id: string;
  expires_at: number;
}

export interface SqliteRevocationListOptions {
  /**
   * How often the table is read for rows newer than the last one seen (default 1 s): a revoke
   * made by another process sharing the database takes effect here within this interval.
   */
  pollIntervalMs?: number;
  /**
   * Checks fail closed once the last successful read began longer ago than this (default ten
   * poll intervals, 10 s), so a process whose polls keep failing cannot go on passing tokens
   * revoked elsewhere: that is the longest a revoke made elsewhere can go unseen here.
   */
  maxStalenessMs?: number;
  /** How often expired rows are deleted (default 1 min; 0: never). Never on a read-only connection. */
  purgeIntervalMs?: number;
  /** Told of each failed poll or purge; the list keeps trying on its timer. */
  onError?: (error: unknown) => void;
}

/**
 * The embedded `RevocationList`: rows in SQLite, and in each process a map of the live ones,
 * loaded at `start` and kept fresh by an incremental poll on an unref'd timer. Within this
 * process a revoke shows at once; in another process sharing the data dir, within
 * `pollIntervalMs`. A check never touches the database.
 */
export class SqliteRevocationList implements MirroredRevocationList {
  readonly #db: SqliteDatabase;
  readonly #statements: PreparedStatements<keyof typeof SQL>;
  readonly #pollIntervalMs: number;
  readonly #purgeIntervalMs: number;
  readonly #onError: (error: unknown) => void;
  /** Revoked ids of each kind, with the epoch ms at which each entry expires, and their freshness. */
  readonly #mirror: RevocationMirror;
  /** The highest `seq` read so far. */
  #cursor = 0;
  #nextPurgeAt = 0;
  #state: 'new' | 'started' | 'closed' = 'new';
  #timer: NodeJS.Timeout | undefined;

  constructor(db: SqliteDatabase, options: SqliteRevocationListOptions = {}) {
    const { pollIntervalMs = 1000, purgeIntervalMs = 60_000 } = options;
    const maxStalenessMs = options.maxStalenessMs ?? 10 * pollIntervalMs;
    const problems = revocationPollingProblems({ pollIntervalMs, maxStalenessMs, purgeIntervalMs });
    if (problems.length > 0) throw new ConfigError(problems.map((problem) => `SqliteRevocationList: ${problem}`));
    this.#db = db;
    this.#statements = prepareOnFirstUse(db, SQL);
    this.#pollIntervalMs = pollIntervalMs;
    this.#mirror = new RevocationMirror({ maxStalenessMs, retryAfterMs: Math.max(1000, pollIntervalMs) });
    this.#purgeIntervalMs = purgeIntervalMs;
    this.#onError = options.onError ?? (() => undefined);
  }

  /** Entries held in memory, expired ones included until the next poll drops them. */
  get size(): number {
    return this.#mirror.size;
  }

  /**
   * Loads the list and starts polling. Resolves even when the table cannot be read: checks then
   * fail closed, and each poll tries the full load again. Safe to call twice.
   */
  async start(): Promise<void> {
    if (this.#state !== 'new') return;
    this.#state = 'started';
    this.#refresh();
    this.#timer = setInterval(() => this.#refresh(), this.#pollIntervalMs);
    this.#timer.unref();
  }

  /** Stops polling and forgets the list: checks fail closed from now on. Safe to call twice. */
  async close(): Promise<void> {
    this.#state = 'closed';
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#mirror.close();
  }

  revokeSession(sessionId: string, until: Date): Promise<void> {
    return this.#revoke('session', sessionId, until);
  }

  revokeToken(tokenId: string, until: Date): Promise<void> {
    return this.#revoke('token', tokenId, until);
  }

  isRevoked(token: { sid: string; jti: string }): boolean {
    return this.#mirror.isRevoked(token, Date.now());
  }

  learn(kind: RevocationKind, id: string, until: Date): void {
    this.#mirror.remember(kind, id, until.getTime());
  }

  async liveEntries(): Promise<RevokedEntry[]> {
    const rows = await runSqlite(this.#db, () => this.#statements.liveEntries.all({ now: Date.now() }) as EntryRow[]);
    return rows.map(toRevokedEntry);
  }

  /** Deletes the rows that have expired, and says how many. The poll runs it every `purgeIntervalMs`. */
  async purgeExpired(): Promise<number> {
    return runSqlite(this.#db, () => this.#statements.purgeExpired.run({ now: Date.now() }).changes);
  }

  async #revoke(kind: RevocationKind, id: string, until: Date): Promise<void> {
    const now = Date.now();
    const expiresAt = until.getTime();
    // Every token it could stop has expired already.
    if (!(expiresAt > now)) return;
    // Immediate: the write lock is taken (or waited for) before the first statement.
    const revoke = this.#db.transaction(() => {
      this.#statements.dropShorter.run({ kind, id, expiresAt });
      this.#statements.insertEntry.run({ kind, id, expiresAt, revokedAt: now });
    });
    await runSqlite(this.#db, () => revoke.immediate());
    this.#mirror.remember(kind, id, expiresAt);
  }

  /**
   * A full load until one succeeds, then only what is new. Never throws: errors go to
   * `onError`, and a poll that finds the database busy is simply tried again at the next one.
   */
  #refresh(): void {
    if (this.#state !== 'started') return;
    const startedAt = Date.now();
    try {
      if (this.#mirror.loaded) this.#poll();
      else this.#load(startedAt);
      this.#mirror.refreshed(startedAt);
    } catch (caught) {
      const error = fromSqliteError(caught);
      this.#mirror.failed(error);
      this.#onError(error);
      return;
    }
    this.#mirror.forgetExpired(startedAt);
    if (this.#purgeIntervalMs > 0 && !this.#db.readonly && startedAt >= this.#nextPurgeAt) {
      this.#nextPurgeAt = startedAt + this.#purgeIntervalMs;
      this.purgeExpired().catch((error: unknown) => this.#onError(error));
    }
  }

  #load(now: number): void {
    // One read transaction: the cursor and the rows come from the same snapshot.
    const { cursor, rows } = this.#db.transaction(() => ({
      cursor: this.#statements.lastSeq.pluck().get() as number,
      rows: this.#statements.liveEntries.all({ now }) as EntryRow[],
    }))();
    for (const row of rows) this.#mirror.remember(row.kind, row.id, row.expires_at);
    this.#cursor = cursor;
  }

  #poll(): void {
    const rows = this.#statements.entriesAfter.all({ after: this.#cursor }) as (EntryRow & { seq: number })[];
    for (const row of rows) {
      this.#mirror.remember(row.kind, row.id, row.expires_at);
      this.#cursor = row.seq;
    }
  }
}
