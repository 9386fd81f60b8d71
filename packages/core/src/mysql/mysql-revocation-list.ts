import type { MirroredRevocationList, RevokedEntry } from '../auth/revocation-list.js';
import { RevocationMirror, revocationPollingProblems, toRevokedEntry, type RevocationKind } from '../auth/revocation-mirror.js';
import { ConfigError } from '../errors.js';
import type { MysqlDatabase, MysqlQueryable } from './mysql-database.js';
import { isMysqlError, toMysqlFault } from './mysql-errors.js';
import text from './mysql-revocation-list.sql';
import { mysqlStatements } from './mysql-statements.js';

const SQL = mysqlStatements(text, [
  'clock',
  'settledCursor',
  'liveEntries',
  'entriesAfter',
  'insertEntry',
  'lockEntry',
  'deleteEntry',
  'purgeExpired',
]);

/** Expired rows deleted per statement when purging. */
const PURGE_BATCH = 1000;
/** Tries of a revoke whose row another revoke or a purge keeps changing under it. */
const REVOKE_ATTEMPTS = 3;

interface EntryRow {
  kind: RevocationKind;
  id: string;
  expires_at: number;
}

interface PolledRow extends EntryRow {
  seq: number;
  revoked_at: number;
}

/** What the list needs of the database: statements, and transactions for a revoke that lengthens an entry. */
export type MysqlRevocationStore = MysqlQueryable & Pick<MysqlDatabase, 'transaction'>;

export interface MysqlRevocationListOptions {
  /**
   * How often the table is read for new rows (default 1 s): a revoke made by another process
   * takes effect here within this interval.
   */
  pollIntervalMs?: number;
  /**
   * Checks fail closed once the last successful read began longer ago than this (default ten
   * poll intervals), so a process whose polls keep failing cannot go on passing tokens revoked
   * elsewhere.
   */
  maxStalenessMs?: number;
  /** How often expired rows are deleted (default 1 min; 0: never). */
  purgeIntervalMs?: number;
  /**
   * How long a revoke may take, from the start of its statement to its commit, and still be
   * seen by the polls of other processes (default 30 s). Each poll reads again the rows written
   * within this window, since AUTO_INCREMENT values can become visible out of order. A revoke
   * slower than this (a server stalled for longer) is seen only by processes that load the
   * list afresh; its own process has it at once either way.
   */
  commitWindowMs?: number;
  /** Told of each failed poll or purge; the list keeps trying on its timer. */
  onError?: (error: unknown) => void;
}

/**
 * The `RevocationList` on MySQL, for several hosts sharing the database without Redis: rows in
 * `revoked_ids`, and in each process a copy of the live ones (a RevocationMirror), loaded at
 * `start` and kept fresh by polling on an unref'd timer. Within this process a revoke shows at
 * once; in another, within `pollIntervalMs`. A check never touches the database.
 *
 * A poll reads the rows above a cursor, the primary key's order; the cursor trails the newest
 * rows by `commitWindowMs` of the database's clock, so that a revoke committed after one with
 * a higher `seq` (see the .sql file) is still read.
 */
export class MysqlRevocationList implements MirroredRevocationList {
  readonly #db: MysqlRevocationStore;
  readonly #pollIntervalMs: number;
  readonly #purgeIntervalMs: number;
  readonly #commitWindowMs: number;
  readonly #onError: (error: unknown) => void;
  readonly #mirror: RevocationMirror;
  /** Every row at or below this `seq` has been read, or was committed too late to matter. */
  #cursor = 0;
  #nextPurgeAt = 0;
  #state: 'new' | 'started' | 'closed' = 'new';
  #timer: NodeJS.Timeout | undefined;

  constructor(db: MysqlRevocationStore, options: MysqlRevocationListOptions = {}) {
    const { pollIntervalMs = 1000, purgeIntervalMs = 60_000, commitWindowMs = 30_000 } = options;
    const maxStalenessMs = options.maxStalenessMs ?? 10 * pollIntervalMs;
    const problems = revocationPollingProblems({ pollIntervalMs, maxStalenessMs, purgeIntervalMs });
    if (!(Number.isInteger(commitWindowMs) && commitWindowMs >= 0)) problems.push(`commitWindowMs must be an integer, 0 or more (got ${commitWindowMs})`);
    if (problems.length > 0) throw new ConfigError(problems.map((problem) => `MysqlRevocationList: ${problem}`));
    this.#db = db;
    this.#pollIntervalMs = pollIntervalMs;
    this.#purgeIntervalMs = purgeIntervalMs;
    this.#commitWindowMs = commitWindowMs;
    this.#onError = options.onError ?? (() => undefined);
    this.#mirror = new RevocationMirror({ maxStalenessMs, retryAfterMs: Math.max(1000, pollIntervalMs) });
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
    await this.#refresh();
  }

