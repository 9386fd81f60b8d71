import type { TrackDocument } from '@mixtape/core';
import { compileMysqlStatement, migrateMysql, mysqlMigrations, MysqlSearchIndex, type MysqlDatabase } from '@mixtape/core/mysql';
import type { SqliteDatabase } from '@mixtape/core/sqlite';
import { knownTargetTables, MIGRATIONS_TABLE, mysqlName, planTransfer, TARGET_SQL, type TablePlan } from './transfer-plan.js';

/** One table's rows in the embedded database (as read) and in MySQL (after the copy). */
export interface TableCount {
  table: string;
  sourceRows: number;
  targetRows: number;
}

export type TransferOutcome =
  /** The target holds data, or things that are not Mixtape's: nothing was written. */
  | { kind: 'refused'; reasons: string[] }
  /** Every table copied and counted alike. */
  | { kind: 'copied'; tables: TableCount[]; migrationsApplied: number[]; elapsedMs: number }
  /** Some table's counts differ: the target was emptied again (see `emptiedAgain`). */
  | { kind: 'counts-differ'; tables: TableCount[]; migrationsApplied: number[]; elapsedMs: number; emptiedAgain: boolean };

export interface TransferOptions {
  /** Rows per INSERT, each batch its own transaction. Default 1000. */
  batchRows?: number;
  /** A batch ends early past about this many bytes of values, well under max_allowed_packet. Default 4 MiB. */
  batchBytes?: number;
}

/** A table's rows could not be written (the target refused one, or went away). */
export class TransferCopyError extends Error {
  constructor(
    readonly table: string,
    /** Whether what had been copied was deleted again, leaving the target empty (migrated) as it was found. */
    readonly emptiedAgain: boolean,
    cause: unknown,
  ) {
    super(`Copying ${table} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'TransferCopyError';
  }
}

/**
 * Copies the embedded database into an empty MySQL database:
 *
 * 1. refuses a target that is not empty (nothing is written then): a table with rows, a table
 *    or view that is not Mixtape's, or a migration this version does not know. A database
 *    with no tables, or one only migrated (`mixtape migrate` on it) and still empty, is fine;
 * 2. migrates it (`migrateMysql`), then checks that both schemas match name for name;
 * 3. copies each table, parents before children, in batches of rows, each one INSERT in its own
 *    transaction; search documents go through MysqlSearchIndex, which stores them its own way;
 * 4. counts each table on both sides.
 *
 * Every table is read in one read transaction of `source`, so the copy is one snapshot even
 * while another process writes. A failure, or counts that differ, deletes what was copied,
 * so that the target is empty again and a later transfer may run.
 *
 * @throws TransferSchemaError when the schemas do not match (after migrating the target, before any row)
 * @throws TransferCopyError when a table could not be copied
 * @throws UnavailableError (or mysql2's error, such as access denied) when the target cannot be used at all
 */
export async function transferSqliteToMysql(source: SqliteDatabase, target: MysqlDatabase, options: TransferOptions = {}): Promise<TransferOutcome> {
  const started = performance.now();
  const reasons = await refusals(source, target);
  if (reasons.length > 0) return { kind: 'refused', reasons };
  const migrationsApplied = await migrateMysql(target);
  const plans = await planTransfer(source, target);
  const sourceCounts = new Map<string, number>();
  source.exec('BEGIN');
  try {
    for (const plan of plans) sourceCounts.set(plan.name, Number(source.prepare(plan.count).pluck().get()));
    for (const plan of plans) {
      try {
        await copyTable(source, target, plan, options);
      } catch (error) {
        throw new TransferCopyError(plan.name, await emptyAgain(target, plans), error);
      }
    }
  } finally {
    source.exec('COMMIT');
  }
  const tables: TableCount[] = [];
  for (const plan of plans) {
    const counted = await target.get<{ n: number }>(`SELECT COUNT(*) AS n FROM ${mysqlName(plan.name)}`);
    tables.push({ table: plan.name, sourceRows: sourceCounts.get(plan.name) ?? 0, targetRows: Number(counted?.n ?? 0) });
  }
  const elapsedMs = performance.now() - started;
  if (tables.every((count) => count.sourceRows === count.targetRows)) return { kind: 'copied', tables, migrationsApplied, elapsedMs };
  return { kind: 'counts-differ', tables, migrationsApplied, elapsedMs, emptiedAgain: await emptyAgain(target, plans) };
}

/** Why `target` may not receive a transfer; empty when it may. */
async function refusals(source: SqliteDatabase, target: MysqlDatabase): Promise<string[]> {
  const known = new Set(knownTargetTables(source));
  const reasons: string[] = [];
  for (const { name, type } of await target.all<{ name: string; type: string }>(TARGET_SQL.tables)) {
    if (type !== 'BASE TABLE' || !known.has(name)) {
      reasons.push(`it holds ${type === 'VIEW' ? 'a view' : 'a table'} ${name} that is not Mixtape's`);
      continue;
    }
    if (name === MIGRATIONS_TABLE) continue;
    const held = await target.get<{ held: number }>(`SELECT EXISTS (SELECT 1 FROM ${mysqlName(name)}) AS held`);
    if (held?.held) reasons.push(`its table ${name} holds rows`);
  }
  if ((await target.get(TARGET_SQL.migrationsTableExists)) !== undefined) {
    const versions = new Set(mysqlMigrations.map((migration) => migration.version));
    const unknown = (await target.all<{ version: number }>(TARGET_SQL.appliedVersions)).map((row) => row.version).filter((v) => !versions.has(v));
    if (unknown.length > 0) reasons.push(`a newer version of Mixtape applied migrations to it (${unknown.join(', ')}) that this one does not know`);
  }
  return reasons;
}

