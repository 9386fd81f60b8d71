import type { SqliteDatabase } from '@mixtape/core/sqlite';
import { mysqlStatements, type MysqlQueryable } from '@mixtape/core/mysql';
import text from './transfer-target.sql';

export const TARGET_SQL = mysqlStatements(text, ['tables', 'columns', 'primaryKeys', 'foreignKeys', 'migrationsTableExists', 'appliedVersions']);

/**
 * How `mixtape transfer` copies the embedded database into MySQL, table by table. Both schemas
 * are read from the databases themselves (SQLite's pragmas, MySQL's information_schema) and
 * must match name for name, so that a migration added to one side only stops the transfer
 * with the names it lacks, instead of leaving data behind.
 */

/** Each database records its own migrations; the target's are applied by `migrateMysql`. */
export const MIGRATIONS_TABLE = 'schema_migrations';

/**
 * The embedded search index keeps its text in an FTS5 table (`search_fts`), linked to
 * `search_documents` by `doc_id`; MySQL keeps both in `search_documents`, in the form
 * MysqlSearchIndex writes (punctuation split off, for its LIKE paths). So these rows are
 * read joined and written through MysqlSearchIndex, never copied as they are.
 */
export const SEARCH_DOCUMENTS = {
  table: 'search_documents',
  fts: 'search_fts',
  /** SQLite's rowid link between the two, which MySQL has no use for. */
  link: 'doc_id',
  /** What MysqlSearchIndex writes: a new column on either side must be added here, and there. */
  columns: ['track_id', 'version', 'available', 'title', 'artists', 'album', 'isrc'],
} as const;

/** One table to copy. */
export interface TablePlan {
  name: string;
  /** The columns written, in the order the source's rows are read. */
  columns: string[];
  /** Reads the source's rows as arrays in `columns` order, in the target's primary-key order. */
  select: string;
  /** Counts the source's rows. */
  count: string;
  /** `rows` are inserted as they are; `search-documents` go through MysqlSearchIndex. */
  via: 'rows' | 'search-documents';
}

/** The two schemas do not match: this build cannot copy this database without losing data. */
export class TransferSchemaError extends Error {
  constructor(readonly problems: string[]) {
    super(`The embedded and MySQL schemas do not match:\n  ${problems.join('\n  ')}`);
    this.name = 'TransferSchemaError';
  }
}

interface SourceTable {
  name: string;
  columns: string[];
  /** Of `columns`, those read from the search index's FTS5 table. */
  ftsColumns?: string[];
}

/** `"name"` for SQLite, with any quote in it doubled. */
export const sqliteName = (name: string) => `"${name.replaceAll('"', '""')}"`;
/** `` `name` `` for MySQL (`key` is a reserved word), with any backquote doubled. */
export const mysqlName = (name: string) => `\`${name.replaceAll('`', '``')}\``;

const sqliteColumns = (source: SqliteDatabase, table: string): string[] =>
  (source.prepare('SELECT name, hidden FROM pragma_table_xinfo(?)').all(table) as { name: string; hidden: number }[])
    // hidden: an FTS5 table's own columns, or a generated column, which takes no value.
    .filter((column) => column.hidden === 0)
    .map((column) => column.name);

/**
 * The embedded database's tables that hold data to copy, with their columns (search documents
 * with their FTS5 text, less the link). SQLite's own tables and FTS5's shadow tables are left
 * out; a virtual table other than the search index's cannot be copied, and is a problem.
 */
export function readSourceTables(source: SqliteDatabase): { tables: SourceTable[]; problems: string[] } {
  const listed = source.prepare("SELECT name, type FROM pragma_table_list WHERE schema = 'main' ORDER BY name").all() as { name: string; type: string }[];
  const tables: SourceTable[] = [];
  const problems: string[] = [];
  for (const { name, type } of listed) {
    if (name.startsWith('sqlite_') || type === 'shadow' || name === MIGRATIONS_TABLE || name === SEARCH_DOCUMENTS.fts) continue;
    if (type !== 'table') {
      problems.push(`the embedded ${type} ${name} has no way into MySQL`);
      continue;
    }
    const columns = sqliteColumns(source, name);
    if (name === SEARCH_DOCUMENTS.table) {
      const ftsColumns = sqliteColumns(source, SEARCH_DOCUMENTS.fts);
      tables.push({ name, columns: [...columns.filter((column) => column !== SEARCH_DOCUMENTS.link), ...ftsColumns], ftsColumns });
    } else tables.push({ name, columns });
  }
  return { tables, problems };
}

interface TargetSchema {
  /** Columns that take a value, by table. */
  columns: Map<string, string[]>;
  generated: Map<string, string[]>;
  primaryKeys: Map<string, string[]>;
  /** The tables each table references. */
  references: Map<string, Set<string>>;
}

