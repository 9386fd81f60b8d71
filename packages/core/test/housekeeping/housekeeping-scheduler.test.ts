import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LockLostError, ShuttingDownError } from '../../src/errors.js';
import { HousekeepingScheduler, type HousekeepingSchedulerOptions, type HousekeepingTask } from '../../src/housekeeping/housekeeping-scheduler.js';
import { SqliteTaskLeases } from '../../src/housekeeping/sqlite-task-leases.js';
import type { TaskLeases } from '../../src/housekeeping/task-leases.js';
import { openTempSqlite, type TempSqlite } from '../sqlite/temp-sqlite.js';

/** A task that records when each of its runs started (by this clock) and what it was handed. */
function recorded(name: string, intervalMs: number, body: (signal: AbortSignal) => Promise<unknown> = async () => undefined) {
  const starts: number[] = [];
  const signals: AbortSignal[] = [];
  const task: HousekeepingTask = {
    name,
    intervalMs,
    async run(signal) {
      starts.push(performance.now());
      signals.push(signal);
      return body(signal);
    },
  };
  return { task, starts, signals };
}

const gaps = (starts: number[]) => starts.slice(1).map((start, i) => start - starts[i]!);

describe('HousekeepingScheduler over SQLite task leases', () => {
  let temp: TempSqlite;
  let leases: SqliteTaskLeases;
  const schedulers: HousekeepingScheduler[] = [];
  const errors: { error: unknown; task: string }[] = [];

  const schedule = (options: Partial<HousekeepingSchedulerOptions> & Pick<HousekeepingSchedulerOptions, 'tasks'>) => {
    const scheduler = new HousekeepingScheduler({
      leases,
      jitter: 0,
      onError: (error, task) => errors.push({ error, task }),
      ...options,
    });
    schedulers.push(scheduler);
    return scheduler;
  };

  beforeEach(() => {
    temp = openTempSqlite();
    leases = new SqliteTaskLeases(temp.db);
    errors.length = 0;
  });

  afterEach(async () => {
    await Promise.all(schedulers.splice(0).map((scheduler) => scheduler.close()));
    await temp.close();
  });

  it('runs a due task at once, then once per interval', async () => {
    const { task, starts } = recorded('tick', 100);
    const scheduler = schedule({ tasks: [task] });
    const started = performance.now();
    scheduler.start();
    await sleep(560);
    await scheduler.close();
    expect(starts[0]! - started).toBeLessThan(50);
    // 0, 100, ..., 500 ms: six at most; a loaded machine may fire a timer late, never early.
    expect(starts.length).toBeGreaterThanOrEqual(4);
    expect(starts.length).toBeLessThanOrEqual(6);
    for (const gap of gaps(starts)) expect(gap).toBeGreaterThanOrEqual(95);
    expect(errors).toEqual([]);
  });

  it('waits for firstDelayMs before the first try', async () => {
    const { task, starts } = recorded('later', 1000);
    const scheduler = schedule({ tasks: [{ ...task, firstDelayMs: 150 }] });
    const started = performance.now();
    scheduler.start();
    await sleep(100);
    expect(starts).toEqual([]);
    await vi.waitFor(() => expect(starts).toHaveLength(1), { timeout: 1000, interval: 10 });
    expect(starts[0]! - started).toBeGreaterThanOrEqual(145);
  });

  it('runs a task once per interval across schedulers sharing the leases, not once per scheduler', async () => {
    const runs: string[] = [];
    const starts: number[] = [];
    const task = (owner: string): HousekeepingTask => ({
      name: 'shared',
      intervalMs: 100,
      run: async () => {
        runs.push(owner);
        starts.push(performance.now());
        await sleep(10);
      },
    });
    // Short leases, so that a scheduler refused while another runs the task tries again soon.
    const three = ['a', 'b', 'c'].map((owner) =>
      schedule({ owner, leaseTtlMs: 60, leases: new SqliteTaskLeases(temp.connect()), tasks: [task(owner)] }),
    );
    for (const scheduler of three) scheduler.start();
    await sleep(560);
    await Promise.all(three.map((scheduler) => scheduler.close()));
    // Each alone would run it six times; together they still run it at most six times.
    expect(runs.length).toBeGreaterThanOrEqual(4);
    expect(runs.length).toBeLessThanOrEqual(6);
    for (const gap of gaps(starts)) expect(gap).toBeGreaterThanOrEqual(95);
    expect(errors).toEqual([]);
  });

  it('skips a task whose lease is held elsewhere, and runs it once that lease runs out', async () => {
    expect((await leases.tryAcquire('held', 'another-process', 300)).acquired).toBe(true);
    const { task, starts } = recorded('held', 50);
    const free = recorded('free', 10_000);
    const scheduler = schedule({ tasks: [task, free.task] });
    const started = performance.now();
    scheduler.start();
    await sleep(200);
    expect(starts).toEqual([]);
    expect(free.starts).toHaveLength(1);
    await vi.waitFor(() => expect(starts.length).toBeGreaterThan(0), { timeout: 2000, interval: 10 });
    expect(starts[0]! - started).toBeGreaterThanOrEqual(280);
    expect(starts[0]! - started).toBeLessThan(1000);
  });

  it('renews the lease while its task runs, so that no one takes it over meanwhile', async () => {
    let finished = false;
    const { task, starts } = recorded('long', 10_000, async () => {
      await sleep(400);
      finished = true;
    });
    const scheduler = schedule({ tasks: [task], leaseTtlMs: 90 });
    scheduler.start();
    await vi.waitFor(() => expect(starts).toHaveLength(1), { timeout: 1000, interval: 5 });
    const other = new SqliteTaskLeases(temp.connect());
    while (!finished) {
      expect((await other.tryAcquire('long', 'another-process', 10_000)).acquired).toBe(false);
      await sleep(30);
    }
    // Done, and rested until it is due again: still no one else's.
    await sleep(20);
    expect((await other.tryAcquire('long', 'another-process', 10_000)).acquired).toBe(false);
    expect(errors).toEqual([]);
  });

  it('aborts the signal of a task whose lease was taken over, and reports it', async () => {
    const { task, signals } = recorded('stolen', 10_000, (signal) => new Promise((resolve) => signal.addEventListener('abort', resolve)));
    const scheduler = schedule({ tasks: [task], leaseTtlMs: 60 });
    scheduler.start();
    await vi.waitFor(() => expect(signals).toHaveLength(1), { timeout: 1000, interval: 5 });
    // Another process took it over (as it may once a holder stalled past its lease).
    temp.db.prepare("UPDATE task_leases SET owner = 'thief' WHERE name = 'stolen'").run();
    await vi.waitFor(() => expect(signals[0]!.aborted).toBe(true), { timeout: 1000, interval: 5 });
    expect(signals[0]!.reason).toBeInstanceOf(LockLostError);
    expect(errors).toEqual([{ error: signals[0]!.reason, task: 'stolen' }]);
    await sleep(50);
    expect(temp.db.prepare("SELECT owner FROM task_leases WHERE name = 'stolen'").pluck().get()).toBe('thief');
  });

  it('reports what a task throws, with its name, and runs it again at its next interval', async () => {
    const boom = new Error('boom');
    const { task, starts } = recorded('failing', 80, async () => {
      throw boom;
    });
    const scheduler = schedule({ tasks: [task] });
    scheduler.start();
    await vi.waitFor(() => expect(starts).toHaveLength(3), { timeout: 2000, interval: 5 });
    await scheduler.close();
    expect(errors.length).toBeGreaterThanOrEqual(3);
    expect(errors.slice(0, 3)).toEqual([0, 1, 2].map(() => ({ error: boom, task: 'failing' })));
    for (const gap of gaps(starts)) expect(gap).toBeGreaterThanOrEqual(75);
  });

  it('reports a lease store that cannot answer, and tries again later', async () => {
    const fault = new Error('database is locked');
    let calls = 0;
    const flaky: TaskLeases = {
      tryAcquire: async (...args) => (++calls === 1 ? Promise.reject(fault) : leases.tryAcquire(...args)),
      renew: (...args) => leases.renew(...args),
      release: (...args) => leases.release(...args),
    };
    const { task, starts } = recorded('flaky', 100);
    const scheduler = schedule({ leases: flaky, tasks: [task] });
    scheduler.start();
    await vi.waitFor(() => expect(starts).toHaveLength(1), { timeout: 1000, interval: 5 });
    expect(errors).toEqual([{ error: fault, task: 'flaky' }]);
  });

  it('passes what a run returned to onRun', async () => {
    const ran: unknown[] = [];
    const { task } = recorded('counting', 10_000, async () => ({ purged: 3 }));
    const scheduler = schedule({ tasks: [task], onRun: (run) => ran.push(run) });
    scheduler.start();
    await vi.waitFor(() => expect(ran).toHaveLength(1), { timeout: 1000, interval: 5 });
    expect(ran[0]).toMatchObject({ task: 'counting', result: { purged: 3 }, startedAt: expect.any(Date), durationMs: expect.any(Number) });
  });

  it('spreads its waits by the jitter', async () => {
    const { task, starts } = recorded('jittered', 100);
    const scheduler = schedule({ tasks: [task], jitter: 0.5, random: () => 1 });
    scheduler.start();
    await vi.waitFor(() => expect(starts).toHaveLength(2), { timeout: 1000, interval: 5 });
    expect(gaps(starts)[0]).toBeGreaterThanOrEqual(145);
  });

  it('is safe to start and close twice, and starts nothing once closed', async () => {
    const { task, starts } = recorded('once', 10_000);
    const scheduler = schedule({ tasks: [task] });
    scheduler.start();
    scheduler.start();
    await vi.waitFor(() => expect(starts).toHaveLength(1), { timeout: 1000, interval: 5 });
    await sleep(30);
    expect(starts).toHaveLength(1);
    await Promise.all([scheduler.close(), scheduler.close()]);
    await scheduler.close();

    const { task: late, starts: lateStarts } = recorded('never', 10);
    const closed = schedule({ tasks: [late] });
    await closed.close();
    closed.start();
    await sleep(50);
    expect(lateStarts).toEqual([]);
  });

  it('on close, aborts a running task and waits for it to end, then frees its lease for another process', async () => {
    let ended = false;
    const { task, signals } = recorded('slow', 10_000, async (signal) => {
      await new Promise((resolve) => signal.addEventListener('abort', resolve));
      await sleep(100);
      ended = true;
      signal.throwIfAborted();
    });
    const scheduler = schedule({ tasks: [task] });
    scheduler.start();
    await vi.waitFor(() => expect(signals).toHaveLength(1), { timeout: 1000, interval: 5 });
    await scheduler.close();
    expect(ended).toBe(true);
    expect(signals[0]!.reason).toBeInstanceOf(ShuttingDownError);
    // It was cut short, so it is not rested: another process may redo it at once.
    expect((await leases.tryAcquire('slow', 'another-process', 1000)).acquired).toBe(true);
  });

  it('waits no longer than closeTimeoutMs for a task that ignores its signal', async () => {
    const { task, starts } = recorded('stubborn', 10_000, () => sleep(2_000));
    const scheduler = schedule({ tasks: [task], closeTimeoutMs: 100 });
    scheduler.start();
    await vi.waitFor(() => expect(starts).toHaveLength(1), { timeout: 1000, interval: 5 });
    const closing = performance.now();
    await scheduler.close();
    expect(performance.now() - closing).toBeLessThan(500);
    expect(performance.now() - closing).toBeGreaterThanOrEqual(95);
  });

  it('refuses two tasks of one name, and intervals below a millisecond', () => {
    const { task } = recorded('twice', 100);
    expect(() => schedule({ tasks: [task, task] })).toThrow(/scheduled twice/);
    expect(() => schedule({ tasks: [{ ...task, intervalMs: 0 }] })).toThrow(/intervalMs/);
  });
});
