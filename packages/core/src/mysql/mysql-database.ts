import { setTimeout as sleep } from 'node:timers/promises';
import type { Pool, PoolConnection } from 'mysql2/promise';
import { UnavailableError } from '../errors.js';
import { BUSY_RETRY_AFTER_MS, isBrokenConnection, isTransactionConflict, mysqlErrno, toMysqlFault } from './mysql-errors.js';
import { bindMysqlParameters, compileMysqlStatement, type MysqlParams, type MysqlStatement } from './mysql-statements.js';

export interface MysqlDatabaseOptions {
  /**
   * How long a caller waits for a pooled connection (`MIXTAPE_MYSQL_ACQUIRE_TIMEOUT_MS`) before
   * an UnavailableError. mysql2 has no such timeout of its own. Default 2000 ms.
   */
  acquireTimeoutMs?: number;
  /** The longest one statement may run before an UnavailableError. Default 10000 ms. */
  queryTimeoutMs?: number;
  /**
   * `innodb_lock_wait_timeout` of every session, in seconds: a statement waiting longer for a
   * row lock fails with 1205 (the server's default is 50 s, and no 503 would be fast). Default 2.
   */
  lockWaitTimeoutSeconds?: number;
  /**
   * Runs of a transaction that deadlocks or times out waiting for a lock, the first included.
   * Default 3: each lock-wait timeout costs `lockWaitTimeoutSeconds`, so more would make a 503 slow.
   */
  transactionAttempts?: number;
  /**
   * Every session READ ONLY, so that the server itself refuses any write (1792, met as an
   * UnavailableError), and locking reads too: for dry runs, which must change nothing. Default false.
   */
  readOnly?: boolean;
}

/** What a statement that changes rows reports. */
export interface MysqlWriteResult {
  /** Rows matched by the statement's WHERE, changed or not (CLIENT_FOUND_ROWS), like SQLite's `changes`. */
  affectedRows: number;
  /** The AUTO_INCREMENT value of the first row inserted, or 0. */
  insertId: number;
}

export interface MysqlCallOptions {
  /** Overrides the query timeout for this statement; `null` for none (DDL, GET_LOCK). */
  timeoutMs?: number | null;
}

/** Row type of a query: a plain object keyed by column name. */
export type MysqlRow = Record<string, unknown>;

/**
 * Runs statements: the database itself (each statement on any pooled connection) or one
 * connection (a transaction, `withConnection`). A statement is a compiled `MysqlStatement`
 * (from `mysqlStatements`) or a string of SQL with `@camelCase` parameters.
 *
 * Errors: a fault of the connection, the pool or the server (and a lock wait or deadlock that
 * outlasted its retries) is an UnavailableError, with `retryAfterMs` and the driver's error as
 * `cause`; an error of the SQL itself is mysql2's error, with its `code` (`ER_DUP_ENTRY`) and
 * `errno` (1062): see mysql-errors.ts.
 */
export interface MysqlQueryable {
  /** Every row the statement returns. */
  all<Row extends object = MysqlRow>(statement: MysqlStatement | string, params?: MysqlParams, options?: MysqlCallOptions): Promise<Row[]>;
  /** The first row the statement returns, or undefined. */
  get<Row extends object = MysqlRow>(statement: MysqlStatement | string, params?: MysqlParams, options?: MysqlCallOptions): Promise<Row | undefined>;
  /** Runs a statement that changes rows (INSERT, UPDATE, DELETE, DDL). */
  run(statement: MysqlStatement | string, params?: MysqlParams, options?: MysqlCallOptions): Promise<MysqlWriteResult>;
}

/** The states of `mixtape_db_pool_connections{state}`. */
export const MYSQL_POOL_STATES = ['in_use', 'idle', 'waiting'] as const;
export type MysqlPoolState = (typeof MYSQL_POOL_STATES)[number];