  /** Stops polling and forgets the list: checks fail closed from now on. Safe to call twice. */
  async close(): Promise<void> {
    this.#state = 'closed';
    clearTimeout(this.#timer);
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
    return (await this.#db.all<EntryRow>(SQL.liveEntries, { now: Date.now() })).map(toRevokedEntry);
  }

  /** Deletes the rows that have expired, in batches, and says how many. The poll runs it every `purgeIntervalMs`. */
  async purgeExpired(): Promise<number> {
    const now = Date.now();
    let purged = 0;
    for (;;) {
      const { affectedRows } = await this.#db.run(SQL.purgeExpired, { now, limit: PURGE_BATCH });
      purged += affectedRows;
      if (affectedRows < PURGE_BATCH) return purged;
    }
  }

  async #revoke(kind: RevocationKind, id: string, until: Date): Promise<void> {
    const expiresAt = until.getTime();
    // Every token it could stop has expired already.
    if (!(expiresAt > Date.now())) return;
    const entry = { kind, id, expiresAt };
    for (let attempt = 1; ; attempt += 1) {
      try {
        await this.#db.run(SQL.insertEntry, entry);
        break;
      } catch (error) {
        if (!isMysqlError(error, 'ER_DUP_ENTRY') || attempt >= REVOKE_ATTEMPTS) throw error;
      }
      // Listed already: keep the later expiry. The row is gone again only when a purge took it.
      const settled = await this.#db.transaction(async (tx) => {
        const row = await tx.get<{ seq: number; expires_at: number }>(SQL.lockEntry, { kind, id });
        if (row === undefined) return false;
        if (row.expires_at < expiresAt) {
          await tx.run(SQL.deleteEntry, { seq: row.seq });
          await tx.run(SQL.insertEntry, entry);
        }
        return true;
      });
      if (settled) break;
    }
    this.#mirror.remember(kind, id, expiresAt);
  }

  /**
   * A full load until one succeeds, then a poll; then the next one is scheduled. Never throws:
   * errors go to `onError`, and the next poll simply tries again.
   */
  async #refresh(): Promise<void> {
    if (this.#state !== 'started') return;
    const startedAt = Date.now();
    try {
      if (this.#mirror.loaded) await this.#poll();
      else await this.#load(startedAt);
      this.#mirror.refreshed(startedAt);
      this.#mirror.forgetExpired(startedAt);
      if (this.#purgeIntervalMs > 0 && startedAt >= this.#nextPurgeAt) {
        this.#nextPurgeAt = startedAt + this.#purgeIntervalMs;
        this.purgeExpired().catch((error: unknown) => this.#onError(error));
      }
    } catch (caught) {
      const error = toMysqlFault(caught);
      this.#mirror.failed(error);
      this.#onError(error);
    } finally {
      if (this.#state === 'started') {
        this.#timer = setTimeout(() => void this.#refresh(), this.#pollIntervalMs);
        this.#timer.unref();
      }
    }
  }

  async #load(now: number): Promise<void> {
    // The cursor first: every row at or below it committed before the rows are read.
    const cursor = (await this.#db.get<{ seq: number }>(SQL.settledCursor, { windowMs: this.#commitWindowMs }))?.seq ?? 0;
    const rows = await this.#db.all<EntryRow>(SQL.liveEntries, { now });
    for (const row of rows) this.#mirror.remember(row.kind, row.id, row.expires_at);
    this.#cursor = cursor;
  }

  async #poll(): Promise<void> {
    // The clock first: a row written a window before it proves every lower seq committed
    // before it was read, and so before the rows are.
    const clock = await this.#db.get<{ now_ms: number }>(SQL.clock);
    const settledBefore = clock!.now_ms - this.#commitWindowMs;
    const rows = await this.#db.all<PolledRow>(SQL.entriesAfter, { after: this.#cursor });
    for (const row of rows) {
      this.#mirror.remember(row.kind, row.id, row.expires_at);
      if (row.revoked_at <= settledBefore && row.seq > this.#cursor) this.#cursor = row.seq;
    }
  }
}
