import { UnavailableError } from '../errors.js';
import type { SqliteDatabase } from './sqlite-database.js';

/**
 * How long SQLite itself may wait for another connection's lock. better-sqlite3 is
 * synchronous, so that wait blocks the event loop: it is a few milliseconds, enough for another
 * Mixtape process's short transactions, and longer waits are `runSqlite`'s retries, between
 * which the process serves. The connections of the adapters and of the lock manager alike.
 */
export const SQLITE_BUSY_TIMEOUT_MS = 5;

export interface SqliteBusyPolicy {
  /** How long one unit of work retries a busy database before it is refused as unavailable (default 5 s). */
  deadlineMs: number;
  /** The first pause between two tries (default 5 ms); it doubles, with jitter, up to `maxPauseMs`. */
  minPauseMs: number;
  /** The longest pause between two tries (default 250 ms). */
  maxPauseMs: number;
}

export const DEFAULT_SQLITE_BUSY_POLICY: Readonly<SqliteBusyPolicy> = { deadlineMs: 5000, minPauseMs: 5, maxPauseMs: 250 };

/** Each connection's policy, like its busy_timeout a setting of the connection. */
const policies = new WeakMap<SqliteDatabase, SqliteBusyPolicy>();

/** Sets how `runSqlite` retries a busy database on this connection (the rest stays as it was). */
export function setSqliteBusyPolicy(db: SqliteDatabase, policy: Partial<SqliteBusyPolicy>): void {
  policies.set(db, { ...sqliteBusyPolicy(db), ...policy });
}

export function sqliteBusyPolicy(db: SqliteDatabase): SqliteBusyPolicy {
  return policies.get(db) ?? DEFAULT_SQLITE_BUSY_POLICY;
}

/** Another connection holds the lock this work needs: waiting and trying again can succeed. */
export function isSqliteBusy(error: unknown): boolean {
  const code = codeOf(error);
  return code !== undefined && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
}

/**
 * The database failing, as opposed to our SQL being wrong: out of disk, I/O errors, a file it
 * cannot open or write, memory, a damaged file. A dependency down, not a bug.
 */
const DATABASE_DOWN = /^SQLITE_(IOERR|FULL|CANTOPEN|READONLY|NOMEM|PROTOCOL|CORRUPT|NOTADB)/;

/** What better-sqlite3 throws for any use of a connection closed meanwhile (a shutdown under way). */
const CLOSED = 'The database connection is not open';

/**
 * The driver's error as the Mixtape error it means: busy, locked and the faults above are
 * `UnavailableError`s (503 with `Retry-After`), carrying the driver's error as their cause.
 * Anything else (a constraint, a bug in our SQL) is returned as it is.
 */
export function fromSqliteError(error: unknown): unknown {
  if (isSqliteBusy(error)) {
    return new UnavailableError('The database is busy: another process holds its write lock', { retryAfterMs: 1000, cause: error });
  }
  if (error instanceof TypeError && error.message === CLOSED) {
    return new UnavailableError('The database connection is closed', { retryAfterMs: 2000, cause: error });
  }
  const code = codeOf(error);
  if (code !== undefined && DATABASE_DOWN.test(code)) {
    return new UnavailableError('The database cannot answer now', { retryAfterMs: 2000, cause: error });
  }
  return error;
}

/**
 * Runs one unit of work on `db`: one statement, or one transaction, so that a failed try has
 * changed nothing and trying again is safe. The first try runs at once, synchronously. When it
 * finds the database busy, it is tried again after a pause, asynchronously, so that the event
 * loop serves meanwhile, until the connection's `deadlineMs`; then it is refused as
 * unavailable. Driver faults are translated by `fromSqliteError`.
 *
 * While any unit waits, the connection's busy timeout is 0: the lock is known to be held, so
 * every other write learns it at once instead of spending the timeout in SQLite (a burst of a
 * hundred would add up to a stalled event loop), and reads, which WAL never blocks, go on. The
 * first unit to get through wakes the others.
 *
 * Inside a transaction already open on `db`, a busy error is not retried here: only the whole
 * transaction can be tried again, by whoever runs it.
 */
export async function runSqlite<T>(db: SqliteDatabase, work: () => T): Promise<T> {
  let deadline: number | undefined;
  try {
    for (let pause = 0; ; ) {
      try {
        const result = work();
        // Through after waiting: the lock is free, so the others try again now.
        if (deadline !== undefined) wakeWaiting(db);
        return result;
      } catch (error) {
        if (!isSqliteBusy(error) || db.inTransaction) throw fromSqliteError(error);
        const policy = sqliteBusyPolicy(db);
        if (deadline === undefined) {
          deadline = performance.now() + policy.deadlineMs;
          startWaiting(db);
        }
        const left = deadline - performance.now();
        if (left <= 0) throw fromSqliteError(error);
        pause = Math.min(pause === 0 ? policy.minPauseMs : pause * 2, policy.maxPauseMs);
        // Jitter, so that processes waiting for one lock do not keep colliding.
        await nap(db, Math.min(left, pause * (0.5 + Math.random() / 2)));
      }
    }
  } finally {
    if (deadline !== undefined) stopWaiting(db);
  }
}

/** Per connection, the units of work waiting for its lock, each one's wake-up, and the busy timeout to restore. */
const waiting = new WeakMap<SqliteDatabase, { count: number; wakes: Set<() => void>; busyTimeoutMs: number }>();

function startWaiting(db: SqliteDatabase): void {
  const state = waiting.get(db) ?? { count: 0, wakes: new Set(), busyTimeoutMs: SQLITE_BUSY_TIMEOUT_MS };
  waiting.set(db, state);
  if (state.count === 0) {
    state.busyTimeoutMs = db.pragma('busy_timeout', { simple: true }) as number;
    db.pragma('busy_timeout = 0');
  }
  state.count += 1;
}

function stopWaiting(db: SqliteDatabase): void {
  const state = waiting.get(db)!;
  state.count -= 1;
  // A connection closed meanwhile (a shutdown) takes no more settings.
  if (state.count === 0 && db.open) db.pragma(`busy_timeout = ${state.busyTimeoutMs}`);
}

/** Waits `ms`, or less when another unit on the connection gets through. */
function nap(db: SqliteDatabase, ms: number): Promise<void> {
  const wakes = waiting.get(db)!.wakes;
  return new Promise((resolve) => {
    const wake = () => {
      clearTimeout(timer);
      wakes.delete(wake);
      resolve();
    };
    const timer = setTimeout(wake, ms);
    wakes.add(wake);
  });
}

function wakeWaiting(db: SqliteDatabase): void {
  for (const wake of [...(waiting.get(db)?.wakes ?? [])]) wake();
}

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
