import { prepareOnFirstUse, requireStatements, type PreparedStatements } from '../db/named-statements.js';
import type { SqliteDatabase } from '../db/sqlite-database.js';
import { runSqlite } from '../db/sqlite-faults.js';
import type { FencingTokens } from './fencing-tokens.js';
import text from './sqlite-fencing-tokens.sql';

const SQL = requireStatements(text, ['next', 'raise', 'current']);

/**
 * The fencing authority of the embedded database: the `fencing_tokens` table that the SQLite
 * stores' guarded writes check. SqliteLockManager issues its tokens here, inside its own
 * acquisition; another lock manager (LocalLockManager, a Redis one) is given this.
 */
export class SqliteFencingTokens implements FencingTokens {
  private readonly statements: PreparedStatements<keyof typeof SQL>;

  constructor(private readonly db: SqliteDatabase) {
    this.statements = prepareOnFirstUse(db, SQL);
  }

  async issue(keys: readonly string[]): Promise<number> {
    const issue = this.db.transaction(() => this.issueWithin(keys));
    return runSqlite(this.db, () => issue.immediate());
  }

  /** `issue`, inside a transaction the caller already holds on this connection. */
  issueWithin(keys: readonly string[]): number {
    const json = JSON.stringify(keys);
    const token = this.statements.next.pluck().get({ keys: json }) as number;
    this.statements.raise.run({ keys: json, token });
    return token;
  }

  async current(key: string): Promise<number | null> {
    return (await runSqlite(this.db, () => this.statements.current.pluck().get({ key }) as number | undefined)) ?? null;
  }
}