/**
 * READ COMMITTED, so that a claim's `SELECT … FOR UPDATE SKIP LOCKED` takes no gap locks that
 * would block enqueues; UTC, though timestamps are BIGINT epoch milliseconds anyway; MySQL 8's
 * strict default modes on MariaDB too, so a query that only one server accepts fails here.
 * `SET SESSION TRANSACTION ISOLATION LEVEL` is the spelling both servers know (MariaDB 10.11
 * has no `transaction_isolation` variable, MySQL 8 no `tx_isolation`).
 */
const SESSION_ISOLATION = 'SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED';
const SESSION_SETTINGS =
  "SET SESSION innodb_lock_wait_timeout = ?, SESSION time_zone = '+00:00', SESSION sql_mode = " +
  "'ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'";

/** Ad-hoc SQL strings compiled once; bounded, since nothing forbids building SQL at run time. */
const ADHOC_CACHE_SIZE = 256;
const TRANSACTION_RETRY_BASE_MS = 20;
const CLOSE_GRACE_MS = 2000;

function ignore(): void {}

/**
 * The MySQL database every MySQL adapter runs on: a mysql2/promise pool (from
 * `createMysqlPool`, passed in and owned from then on: `close()` ends it) with what mysql2
 * lacks around it:
 *
 * - an acquire timeout: a caller that waits longer than `acquireTimeoutMs` for a connection
 *   gets an UnavailableError at once, and the connection that arrives late goes straight back
 *   to the pool;
 * - a timeout on every statement; a connection whose statement timed out, or that failed
 *   fatally, is destroyed rather than returned, so the pool heals by opening new ones once the
 *   server is back;
 * - session settings on every new connection (see SESSION_SETTINGS);
 * - transactions that run again, after a jittered pause, when they deadlock (1213) or wait
 *   too long for a lock (1205);
 * - pool statistics for `mixtape_db_pool_connections`.
 *
 * Nothing is opened by the constructor; the first statement connects.
 */
export class MysqlDatabase implements MysqlQueryable {
  readonly #pool: Pool;
  readonly #acquireTimeoutMs: number;
  readonly #queryTimeoutMs: number;
  readonly #lockWaitTimeoutSeconds: number;
  readonly #transactionAttempts: number;
  /** Whether every session is READ ONLY (see `MysqlDatabaseOptions.readOnly`). */
  readonly readOnly: boolean;
  /** Connections that already carry the session settings, by mysql2's connection object. */
  readonly #prepared = new WeakSet<object>();
  readonly #adhoc = new Map<string, MysqlStatement>();
  #inUse = 0;
  #waiting = 0;
  #closing: Promise<void> | undefined;

  constructor(pool: Pool, options: MysqlDatabaseOptions = {}) {
    this.#pool = pool;
    this.#acquireTimeoutMs = options.acquireTimeoutMs ?? 2000;
    this.#queryTimeoutMs = options.queryTimeoutMs ?? 10_000;
    this.#lockWaitTimeoutSeconds = options.lockWaitTimeoutSeconds ?? 2;
    this.#transactionAttempts = Math.max(1, options.transactionAttempts ?? 3);
    this.readOnly = options.readOnly ?? false;
  }

  all<Row extends object = MysqlRow>(statement: MysqlStatement | string, params?: MysqlParams, options?: MysqlCallOptions): Promise<Row[]> {
    return this.withConnection((connection) => connection.all<Row>(statement, params, options));
  }

  get<Row extends object = MysqlRow>(statement: MysqlStatement | string, params?: MysqlParams, options?: MysqlCallOptions): Promise<Row | undefined> {
    return this.withConnection((connection) => connection.get<Row>(statement, params, options));
  }

  run(statement: MysqlStatement | string, params?: MysqlParams, options?: MysqlCallOptions): Promise<MysqlWriteResult> {
    return this.withConnection((connection) => connection.run(statement, params, options));
  }

