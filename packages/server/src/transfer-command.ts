import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UnavailableError, type MixtapeConfig } from '@mixtape/core';
import { createMysqlPool, MysqlDatabase } from '@mixtape/core/mysql';
import { openSqliteDatabase, pendingSqliteMigrations } from '@mixtape/core/sqlite';
import { TransferCopyError, transferSqliteToMysql, type TableCount, type TransferOutcome } from './sqlite-to-mysql-transfer.js';
import { TransferSchemaError } from './transfer-plan.js';

/**
 * sysexits(3): 64 bad usage; 65 a row the target refused, or counts that differ; 69 the target
 * cannot be reached (or has no such database); 70 the two schemas do not match (a bug of this
 * build); 73 the target is not empty; 77 the target refused the credentials; 78 no embedded
 * database, or one this version must migrate first.
 */
export const TRANSFER_EXIT = { usage: 64, data: 65, unavailable: 69, software: 70, notEmpty: 73, denied: 77, config: 78 } as const;

export const TRANSFER_USAGE = `Usage: mixtape transfer --to <mysql url> [--json]

Copies everything the embedded database under MIXTAPE_DATA_DIR holds (users, sessions,
catalog, libraries, jobs, ...) into an empty MySQL database, for example
mysql://mixtape:password@db.internal:3306/mixtape, then checks every table's count.
Stop every Mixtape process using the data dir first: what they write later is not copied.

The target must be empty: it may have no tables at all, or be migrated by this version of
Mixtape (\`mixtape migrate\`) and hold no rows. Anything else is refused and left alone. If a
table cannot be copied, what was copied is deleted again. The stored audio files stay where
they are: point MIXTAPE_STORAGE_DIR of every instance at them.

  --json   print the outcome as one JSON object
`;

interface TransferArguments {
  target: URL;
  json: boolean;
}

const complain = (line: string) => process.stderr.write(`mixtape transfer: ${line}\n`);

/** `mixtape transfer --to <mysql url> [--json]`; returns the exit code. The configuration is loaded only once the arguments are good. */
export async function transferCommand(args: string[], loadConfig: () => MixtapeConfig): Promise<number> {
  if (args.some((arg) => arg === 'help' || arg === '--help' || arg === '-h')) {
    process.stdout.write(TRANSFER_USAGE);
    return 0;
  }
  const parsed = parseArguments(args);
  if (typeof parsed === 'string') {
    complain(`${parsed}\n\n${TRANSFER_USAGE}`);
    return TRANSFER_EXIT.usage;
  }
  const config = loadConfig();
  const path = join(config.dataDir, 'mixtape.db');
  const shown = shownUrl(parsed.target);
  const say = reporter(parsed.json, shown);
  if (!existsSync(path)) {
    return say.failure(TRANSFER_EXIT.config, 'no-source', `there is no embedded database at ${resolve(path)} (MIXTAPE_DATA_DIR): nothing to transfer`);
  }
  const source = openSqliteDatabase(path, { readOnly: true });
  try {
    const pending = pendingSqliteMigrations(source);
    if (pending.length > 0) {
      return say.failure(
        TRANSFER_EXIT.config,
        'source-not-migrated',
        `the embedded database lacks migrations ${pending.join(', ')}: run \`mixtape migrate\` on this data dir (without MIXTAPE_MYSQL_URL) first`,
      );
    }
    if (existsSync(`${path}-wal`)) {
      complain('another process may have the embedded database open (its -wal file is there): what it writes after this copy began is not copied');
    }
    // Short waits: a server that does not answer is reported in seconds, not after the defaults.
    const target = new MysqlDatabase(createMysqlPool(parsed.target.href, { poolSize: 2, queueLimit: 0, connectTimeoutMs: 3000 }), {
      acquireTimeoutMs: 3000,
      queryTimeoutMs: 60_000,
    });
    try {
      const outcome = await transferSqliteToMysql(source, target);
      return say.outcome(outcome, { source: resolve(path), storageDir: resolve(config.storageDir) });
    } catch (error) {
      return failed(error, say, shown);
    } finally {
      await target.close();
    }
  } finally {
    source.close();
  }
}

function parseArguments(args: string[]): TransferArguments | string {
  let to: string | undefined;
  let json = false;
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i]!;
    if (arg === '--json') json = true;
    else if (arg === '--to' && i + 1 < args.length) to = args[++i];
    else if (arg.startsWith('--to=')) to = arg.slice('--to='.length);
    // Never echoed: an argument may be a URL with its password.
    else return arg.startsWith('-') ? `unknown option ${arg.split('=')[0]}` : 'unexpected argument';
  }
  if (to === undefined) return 'expected --to <mysql url>';
  let target: URL;
  try {
    target = new URL(to);
  } catch {
    return '--to is not a URL: expected mysql://user:password@host:3306/database';
  }
  if (target.protocol !== 'mysql:') return '--to must be a mysql:// URL';
  const database = decodeURIComponent(target.pathname.slice(1));
  if (database === '' || database.includes('/')) return '--to must name the database: mysql://user:password@host:3306/<database>';
  return { target, json };
}

