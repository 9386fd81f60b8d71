/**
 * Another process downloading for a user, as a `mixtape worker` would, reduced to its quota
 * steps: `node quota-child.mjs <db path> <json arguments>` reserves `bytes` for the running
 * job (`jobId`, `token`) within `limitBytes`, then commits it with the library entry of
 * `trackId`. It waits for `startAt` (epoch ms) first, so that every process races at once,
 * and prints one line of JSON: `{ reserved, committed }` (`committed` is 'added', or the
 * error code that refused it).
 */
import { openSqliteDatabase } from '../../src/db/sqlite-database.js';
import { isMixtapeError } from '../../src/errors.js';
import { SqliteJobQueue } from '../../src/jobs/sqlite-job-queue.js';
import { SqliteLibraryStore } from '../../src/library/sqlite-library-store.js';

const [path, json] = process.argv.slice(2);
const args = JSON.parse(json ?? '{}') as { jobId: string; token: string; userId: string; trackId: string; bytes: number; limitBytes: number; startAt: number };
const db = openSqliteDatabase(path!);
const queue = new SqliteJobQueue(db);
const library = new SqliteLibraryStore(db);

async function run(): Promise<unknown> {
  const wait = args.startAt - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  const reserved = await queue.reserve(args.jobId, args.token, args.bytes, args.limitBytes);
  if (reserved.kind !== 'reserved') return { reserved: reserved.kind, committed: null };
  try {
    const item = { userId: args.userId, trackId: args.trackId, sizeBytes: args.bytes };
    return { reserved: reserved.kind, committed: await library.add(item, args.limitBytes, undefined, { jobId: args.jobId, token: args.token }) };
  } catch (error) {
    if (isMixtapeError(error)) return { reserved: reserved.kind, committed: error.code };
    throw error;
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
