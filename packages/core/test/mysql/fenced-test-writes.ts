/**
 * A guarded write as the MySQL stores make them, on a table of the tests' own: in one
 * transaction, `holdsFence` share-locks the key's counter and the row changes only while the
 * token presented is still the current one, else LockLostError. The lock tests use it where a
 * host that lost its lock tries to write.
 */
import { LockLostError } from '../../src/errors.js';
import type { Fence } from '../../src/locks/lock-manager.js';
import type { MysqlDatabase, MysqlQueryable } from '../../src/mysql/mysql-database.js';
import { holdsFence } from '../../src/mysql/mysql-fencing-tokens.js';
import { mysqlStatements } from '../../src/mysql/mysql-statements.js';

const SQL = mysqlStatements(
  `-- name: createTable
CREATE TABLE IF NOT EXISTS fenced_test_writes (
  \`key\` VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  value   VARCHAR(255) NOT NULL,
  token   BIGINT       NOT NULL,
  PRIMARY KEY (\`key\`)
) ENGINE = InnoDB;
-- name: write
INSERT INTO fenced_test_writes (\`key\`, value, token) VALUES (@key, @value, @token)
ON DUPLICATE KEY UPDATE value = @value, token = @token;
-- name: read
SELECT value, token FROM fenced_test_writes WHERE \`key\` = @key;
`,
  ['createTable', 'write', 'read'],
);

export async function createFencedTestWrites(db: MysqlQueryable): Promise<void> {
  await db.run(SQL.createTable);
}

/** Writes `value` for the fence's key, or throws LockLostError when its token is stale. */
export async function fencedTestWrite(db: MysqlDatabase, fence: Fence, value: string): Promise<void> {
  await db.transaction(async (tx) => {
    if (!(await holdsFence(tx, fence))) throw new LockLostError(fence.key);
    await tx.run(SQL.write, { key: fence.key, token: fence.token, value });
  });
}

export async function readFencedTestWrite(db: MysqlQueryable, key: string): Promise<{ value: string; token: number } | undefined> {
  return db.get<{ value: string; token: number }>(SQL.read, { key });
}