/** The target as it may be shown: user, host and database, never the password or the query's options. */
function shownUrl(url: URL): string {
  return `mysql://${url.username ? `${url.username}@` : ''}${url.host}${url.pathname}`;
}

interface Reporter {
  outcome(outcome: TransferOutcome, where: { source: string; storageDir: string }): number;
  failure(code: number, kind: string, message: string): number;
}

function reporter(json: boolean, target: string): Reporter {
  const print = (value: object) => process.stdout.write(`${JSON.stringify({ target, ...value })}\n`);
  return {
    failure(code, kind, message) {
      complain(message);
      if (json) print({ outcome: kind, error: message });
      return code;
    },
    outcome(outcome, where) {
      if (outcome.kind === 'refused') {
        complain(`${target} is not empty: ${outcome.reasons.join('; ')}. Nothing was written. Transfer into a new database, or one only migrated.`);
        if (json) print({ outcome: 'refused', reasons: outcome.reasons });
        return TRANSFER_EXIT.notEmpty;
      }
      const seconds = Math.round(outcome.elapsedMs) / 1000;
      const rows = outcome.tables.reduce((sum, table) => sum + table.sourceRows, 0);
      if (json) {
        print({ outcome: outcome.kind, ...where, migrationsApplied: outcome.migrationsApplied, tables: outcome.tables, rows, seconds, ...(outcome.kind === 'counts-differ' ? { emptiedAgain: outcome.emptiedAgain } : {}) });
      }
      if (outcome.kind === 'counts-differ') {
        const differing = outcome.tables.filter((table) => table.sourceRows !== table.targetRows);
        complain(
          `the counts differ after the copy: ${differing.map((t) => `${t.table} has ${t.sourceRows} rows in the embedded database, ${t.targetRows} in MySQL`).join('; ')}. ${
            outcome.emptiedAgain ? 'What was copied was deleted again.' : 'What was copied could not be deleted again: drop the database and create it anew before trying again.'
          }`,
        );
        return TRANSFER_EXIT.data;
      }
      if (!json) process.stdout.write(describe(outcome.tables, { ...where, target, seconds, rows, migrationsApplied: outcome.migrationsApplied }));
      return 0;
    },
  };
}

function describe(tables: TableCount[], s: { source: string; storageDir: string; target: string; seconds: number; rows: number; migrationsApplied: number[] }): string {
  const width = Math.max(...tables.map((t) => t.table.length), 5);
  const migrated = s.migrationsApplied.length > 0 ? `migrations ${s.migrationsApplied.join(', ')} applied to it first` : 'it was migrated already';
  return [
    `Copied ${s.source} into ${s.target} in ${s.seconds} s (${migrated}):`,
    ...tables.map((t) => `  ${t.table.padEnd(width)} ${String(t.targetRows).padStart(9)} rows`),
    `${tables.length} tables, ${s.rows} rows; every table's count is the same in both.`,
    `The audio files stay where they are: point MIXTAPE_STORAGE_DIR at ${s.storageDir} on every instance,`,
    `and MIXTAPE_MYSQL_URL at ${s.target} (with its password).`,
    '',
  ].join('\n');
}

/** The code of a driver error, or of the error an UnavailableError wraps. */
function driverCode(error: unknown): string | undefined {
  for (let e: unknown = error; typeof e === 'object' && e !== null; e = (e as { cause?: unknown }).cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('ER_')) return code;
  }
  return undefined;
}

const ACCESS_DENIED = new Set(['ER_ACCESS_DENIED_ERROR', 'ER_DBACCESS_DENIED_ERROR', 'ER_TABLEACCESS_DENIED_ERROR', 'ER_SPECIFIC_ACCESS_DENIED_ERROR']);

function failed(error: unknown, say: Reporter, target: string): number {
  const code = driverCode(error);
  if (code === 'ER_BAD_DB_ERROR') {
    const database = target.slice(target.lastIndexOf('/') + 1);
    return say.failure(
      TRANSFER_EXIT.unavailable,
      'unreachable',
      `${target}: the server has no such database; create it first (CREATE DATABASE \`${decodeURIComponent(database)}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci)`,
    );
  }
  if (code !== undefined && ACCESS_DENIED.has(code)) return say.failure(TRANSFER_EXIT.denied, 'denied', `${target} refused access (${code})`);
  if (error instanceof UnavailableError) return say.failure(TRANSFER_EXIT.unavailable, 'unreachable', `cannot reach ${target}: ${error.message}`);
  if (error instanceof TransferSchemaError) return say.failure(TRANSFER_EXIT.software, 'schema-mismatch', `${error.message}\nNothing was copied.`);
  if (error instanceof TransferCopyError) {
    const after = error.emptiedAgain
      ? 'What was copied was deleted again; fix the cause and run the transfer again.'
      : 'What was copied could not be deleted again: drop the database and create it anew before trying again.';
    const unavailable = error.cause instanceof UnavailableError;
    return say.failure(unavailable ? TRANSFER_EXIT.unavailable : TRANSFER_EXIT.data, unavailable ? 'unreachable' : 'copy-failed', `${error.message}. ${after}`);
  }
  throw error;
}
