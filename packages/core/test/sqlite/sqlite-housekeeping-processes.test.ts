import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, afterEach, describe, expect, it, vi } from 'vitest';
import { openSqliteDatabase, type SqliteDatabase } from '../../src/db/sqlite-database.js';
import { openSqliteBackends } from '../../src/embedded/sqlite-backends.js';
import { HousekeepingScheduler } from '../../src/housekeeping/housekeeping-scheduler.js';
import { SqliteTaskLeases } from '../../src/housekeeping/sqlite-task-leases.js';
import { bundleChildProgram, type ChildProgram } from './child-processes.js';

interface ChildRuns {
  pid: number;
  runs: { task: string; startedAt: number; durationMs: number }[];
  errors: string[];
}

const TASKS = [
  'auth:purge-expired-families',
  'consistency:reconcile',
  'counters:repair',
  'jobs:purge-finished',
  'jobs:reap-expired-leases',
  'search:relay-outbox',
  'storage:sweep-temps',
];

/**
 * Real processes over one data dir, each running a whole Mixtape's scheduler with its own
 * connection, event loop and crash: the named leases make each chore run in one process at a
 * time, once per interval across all of them.
 */
describe('housekeeping across processes sharing one data dir', () => {
  let program: ChildProgram;
  let dataDir: string;
  const dbs: SqliteDatabase[] = [];
  const schedulers: HousekeepingScheduler[] = [];

  beforeAll(async () => {
    // Every package stays outside the bundle: some are CommonJS, which an ES module bundle cannot require.
    program = await bundleChildProgram('./housekeeping-child.ts', { external: [/^[^./]/] });
  }, 60_000);
  afterAll(() => program?.remove());

  beforeEach(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'mixtape-housekeeping-processes-'));
    // Migrated once here, so that the children only open it.
    await (await openSqliteBackends({ dataDir })).close();
  });

  afterEach(async () => {
    await Promise.all(schedulers.splice(0).map((scheduler) => scheduler.close()));
    for (const db of dbs.splice(0)) db.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const run = (command: string, args: Record<string, unknown>) => program.run([command, dataDir, JSON.stringify(args)]);

  it('runs each chore once per interval across three processes, never once per process', async () => {
    const intervalMs = 400;
    const runForMs = 3_200;
    const startAt = Date.now() + 1_500;
    const results = await Promise.all([1, 2, 3].map(() => run('mixtape', { startAt, runForMs, intervalMs })));
    for (const result of results) expect(result.code, result.stderr).toBe(0);
    const children = results.map((result) => result.lines[0] as ChildRuns);
    expect(children.flatMap((child) => child.errors)).toEqual([]);

    const all = children.flatMap((child) => child.runs.map((run) => ({ ...run, pid: child.pid })));
    for (const task of TASKS) {
      const runs = all.filter((run) => run.task === task).sort((a, b) => a.startedAt - b.startedAt);
      // The heavy chores first run an interval after start; reaping and the outbox at once.
      // One process alone would run each about 8 times in 3.2 s; three alone, about 24.
      expect(runs.length, task).toBeGreaterThanOrEqual(4);
      expect(runs.length, task).toBeLessThanOrEqual(Math.floor(runForMs / intervalMs) + 1);
      for (let i = 1; i < runs.length; i += 1) {
        const previous = runs[i - 1]!;
        // Never two at once, and never two within one interval (a few ms for the clocks' rounding).
        expect(runs[i]!.startedAt, `${task} run ${i}`).toBeGreaterThanOrEqual(previous.startedAt + previous.durationMs);
        expect(runs[i]!.startedAt - previous.startedAt, `${task} run ${i}`).toBeGreaterThanOrEqual(intervalMs - 10);
      }
    }
    // Which process runs a chore is left to chance, but not all of it to the same one.
    expect(new Set(all.map((run) => run.pid)).size).toBeGreaterThan(1);
  }, 60_000);

  it('takes over the lease of a holder killed with SIGKILL once it expires, in exactly one process', async () => {
    const ttlMs = 800;
    const killed = await run('hold-and-die', { task: 'victim', ttlMs });
    expect(killed.signal).toBe('SIGKILL');
    const { holdingSince } = killed.lines[0] as { holdingSince: number };

    const takeovers: { owner: string; at: number }[] = [];
    for (const owner of ['survivor-a', 'survivor-b']) {
      const db = openSqliteDatabase(join(dataDir, 'mixtape.db'));
      dbs.push(db);
      const scheduler = new HousekeepingScheduler({
        owner,
        // No jitter: both try the moment the lease runs out, and the database picks one.
        jitter: 0,
        leases: new SqliteTaskLeases(db),
        tasks: [{ name: 'victim', intervalMs: 60_000, run: async () => takeovers.push({ owner, at: Date.now() }) }],
        onError: (error) => {
          throw error;
        },
      });
      schedulers.push(scheduler);
      scheduler.start();
    }
    await vi.waitFor(() => expect(takeovers).toHaveLength(1), { timeout: 5_000, interval: 10 });
    // Not before the dead holder's lease ran out, and soon after: the refusal said when to try again.
    expect(takeovers[0]!.at).toBeGreaterThanOrEqual(holdingSince + ttlMs - 10);
    expect(takeovers[0]!.at).toBeLessThan(holdingSince + ttlMs + 1_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(takeovers).toHaveLength(1);
  }, 60_000);
});