async function readTargetSchema(target: MysqlQueryable): Promise<TargetSchema> {
  const append = (map: Map<string, string[]>, key: string, value: string) => map.set(key, [...(map.get(key) ?? []), value]);
  const schema: TargetSchema = { columns: new Map(), generated: new Map(), primaryKeys: new Map(), references: new Map() };
  const tables = await target.all<{ name: string; type: string }>(TARGET_SQL.tables);
  for (const { name } of tables) schema.columns.set(name, []);
  for (const row of await target.all<{ table_name: string; column_name: string; generated: number }>(TARGET_SQL.columns)) {
    append(row.generated ? schema.generated : schema.columns, row.table_name, row.column_name);
  }
  for (const row of await target.all<{ table_name: string; column_name: string }>(TARGET_SQL.primaryKeys)) {
    append(schema.primaryKeys, row.table_name, row.column_name);
  }
  for (const row of await target.all<{ table_name: string; referenced: string }>(TARGET_SQL.foreignKeys)) {
    if (row.referenced !== row.table_name) schema.references.set(row.table_name, (schema.references.get(row.table_name) ?? new Set()).add(row.referenced));
  }
  return schema;
}

const missing = (from: readonly string[], to: readonly string[]) => from.filter((name) => !to.includes(name));

/**
 * The plan of a copy into `target`, migrated to this build's schema: every source table in an
 * order where each comes after the tables it references. Throws TransferSchemaError listing
 * every table or column, on either side, that has no counterpart on the other (generated
 * columns of the target aside).
 */
export async function planTransfer(source: SqliteDatabase, target: MysqlQueryable): Promise<TablePlan[]> {
  const { tables, problems } = readSourceTables(source);
  const schema = await readTargetSchema(target);
  const sourceNames = tables.map((table) => table.name);
  for (const name of schema.columns.keys()) {
    if (name !== MIGRATIONS_TABLE && !sourceNames.includes(name)) problems.push(`the MySQL table ${name} has nothing to copy from in the embedded database`);
  }
  for (const table of tables) {
    const targetColumns = schema.columns.get(table.name);
    if (targetColumns === undefined) {
      problems.push(`the embedded table ${table.name} has no MySQL counterpart`);
      continue;
    }
    for (const column of missing(table.columns, targetColumns)) problems.push(`the embedded column ${table.name}.${column} has no MySQL counterpart`);
    for (const column of missing(targetColumns, table.columns)) problems.push(`the MySQL column ${table.name}.${column} has nothing to copy from`);
    for (const column of schema.generated.get(table.name) ?? []) {
      if (table.columns.includes(column)) problems.push(`the MySQL column ${table.name}.${column} is generated, but the embedded one holds data`);
    }
    if (table.name === SEARCH_DOCUMENTS.table) {
      for (const column of missing(table.columns, SEARCH_DOCUMENTS.columns)) problems.push(`the embedded search document column ${column} is not written by MysqlSearchIndex`);
      for (const column of missing(SEARCH_DOCUMENTS.columns, table.columns)) problems.push(`the embedded search documents lack the column ${column}`);
    }
  }
  if (problems.length > 0) throw new TransferSchemaError(problems);
  return inReferenceOrder(tables, schema.references).map((table) => tablePlan(table, schema.primaryKeys.get(table.name) ?? []));
}

function tablePlan(table: SourceTable, primaryKey: string[]): TablePlan {
  const from = sqliteName(table.name);
  if (table.name === SEARCH_DOCUMENTS.table) {
    const { fts, link, columns } = SEARCH_DOCUMENTS;
    const fromFts = new Set(table.ftsColumns);
    const list = columns.map((column) => `${fromFts.has(column) ? 'f' : 'd'}.${sqliteName(column)}`).join(', ');
    return {
      name: table.name,
      columns: [...columns],
      // An inner join: a document whose text is missing is not copied, and its count differs.
      select: `SELECT ${list} FROM ${from} d JOIN ${sqliteName(fts)} f ON f.rowid = d.${sqliteName(link)} ORDER BY d.${sqliteName('track_id')}`,
      count: `SELECT count(*) FROM ${from}`,
      via: 'search-documents',
    };
  }
  const order = primaryKey.length > 0 ? ` ORDER BY ${primaryKey.map(sqliteName).join(', ')}` : '';
  return {
    name: table.name,
    columns: table.columns,
    select: `SELECT ${table.columns.map(sqliteName).join(', ')} FROM ${from}${order}`,
    count: `SELECT count(*) FROM ${from}`,
    via: 'rows',
  };
}

/** Tables ordered so that each comes after those it references; ties by name, so runs agree. */
function inReferenceOrder(tables: SourceTable[], references: Map<string, Set<string>>): SourceTable[] {
  const ordered: SourceTable[] = [];
  const placed = new Set<string>();
  const pending = [...tables].sort((a, b) => a.name.localeCompare(b.name));
  while (pending.length > 0) {
    const next = pending.findIndex((table) => [...(references.get(table.name) ?? [])].every((parent) => placed.has(parent) || !pending.some((p) => p.name === parent)));
    // A cycle of foreign keys: none of Mixtape's, but take the first rather than loop forever.
    const [table] = pending.splice(Math.max(0, next), 1);
    ordered.push(table!);
    placed.add(table!.name);
  }
  return ordered;
}

/** The names of the tables a target may hold before a transfer: those it would copy into, and the migrations'. */
export function knownTargetTables(source: SqliteDatabase): string[] {
  return [...readSourceTables(source).tables.map((table) => table.name), MIGRATIONS_TABLE];
}
