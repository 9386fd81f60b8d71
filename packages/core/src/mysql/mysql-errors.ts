import { UnavailableError } from '../errors.js';

/**
 * How a mysql2 error is read. A fault of the connection or the server becomes an
 * UnavailableError (the caller answers 503 with Retry-After); an error of the SQL itself (a
 * syntax error, a duplicate key, a failed CHECK) stays as mysql2 threw it, with its `code`
 * (`ER_DUP_ENTRY`) and `errno` (1062), for the adapter to map or to surface as a bug.
 */

/** Errors of the network or of a connection that is gone, by Node's or mysql2's code. */
const CONNECTION_FAULT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'PROTOCOL_PACKETS_OUT_OF_ORDER',
  'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR',
  'PROTOCOL_ENQUEUE_AFTER_QUIT',
]);

/** Server errors that say "not now" rather than "wrong", by errno. */
const SERVER_UNAVAILABLE_ERRNOS = new Set([
  1040, // ER_CON_COUNT_ERROR: max_connections reached
  1053, // ER_SERVER_SHUTDOWN
  1203, // ER_TOO_MANY_USER_CONNECTIONS
  1226, // ER_USER_LIMIT_REACHED
  1290, // ER_OPTION_PREVENTS_STATEMENT: --read-only, as during a failover
  1317, // ER_QUERY_INTERRUPTED: KILL QUERY, or a shutdown
  1792, // ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION
  1836, // ER_READ_ONLY_MODE
  1927, // ER_CONNECTION_KILLED (MariaDB)
  1969, // ER_STATEMENT_TIMEOUT (MariaDB max_statement_time)
  3024, // ER_QUERY_TIMEOUT (MySQL max_execution_time)
  4031, // ER_CLIENT_INTERACTION_TIMEOUT (MySQL 8.0.24+)
]);

/** A transaction that lost a deadlock or waited too long for a lock; running it again may succeed. */
export const ER_LOCK_WAIT_TIMEOUT = 1205;
export const ER_LOCK_DEADLOCK = 1213;

/** mysql2's own errors that carry no code. */
const POOL_MESSAGES = [/^Queue limit reached/, /^Pool is closed/, /^No connections available/, /closed state/];

interface DriverError {
  code?: unknown;
  errno?: unknown;
  fatal?: unknown;
  message?: unknown;
}

function asDriverError(error: unknown): DriverError {
  return typeof error === 'object' && error !== null ? (error as DriverError) : {};
}

/** The server's error number of a mysql2 error (1062 for a duplicate key), or undefined. */
export function mysqlErrno(error: unknown): number | undefined {
  const { errno } = asDriverError(error);
  return typeof errno === 'number' ? errno : undefined;
}

/** True when `error` is the server's error `code` (`'ER_DUP_ENTRY'`) or `errno` (1062). */
export function isMysqlError(error: unknown, codeOrErrno: string | number): boolean {
  const { code, errno } = asDriverError(error);
  return typeof codeOrErrno === 'number' ? errno === codeOrErrno : code === codeOrErrno;
}

/** True for a deadlock or a lock-wait timeout: the transactional paths run again. */
export function isTransactionConflict(error: unknown): boolean {
  const errno = mysqlErrno(error);
  return errno === ER_LOCK_DEADLOCK || errno === ER_LOCK_WAIT_TIMEOUT;
}

/**
 * True when the connection that raised `error` must not be used again: mysql2 marks such
 * errors `fatal`; a timed-out query still runs on the server and would answer late.
 */
export function isBrokenConnection(error: unknown): boolean {
  const { code, fatal } = asDriverError(error);
  return fatal === true || code === 'PROTOCOL_SEQUENCE_TIMEOUT' || SERVER_UNAVAILABLE_ERRNOS.has(mysqlErrno(error) ?? 0);
}

/** True for a fault of the connection, the pool or the server, as opposed to one of the SQL. */
export function isUnavailable(error: unknown): boolean {
  if (error instanceof UnavailableError) return true;
  const { code, message } = asDriverError(error);
  if (typeof code === 'string' && CONNECTION_FAULT_CODES.has(code)) return true;
  const errno = mysqlErrno(error);
  if (errno !== undefined && (SERVER_UNAVAILABLE_ERRNOS.has(errno) || isTransactionConflict(error))) return true;
  if (asDriverError(error).fatal === true) return true;
  return typeof message === 'string' && POOL_MESSAGES.some((pattern) => pattern.test(message));
}

/** How long a caller should wait: briefly for a busy database, longer for one that is down. */
export const BUSY_RETRY_AFTER_MS = 1000;
export const DOWN_RETRY_AFTER_MS = 5000;

/**
 * `error` as thrown to an adapter: an UnavailableError for a fault (its code in the message,
 * never the SQL or the server's address, the original as `cause`), else `error` itself.
 */
export function toMysqlFault(error: unknown): unknown {
  if (error instanceof UnavailableError || !isUnavailable(error)) return error;
  const { code } = asDriverError(error);
  const busy = isTransactionConflict(error) || mysqlErrno(error) === 1040 || typeof code !== 'string';
  const said = typeof code === 'string' && /^[A-Z][A-Z0-9_]{1,63}$/.test(code) ? ` (${code})` : '';
  return new UnavailableError(`The database is unavailable${said}`, {
    retryAfterMs: busy ? BUSY_RETRY_AFTER_MS : DOWN_RETRY_AFTER_MS,
    cause: error,
  });
}
