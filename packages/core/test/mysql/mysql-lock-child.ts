/**
 * Another host holding a lock in MySQL: `node mysql-lock-child.mjs <database url> <key> <ttl ms>`.
 * It takes the key's lock and prints `{"held": token}`; then, for each line `write <value>` on
 * stdin, it makes a fenced write with its token and prints `{"write": "ok" | error code}`; on
 * `wait-lost` it waits (up to 5 s) for its lock's signal and prints `{"lost": reason code |
 * null}`; on `release` it lets go and exits.
 */
import { createInterface } from 'node:readline';
import { MysqlDatabase } from '../../src/mysql/mysql-database.js';
import { MysqlLockManager } from '../../src/mysql/mysql-lock-manager.js';
import { createMysqlPool } from '../../src/mysql/mysql-pool.js';
import { fencedTestWrite } from './fenced-test-writes.js';

const [url, key, ttl] = process.argv.slice(2) as [string, string, string];
const db = new MysqlDatabase(createMysqlPool(url, { poolSize: 2 }));
const locks = new MysqlLockManager(db);
const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);

async function main(): Promise<void> {
  const commands = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  await locks.using(
    [key],
    async ({ signal, fencingToken }) => {
      print({ held: fencingToken });
      for (;;) {
        const next = await commands.next();
        if (next.done) return;
        const [command, argument] = (next.value as string).split(' ');
        if (command === 'release') return;
        if (command === 'write') {
          await fencedTestWrite(db, { key, token: fencingToken }, argument!).then(
            () => print({ write: 'ok' }),
            (error: { code?: string }) => print({ write: error.code ?? String(error) }),
          );
        }
        if (command === 'wait-lost') {
          if (!signal.aborted) {
            await new Promise((resolve) => {
              signal.addEventListener('abort', resolve, { once: true });
              setTimeout(resolve, 5000).unref();
            });
          }
          print({ lost: signal.aborted ? ((signal.reason as { code?: string }).code ?? null) : null });
        }
      }
    },
    { ttlMs: Number(ttl) },
  );
}

main().then(
  async () => {
    await db.close();
    process.exit(0);
  },
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
