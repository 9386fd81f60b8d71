/**
 * Another process on the data dir, for the housekeeping tests:
 * `node housekeeping-child.mjs <command> <data dir> <json arguments>`.
 *
 * - `mixtape`: a whole Mixtape with no workers, as `mixtape serve` or `mixtape worker` starts
 *   it. Waits for `startAt` (epoch ms), starts, runs for `runForMs`, closes, and prints one line
 *   of JSON: every housekeeping run (task, startedAt, durationMs) and every error.
 * - `hold-and-die`: a scheduler whose one task, `task`, prints a line once it holds the lease
 *   (leases of `ttlMs`), and then kills the process with SIGKILL: the lease is never released.
 */
import { join } from 'node:path';
import { openSqliteDatabase } from '../../src/db/sqlite-database.js';
import { HousekeepingScheduler } from '../../src/housekeeping/housekeeping-scheduler.js';
import { SqliteTaskLeases } from '../../src/housekeeping/sqlite-task-leases.js';
import { createMixtape, JwtKeyring, type HousekeepingEvent } from '../../src/index.js';
import { openSqliteBackends } from '../../src/sqlite.js';

const [command, dataDir, json] = process.argv.slice(2);
const args = JSON.parse(json ?? '{}') as Record<string, any>;
const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);

async function mixtape(): Promise<void> {
  const backends = await openSqliteBackends({ dataDir: dataDir!, migrate: false });
  const runs: { task: string; startedAt: number; durationMs: number }[] = [];
  const errors: string[] = [];
  const every = args.intervalMs as number;
  const onHousekeeping = (event: HousekeepingEvent) => {
    if (event.type === 'ran') runs.push({ task: event.task, startedAt: event.startedAt.getTime(), durationMs: event.durationMs });
    else errors.push(`${event.task}: ${event.error instanceof Error ? event.error.stack : String(event.error)}`);
  };
  const mixtape = createMixtape(
    backends,
    {
      keyring: JwtKeyring.ephemeral(),
      quotaBytes: 1e9,
      maxTrackBytes: 1e9,
      maxAttempts: 3,
      retryBaseMs: 100,
      jobLeaseMs: 30_000,
      workers: 0,
      housekeeping: {
        reapIntervalMs: every,
        purgeJobsIntervalMs: every,
        purgeTokenFamiliesIntervalMs: every,
        relayIntervalMs: every,
        sweepTempsIntervalMs: every,
        repairCountersIntervalMs: every,
        reconcileIntervalMs: every,
      },
    },
    { onHousekeeping },
  );
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, Number(args.startAt) - Date.now())));
  mixtape.start();
  await new Promise((resolve) => setTimeout(resolve, args.runForMs));
  await mixtape.close();
  print({ pid: process.pid, runs, errors });
}

function holdAndDie(): void {
  const db = openSqliteDatabase(join(dataDir!, 'mixtape.db'));
  const scheduler = new HousekeepingScheduler({
    leases: new SqliteTaskLeases(db),
    leaseTtlMs: args.ttlMs,
    tasks: [
      {
        name: args.task,
        intervalMs: 60_000,
        async run() {
          print({ pid: process.pid, holdingSince: Date.now() });
          process.kill(process.pid, 'SIGKILL');
          await new Promise(() => undefined);
        },
      },
    ],
    onError: (error) => process.stderr.write(`${String(error)}\n`),
  });
  scheduler.start();
  // The scheduler's timers are unref'd, as a server's are; this process has nothing else to do.
  setTimeout(() => undefined, 10_000);
}

if (command === 'mixtape') {
  mixtape().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exitCode = 1;
  });
} else if (command === 'hold-and-die') {
  holdAndDie();
} else {
  process.stderr.write(`unknown command ${command}\n`);
  process.exitCode = 1;
}