  /**
   * Runs `work` in one transaction and commits what it did, or rolls back and rethrows what it
   * threw. On a deadlock or a lock-wait timeout, `work` runs again from the start, up to
   * `transactionAttempts` times in all: so it must do nothing but statements on `tx` that it
   * would not repeat, and must let their errors through.
   */
  async transaction<T>(work: (tx: MysqlQueryable) => Promise<T>, options: { attempts?: number } = {}): Promise<T> {
    const attempts = Math.max(1, options.attempts ?? this.#transactionAttempts);
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.withConnection((connection) => connection.transaction(work));
      } catch (error) {
        const conflict = isTransactionConflict(error) || (error instanceof UnavailableError && isTransactionConflict(error.cause));
        if (!conflict || attempt >= attempts) throw error;
        // Full jitter over a doubling window, so that the two sides of a deadlock part ways.
        await sleep(Math.random() * TRANSACTION_RETRY_BASE_MS * 2 ** attempt);
      }
    }
  }

  /**
   * Runs `work` on one connection of the pool, for what must share a session (GET_LOCK,
   * the migrations). The connection goes back to the pool afterwards, or is destroyed if it broke.
   */
  async withConnection<T>(work: (connection: MysqlConnectionSession) => Promise<T>): Promise<T> {
    const connection = await this.#acquire();
    const session = new MysqlConnectionSession(connection, this.#queryTimeoutMs, (sql) => this.#compile(sql));
    try {
      return await work(session);
    } finally {
      session.end();
      this.#inUse -= 1;
      if (session.broken) connection.destroy();
      // A connection that timed out or dropped without a word from the server: the network or
      // the server is gone, and the idle connections opened before are most likely as dead.
      // Handed out, each would cost a caller the whole query timeout to find out; new ones
      // fail at the connect timeout, or cost a reconnect if all is well.
      if (session.lost) this.#dropIdle();
      else connection.release();
    }
  }

  /**
   * Connections by state, for `mixtape_db_pool_connections{state}`: `in_use` by this
   * database's callers, `idle` in the pool, `waiting` callers queued for a connection.
   */
  poolStats(): Readonly<Record<MysqlPoolState, number>> {
    // mysql2 exposes no count of its free connections; its list has kept this name since mysqljs.
    const free = (this.#pool.pool as unknown as { _freeConnections?: { length?: unknown } })._freeConnections?.length;
    return { in_use: this.#inUse, idle: typeof free === 'number' ? free : 0, waiting: this.#waiting };
  }

  /** Ends the pool; calls waiting for a connection fail as unavailable. Safe to call twice. */
  close(): Promise<void> {
    this.#closing ??= this.#end();
    return this.#closing;
  }

  #dropIdle(): void {
    const free = (this.#pool.pool as unknown as { _freeConnections?: { toArray?: () => { destroy(): void }[] } })._freeConnections;
    // A pooled connection's destroy() takes it out of the pool.
    for (const connection of free?.toArray?.() ?? []) connection.destroy();
  }

  async #end(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), CLOSE_GRACE_MS);
      timer.unref();
    });
    // A graceful end says goodbye on every connection; one to a server that is gone may never
    // answer, so after a grace whatever is left is destroyed.
    const ended = await Promise.race([this.#pool.end().then(ignore, ignore), grace]);
    clearTimeout(timer);
    if (ended === 'late') {
      const all = (this.#pool.pool as unknown as { _allConnections?: { toArray?: () => { destroy(): void }[] } })._allConnections;
      for (const connection of all?.toArray?.() ?? []) connection.destroy();
    }
  }

  async #acquire(): Promise<PoolConnection> {
    if (this.#closing) throw new UnavailableError('The database is closed', { retryAfterMs: BUSY_RETRY_AFTER_MS });
    this.#waiting += 1;
    const ready = this.#connect();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new UnavailableError(`No database connection within ${this.#acquireTimeoutMs} ms`, { retryAfterMs: BUSY_RETRY_AFTER_MS })),
        this.#acquireTimeoutMs,
      );
    });
    try {
      const connection = await Promise.race([ready, timeout]);
      this.#inUse += 1;
      return connection;
    } catch (error) {
      // Too late for this caller: a connection that still arrives goes straight back.
      ready.then((connection) => connection.release(), ignore);
      throw toMysqlFault(error);
    } finally {
      clearTimeout(timer);
      this.#waiting -= 1;
    }
  }

  /** A pooled connection, with the session settings applied the first time it is handed out. */
  async #connect(): Promise<PoolConnection> {
    const connection = await this.#pool.getConnection();
    const core = connection.connection;
    if (this.#prepared.has(core)) return connection;
    // mysql2 emits a dead connection's later errors as events; they are answered through the
    // statements that fail, so an event nobody listens to must not crash the process.
    core.on('error', ignore);
    try {
      await connection.query({ sql: this.readOnly ? `${SESSION_ISOLATION}, READ ONLY` : SESSION_ISOLATION, timeout: this.#queryTimeoutMs });
      await connection.query({ sql: SESSION_SETTINGS, timeout: this.#queryTimeoutMs }, [this.#lockWaitTimeoutSeconds]);
    } catch (error) {
      connection.destroy();
      throw error;
    }
    this.#prepared.add(core);
    return connection;
  }

  #compile(sql: string): MysqlStatement {
    let statement = this.#adhoc.get(sql);
    if (!statement) {
      statement = compileMysqlStatement(sql);
      if (this.#adhoc.size >= ADHOC_CACHE_SIZE) this.#adhoc.clear();
      this.#adhoc.set(sql, statement);
    }
    return statement;
  }
}

/** One connection of the pool, lent to `withConnection` or a transaction until it returns. */
export class MysqlConnectionSession implements MysqlQueryable {
  /** Set once the connection failed in a way that leaves it unusable; it is then destroyed. */
  broken = false;
  /** Set when it broke with no error from the server (a timeout, a reset): see `withConnection`. */
  lost = false;
  #ended = false;

  constructor(
    private readonly connection: PoolConnection,
    private readonly queryTimeoutMs: number,
    private readonly compile: (sql: string) => MysqlStatement,
  ) {}

  async all<Row extends object = MysqlRow>(statement: MysqlStatement | string, params?: MysqlParams, options?: MysqlCallOptions): Promise<Row[]> {
    const result = await this.#query(statement, params, options);
    return Array.isArray(result) ? (result as Row[]) : [];
  }

  async get<Row extends object = MysqlRow>(statement: MysqlStatement | string, params?: MysqlParams, options?: MysqlCallOptions): Promise<Row | undefined> {
    return (await this.all<Row>(statement, params, options))[0];
  }

  async run(statement: MysqlStatement | string, params?: MysqlParams, options?: MysqlCallOptions): Promise<MysqlWriteResult> {
    const result = (await this.#query(statement, params, options)) as { affectedRows?: number; insertId?: number };
    return { affectedRows: result.affectedRows ?? 0, insertId: result.insertId ?? 0 };
  }

  /** Runs `work` between START TRANSACTION and COMMIT, rolling back when it throws. */
  async transaction<T>(work: (tx: MysqlQueryable) => Promise<T>): Promise<T> {
    await this.run('START TRANSACTION');
    try {
      const result = await work(this);
      await this.run('COMMIT');
      return result;
    } catch (error) {
      // After a fault the server rolls back by itself when the connection goes.
      if (!this.broken) await this.run('ROLLBACK').catch(() => (this.broken = true));
      throw error;
    }
  }

  /** Called when the connection goes back: any later use is a bug in the caller. */
  end(): void {
    this.#ended = true;
  }

  async #query(statement: MysqlStatement | string, params: MysqlParams | undefined, options: MysqlCallOptions | undefined): Promise<unknown> {
    if (this.#ended) throw new Error('This database connection was already given back to the pool');
    const compiled = typeof statement === 'string' ? this.compile(statement) : statement;
    const values = bindMysqlParameters(compiled, params);
    const timeout = options?.timeoutMs === undefined ? this.queryTimeoutMs : (options.timeoutMs ?? undefined);
    try {
      const [result] = await this.connection.query({ sql: compiled.sql, timeout }, values);
      return result;
    } catch (error) {
      if (isBrokenConnection(error)) {
        this.broken = true;
        if (mysqlErrno(error) === undefined) this.lost = true;
      }
      if (typeof error === 'object' && error !== null) Object.assign(error, { statement: compiled.name });
      throw toMysqlFault(error);
    }
  }
}
