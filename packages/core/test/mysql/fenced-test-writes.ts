/**
 * A guarded write as the MySQL stores make them, on a table of the tests' own: the row
 * changes only while the token presented is still the key's current one in `fencing_tokens`,
 * else LockLostError. The lock tests use it where a host that lost its lock tries to write.
 */
import { LockLostError } from '../../src/errors.js';
import type { Fence } from '../../src/locks/lock-manager.js';
import type { MysqlQueryable } from '../../src/mysql/mysql-database.js';
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
INSERT INTO fenced_test_writes (\`key\`, value, token)
SELECT \`key\`, @value, token FROM fencing_tokens WHERE \`key\` = @key AND token = @token
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
export async function fencedTestWrite(db: MysqlQueryable, fence: Fence, value: string): Promise<void> {
  const { affectedRows } = await db.run(SQL.write, { key: fence.key, token: fence.token, value });
  if (affectedRows === 0) throw new LockLostError(fence.key);
}

export async function readFencedTestWrite(db: MysqlQueryable, key: string): Promise<{ value: string; token: number } | undefined> {
  return db.get<{ value: string; token: number }>(SQL.read, { key });
}
