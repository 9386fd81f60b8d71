/**
 * A worker process on the MySQL job queue, as a `mixtape worker` on another host would be,
 * reduced to its queue steps: `node mysql-queue-worker-child.mjs <database url> <json arguments>`
 * runs `loops` claim-then-complete loops at once, on a pool of its own, from `startAt` (epoch
 * ms, so that every process starts at the same moment) until a claim finds nothing. It prints
 * one line of JSON: `{ claimed: [job id, …], lost: n }`, where `lost` counts completions the
 * queue refused (a lease it had handed to another worker as well would show there).
 */
import { MysqlDatabase } from '../../src/mysql/mysql-database.js';
import { MysqlJobQueue } from '../../src/mysql/mysql-job-queue.js';
import { createMysqlPool } from '../../src/mysql/mysql-pool.js';

const [url, json] = process.argv.slice(2);
const args = JSON.parse(json ?? '{}') as { loops: number; startAt: number };
const db = new MysqlDatabase(createMysqlPool(url!, { poolSize: args.loops }));
const queue = new MysqlJobQueue(db);

async function work(loop: number, claimed: string[]): Promise<number> {
  let lost = 0;
  for (let lease = await queue.claim(`${process.pid}-${loop}`, 30_000); lease; lease = await queue.claim(`${process.pid}-${loop}`, 30_000)) {
    claimed.push(lease.job.id);
    if (!(await queue.complete(lease.job.id, lease.token))) lost += 1;
  }
  return lost;
}

async function run(): Promise<unknown> {
  const wait = args.startAt - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  const claimed: string[] = [];
  const lost = await Promise.all(Array.from({ length: args.loops }, (_, loop) => work(loop, claimed)));
  return { claimed, lost: lost.reduce((sum, n) => sum + n, 0) };
}

run()
  .then(
    (result) => process.stdout.write(`${JSON.stringify(result)}\n`),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
      process.exitCode = 1;
    },
  )
  .finally(() => db.close());
