import { afterAll } from 'vitest';
import { freshMysqlDatabase, type FreshMysqlDatabase } from './mysql-test-server.js';

export interface PerFileDatabase {
  /** The file's database, created and migrated on first use. */
  database(): Promise<FreshMysqlDatabase>;
  /** The file's database with `tables` emptied (children first), for a test that needs them empty. */
  emptied(tables: readonly string[]): Promise<FreshMysqlDatabase>;
}

/**
 * One fresh MariaDB database for a whole test file, dropped after its last test: migrating a
 * new database per test would cost most of a suite's time. Call at the top level of the file.
 */
export function perFileDatabase(): PerFileDatabase {
  let created: Promise<FreshMysqlDatabase> | undefined;
  afterAll(async () => {
    await (await created)?.drop();
  });
  const database = () => (created ??= freshMysqlDatabase());
  return {
    database,
    async emptied(tables) {
      const fresh = await database();
      for (const table of tables) await fresh.db.run(`DELETE FROM \`${table}\``);
      return fresh;
    },
  };
}
