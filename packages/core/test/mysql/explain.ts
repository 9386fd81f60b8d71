import { namedStatements } from '../../src/db/named-statements.js';
import type { MysqlDatabase } from '../../src/mysql/mysql-database.js';
import type { MysqlParams } from '../../src/mysql/mysql-statements.js';

/** One row of EXPLAIN's traditional output: the table read, the index used, how. */
export interface ExplainRow {
  table: string | null;
  type: string | null;
  key: string | null;
  rows: number | null;
  Extra: string | null;
}

/**
 * The plan of the statement `name` of an adapter's `.sql` file, one row per table read. Ask it
 * of a table with rows in it and fresh statistics (ANALYZE TABLE): on an empty table any plan
 * is as good as another, and the optimizer says so.
 */
export function explain(db: MysqlDatabase, sqlFile: string, name: string, params: MysqlParams = {}): Promise<ExplainRow[]> {
  const sql = namedStatements(sqlFile)[name];
  if (sql === undefined) throw new Error(`No statement ${name}`);
  return db.all<ExplainRow>(`EXPLAIN ${sql}`, params);
}
