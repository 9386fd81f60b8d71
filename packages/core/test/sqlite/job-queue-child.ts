/**
 * Another process using the job queue, as a `mixtape worker` or a second API process would:
 * `node job-queue-child.mjs <db path> <command> <json arguments>`. It prints one line of JSON
 * with what it got, then exits. Commands that race wait for `startAt` (epoch ms) first, so
 * that every process starts at the same moment.
 */
import { openSqliteDatabase } from '../../src/db/sqlite-database.js';
import { SqliteJobQueue } from '../../src/jobs/sqlite-job-queue.js';

const [path, command, json] = process.argv.slice(2);
const args = JSON.parse(json ?? '{}') as Record<string, any>;
const db = openSqliteDatabase(path!);
const queue = new SqliteJobQueue(db);

async function untilStart(): Promise<void> {
  const wait = Number(args.startAt ?? 0) - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}

async function run(): Promise<unknown> {
  switch (command) {
    case 'enqueue': {
      await untilStart();
      const outcomes = [];
      for (const trackId of args.trackIds as string[]) {
        const outcome = await queue.enqueue({ userId: args.userId, trackId, maxAttempts: 3, maxActive: args.maxActive ?? 100 });
        outcomes.push(outcome.kind === 'over-cap' ? { kind: outcome.kind } : { kind: outcome.kind, id: outcome.job.id });
      }
      return outcomes;
    }
    case 'claim': {
      await untilStart();
      const ids = [];
      for (let i = 0; i < args.count; i += 1) {
        const lease = await queue.claim(`${process.pid}-${i}`, args.leaseMs ?? 30_000);
        if (lease) ids.push(lease.job.id);
      }
      return ids;
    }
    case 'claim-and-die': {
      // A worker that is killed holding its lease: it never renews, completes nor releases.
      const lease = await queue.claim(`${process.pid}`, args.leaseMs);
      process.stdout.write(`${JSON.stringify(lease && { id: lease.job.id, token: lease.token })}\n`);
      process.kill(process.pid, 'SIGKILL');
      return null;
    }
    case 'complete':
      return queue.complete(args.jobId, args.token);
    default:
      throw new Error(`unknown command ${command}`);
  }
}

run().then(
  (result) => {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    db.close();
  },
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exitCode = 1;
  },
);