async function copyTable(source: SqliteDatabase, target: MysqlDatabase, plan: TablePlan, options: TransferOptions): Promise<void> {
  const write = plan.via === 'rows' ? rowWriter(target, plan) : searchDocumentWriter(target);
  // Integers as BigInt, so that none beyond 2^53 is rounded on its way through.
  const rows = source.prepare(plan.select).raw(true).safeIntegers(true).iterate() as IterableIterator<unknown[]>;
  try {
    for (let batch = nextBatch(rows, options); batch.length > 0; batch = nextBatch(rows, options)) await write(batch);
  } finally {
    // The connection runs nothing else while a statement iterates.
    rows.return?.();
  }
}

function rowWriter(target: MysqlDatabase, plan: TablePlan): (rows: unknown[][]) => Promise<unknown> {
  // `VALUES @rows` with an array of arrays: mysql2 writes each row as one parenthesised list.
  const insert = compileMysqlStatement(`INSERT INTO ${mysqlName(plan.name)} (${plan.columns.map(mysqlName).join(', ')}) VALUES @rows`, `insert into ${plan.name}`);
  return (rows) => target.transaction((tx) => tx.run(insert, { rows }));
}

/** Rows in SEARCH_DOCUMENTS.columns order, written as MysqlSearchIndex writes them (in one transaction per batch). */
function searchDocumentWriter(target: MysqlDatabase): (rows: unknown[][]) => Promise<unknown> {
  const index = new MysqlSearchIndex(target);
  return (rows) =>
    index.upsert(
      rows.map(([trackId, version, available, title, artists, album, isrc]): TrackDocument => ({
        id: String(trackId),
        version: Number(version),
        available: Number(available) === 1,
        title: String(title ?? ''),
        // As the embedded index holds them: the names joined by newlines.
        artists: String(artists ?? '').split('\n'),
        album: String(album ?? ''),
        ...(isrc ? { isrc: String(isrc) } : {}),
        // The index keeps no duration; the catalog (tracks) does.
        durationMs: 0,
      })),
    );
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** A BigInt as a number when it is exact, else as its digits, which MySQL reads into a BIGINT exactly. */
function toMysqlValue(value: unknown): unknown {
  if (typeof value !== 'bigint') return value;
  return value <= MAX_SAFE && value >= -MAX_SAFE ? Number(value) : value.toString();
}

function sizeOf(value: unknown): number {
  if (typeof value === 'string') return value.length * 3;
  if (value instanceof Uint8Array) return value.length * 2;
  return 24;
}

function nextBatch(rows: IterableIterator<unknown[]>, { batchRows = 1000, batchBytes = 4 * 1024 * 1024 }: TransferOptions): unknown[][] {
  const batch: unknown[][] = [];
  let bytes = 0;
  while (batch.length < batchRows && bytes < batchBytes) {
    const next = rows.next();
    if (next.done) break;
    const row = next.value.map(toMysqlValue);
    bytes += row.reduce((sum: number, value) => sum + sizeOf(value), 0);
    batch.push(row);
  }
  return batch;
}

/** Deletes every copied row, children first, so the target is as it was found. False when that failed too. */
async function emptyAgain(target: MysqlDatabase, plans: TablePlan[]): Promise<boolean> {
  try {
    for (const plan of [...plans].reverse()) await target.run(`DELETE FROM ${mysqlName(plan.name)}`, {}, { timeoutMs: null });
    return true;
  } catch {
    return false;
  }
}
