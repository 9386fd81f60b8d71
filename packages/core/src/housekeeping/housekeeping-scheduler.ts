import { randomBytes } from 'node:crypto';
import { LockLostError, ShuttingDownError, ValidationError } from '../errors.js';
import type { TaskLeases } from './task-leases.js';

/** A periodic chore that one process at a time runs, whichever processes schedule it. */
export interface HousekeepingTask {
  /** The name of its lease, the same in every process. */
  readonly name: string;
  /** How often it runs, across all processes. */
  readonly intervalMs: number;
  /** How long after `start()` this process first tries it (default 0: at once). */
  readonly firstDelayMs?: number;
  /**
   * Does the chore once and says what it did (passed to `onRun`). `signal` aborts when the
   * lease is lost or the scheduler closes; a long task checks it between batches.
   */
  run(signal: AbortSignal): Promise<unknown>;
}

/** One run of a task in this process. */
export interface TaskRun {
  task: string;
  startedAt: Date;
  durationMs: number;
  /** What `run` returned. */
  result: unknown;
}

export interface HousekeepingSchedulerOptions {
  leases: TaskLeases;
  tasks: readonly HousekeepingTask[];
  /**
   * Every fault: a task that threw, a lease lost while its task ran, a lease store that could
   * not answer. The scheduler carries on; nothing is thrown into its timer.
   */
  onError: (error: unknown, task: string) => void;
  onRun?: (run: TaskRun) => void;
  /** This scheduler's name in the leases (default: the process id and a random part). */
  owner?: string;
  /** How long a lease lives without renewal while its task runs (default 30 s); renewed every third of it. */
  leaseTtlMs?: number;
  /** Each wait is stretched by up to this fraction of the interval, so processes do not try in step (default 0.1). */
  jitter?: number;
  /** How long `close` waits for running tasks (default 10 s). */
  closeTimeoutMs?: number;
  random?: () => number;
}

interface Slot {
  task: HousekeepingTask;
  /** `performance.now()` from when this process tries the task next. */
  dueAt: number;
  running?: Promise<void>;
  abort?: AbortController;
}

/** setTimeout's longest delay. */
const MAX_DELAY_MS = 2 ** 31 - 1;

/**
 * Runs housekeeping tasks on their intervals, each under its named lease, so that with N
 * processes scheduling the same tasks, each runs in one process at a time and once per
 * interval across them: when a task is due here, the scheduler tries its lease and runs it
 * only if acquired, renews the lease while it runs, then rests the lease until the task is
 * due again. A task held elsewhere is tried again when that lease runs out.
 *
 * One timer, armed for the next due task. Tasks run concurrently with each other, each once
 * at a time. `start()` and `close()` are safe to call twice; `close` waits (bounded) for the
 * tasks running.
 */
