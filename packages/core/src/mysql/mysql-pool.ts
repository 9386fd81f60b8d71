import { createPool, type Pool } from 'mysql2/promise';

export interface MysqlPoolOptions {
  /** Connections at most (`MIXTAPE_MYSQL_POOL_SIZE`); default 10. */
  poolSize?: number;
  /**
   * Callers that may wait for a connection (`MIXTAPE_MYSQL_QUEUE_LIMIT`); beyond it a caller
   * is turned away at once. 0 is no limit. Default 100.
   */
  queueLimit?: number;
  /**
   * How long a new connection may take to open. Default 2000 ms, so a server that drops
   * packets holds a pool slot no longer than a caller waits for one (`acquireTimeoutMs`).
   */
  connectTimeoutMs?: number;
  /** A connection unused this long is closed. Default 60000 ms. */
  idleTimeoutMs?: number;
}

/** The collation of every connection: the text columns' own, so comparisons need no conversion. */
export const MYSQL_COLLATION = 'utf8mb4_unicode_520_ci';

/**
 * A mysql2 pool configured as every MySQL adapter expects; hand it to `new MysqlDatabase`.
 * Connecting is lazy: nothing is opened until the first query.
 *
 * - Numbers: BIGINT columns (epoch milliseconds, sizes) come back as numbers while they are
 *   safe integers, and as strings beyond (`supportBigNumbers`); DECIMALs, such as SUM()
 *   of a BIGINT column, come back as numbers (`decimalNumbers`).
 * - Dates: timestamps are BIGINT epoch milliseconds in every table; a DATETIME read anyway
 *   comes back as its string (`dateStrings`), and a Date bound as a parameter is written in
 *   UTC, like the session's time zone.
 * - Keep-alive probes find a connection whose peer vanished without a word.
 */
export function createMysqlPool(url: string, options: MysqlPoolOptions = {}): Pool {
  const poolSize = options.poolSize ?? 10;
  return createPool({
    uri: url,
    connectionLimit: poolSize,
    // mysql2 closes idle connections only when maxIdle is below connectionLimit: one under it
    // keeps the pool warm and lets idleTimeout close the rest once they sit unused.
    maxIdle: Math.max(1, poolSize - 1),
    idleTimeout: options.idleTimeoutMs ?? 60_000,
    queueLimit: options.queueLimit ?? 100,
    waitForConnections: true,
    connectTimeout: options.connectTimeoutMs ?? 2000,
    enableKeepAlive: true,
    keepAliveInitialDelay: 10_000,
    charset: MYSQL_COLLATION.toUpperCase(),
    timezone: 'Z',
    supportBigNumbers: true,
    bigNumberStrings: false,
    decimalNumbers: true,
    dateStrings: true,
    // Parameters are bound by our own names (mysql-statements.ts); `:name` would be mysql2's.
    namedPlaceholders: false,
    multipleStatements: false,
  });
}