export class HousekeepingScheduler {
  readonly owner: string;
  readonly #options: HousekeepingSchedulerOptions;
  readonly #leaseTtlMs: number;
  readonly #jitter: number;
  readonly #random: () => number;
  readonly #slots: Slot[];
  #timer: NodeJS.Timeout | undefined;
  #started = false;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(options: HousekeepingSchedulerOptions) {
    this.#options = options;
    this.owner = options.owner ?? `${process.pid}-${randomBytes(6).toString('base64url')}`;
    this.#leaseTtlMs = options.leaseTtlMs ?? 30_000;
    this.#jitter = options.jitter ?? 0.1;
    this.#random = options.random ?? Math.random;
    if (!(this.#leaseTtlMs >= 3)) throw ValidationError.field('leaseTtlMs', 'must be at least 3 ms');
    if (!(this.#jitter >= 0 && this.#jitter <= 1)) throw ValidationError.field('jitter', 'must be between 0 and 1');
    const names = new Set<string>();
    for (const task of options.tasks) {
      if (names.has(task.name)) throw ValidationError.field('tasks', `${task.name} is scheduled twice`);
      if (!(task.intervalMs >= 1)) throw ValidationError.field('tasks', `${task.name}: intervalMs must be at least 1`);
      names.add(task.name);
    }
    this.#slots = options.tasks.map((task) => ({ task, dueAt: 0 }));
  }

  get taskNames(): string[] {
    return this.#slots.map((slot) => slot.task.name);
  }

  /** Tries each task after its `firstDelayMs`, then on its interval. Does nothing once closed. */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    const now = performance.now();
    for (const slot of this.#slots) {
      const delay = slot.task.firstDelayMs ?? 0;
      slot.dueAt = now + (delay > 0 ? delay + this.#spread(delay) : 0);
    }
    this.#arm();
  }

  /**
   * Stops trying tasks, aborts the signals of those running, and waits for them up to
   * `closeTimeoutMs`. Safe to call twice.
   */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    clearTimeout(this.#timer);
    for (const slot of this.#slots) slot.abort?.abort(new ShuttingDownError());
    const running = this.#slots.flatMap((slot) => (slot.running ? [slot.running] : []));
    this.#closing = running.length === 0 ? Promise.resolve() : this.#within(this.#options.closeTimeoutMs ?? 10_000, Promise.all(running));
    return this.#closing;
  }

  #arm(): void {
    clearTimeout(this.#timer);
    if (this.#closed) return;
    const waiting = this.#slots.filter((slot) => !slot.running);
    if (waiting.length === 0) return;
    const next = Math.min(...waiting.map((slot) => slot.dueAt));
    this.#timer = setTimeout(() => this.#tick(), Math.min(MAX_DELAY_MS, Math.max(0, next - performance.now())));
    this.#timer.unref();
  }

  #tick(): void {
    const now = performance.now();
    for (const slot of this.#slots) {
      if (slot.running || slot.dueAt > now) continue;
      slot.running = this.#attempt(slot)
        .catch((error: unknown) => this.#report(error, slot.task.name))
        .finally(() => {
          slot.running = undefined;
          this.#arm();
        });
    }
    this.#arm();
  }

  async #attempt(slot: Slot): Promise<void> {
    const { task } = slot;
    const { leases } = this.#options;
    let attempt;
    try {
      attempt = await leases.tryAcquire(task.name, this.owner, this.#leaseTtlMs);
    } catch (error) {
      this.#report(error, task.name);
      slot.dueAt = performance.now() + Math.min(task.intervalMs, this.#leaseTtlMs) + this.#spread(task.intervalMs);
      return;
    }
    if (!attempt.acquired) {
      slot.dueAt = performance.now() + attempt.retryInMs + this.#spread(task.intervalMs);
      return;
    }
    if (this.#closed) {
      await leases.release(task.name, this.owner).catch((error: unknown) => this.#report(error, task.name));
      return;
    }
    const startedAt = new Date();
    const started = performance.now();
    const abort = new AbortController();
    slot.abort = abort;
    const renewal = this.#keepAlive(task.name, abort);
    let cutShort = false;
    try {
      const result = await task.run(abort.signal);
      this.#options.onRun?.({ task: task.name, startedAt, durationMs: performance.now() - started, result });
    } catch (error) {
      cutShort = abort.signal.aborted;
      this.#report(error, task.name);
    } finally {
      clearInterval(renewal);
      slot.abort = undefined;
    }
    // Rested until the task is due again; a run a shutdown cut short is for another process to redo.
    const holdMs = cutShort ? 0 : Math.max(0, task.intervalMs - (performance.now() - started));
    if (!(abort.signal.reason instanceof LockLostError)) {
      await leases.release(task.name, this.owner, holdMs).catch((error: unknown) => this.#report(error, task.name));
    }
    slot.dueAt = started + task.intervalMs + this.#spread(task.intervalMs);
  }

  /** Renews every third of the TTL; a renewal refused means another process took the lease over. */
  #keepAlive(name: string, abort: AbortController): NodeJS.Timeout {
    let renewing = false;
    const timer = setInterval(() => {
      if (renewing || abort.signal.aborted) return;
      renewing = true;
      this.#options.leases
        .renew(name, this.owner, this.#leaseTtlMs)
        .then((held) => {
          if (held || abort.signal.aborted) return;
          const lost = new LockLostError(`housekeeping:${name}`);
          abort.abort(lost);
          this.#report(lost, name);
        })
        .catch((error: unknown) => this.#report(error, name))
        .finally(() => (renewing = false));
    }, Math.floor(this.#leaseTtlMs / 3));
    timer.unref();
    return timer;
  }

  #report(error: unknown, task: string): void {
    try {
      this.#options.onError(error, task);
    } catch {
      // A faulty hook must not stop the scheduler; there is nowhere further to report it.
    }
  }

  #spread(ms: number): number {
    return ms * this.#jitter * this.#random();
  }

  #within(ms: number, work: Promise<unknown>): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      timer.unref();
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      work.then(done, done);
    });
  }
}
