import { describe, expect, it } from 'vitest';
import { ConfigError, UnavailableError } from '../../src/errors.js';
import { LocalCallBudget } from '../../src/metadata/local-call-budget.js';
import { rejection } from '../support/rejection.js';

/** A budget on a fake clock whose sleeps move the clock and are recorded. */
function fakeBudget(options: { limit?: number; windowMs?: number; maxWaitMs?: number } = {}) {
  const clock = { now: 5_000_000 };
  const sleeps: number[] = [];
  const budget = new LocalCallBudget({
    name: 'spotify',
    limit: 5,
    windowMs: 1000,
    maxWaitMs: 500,
    ...options,
    now: () => clock.now,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
  });
  return { clock, sleeps, budget };
}

describe('LocalCallBudget', () => {
  it('lets a burst of `limit` calls through at once, then makes the next wait one token’s time', async () => {
    const { budget, sleeps } = fakeBudget();
    for (let i = 0; i < 5; i += 1) await budget.take();
    expect(sleeps).toEqual([]);
    // 5 per second: a token every 200 ms, reserved in turn.
    await budget.take();
    await budget.take();
    expect(sleeps).toEqual([200, 400]);
    expect(budget.backend).toBe('local');
  });

  it('refuses at once when the wait would pass maxWaitMs, taking nothing', async () => {
    const { budget, clock } = fakeBudget({ maxWaitMs: 300 });
    for (let i = 0; i < 6; i += 1) await budget.take();
    const error = await rejection(budget.take());
    expect(error).toBeInstanceOf(UnavailableError);
    expect((error as UnavailableError).retryAfterMs).toBe(400);
    expect((error as Error).message).toContain('budget is spent');
    // The refusal took nothing: 200 ms later exactly one token's wait is left.
    clock.now += 200;
    expect(budget.reserve()).toEqual({ taken: true, waitMs: 200, paused: false });
  });

  it('refills continuously, never above the limit', async () => {
    const { budget, clock, sleeps } = fakeBudget();
    for (let i = 0; i < 5; i += 1) await budget.take();
    clock.now += 600; // three tokens back
    for (let i = 0; i < 3; i += 1) await budget.take();
    expect(sleeps).toEqual([]);
    clock.now += 60_000;
    let immediate = 0;
    while (budget.reserve().waitMs === 0) immediate += 1;
    expect(immediate).toBe(5);
  });

  it('a pause holds every take until it ends: waited out when short, refused when long', async () => {
    const { budget, clock, sleeps } = fakeBudget();
    await budget.pause(300);
    expect(await budget.pausedForMs()).toBe(300);
    await budget.take();
    expect(sleeps).toEqual([300]);

    await budget.pause(2000);
    await budget.pause(1000); // a shorter pause does not cut the longer one short
    clock.now += 500;
    expect(await budget.pausedForMs()).toBe(1500);
    const error = await rejection(budget.take());
    expect(error).toBeInstanceOf(UnavailableError);
    expect((error as UnavailableError).retryAfterMs).toBe(1500);
    expect((error as Error).message).toContain('asked for a pause');
    clock.now += 1500;
    expect(await budget.pausedForMs()).toBe(0);
    await budget.take();
    expect(sleeps).toEqual([300]);
    await budget.pause(0);
    expect(await budget.pausedForMs()).toBe(0);
  });

  it('waits for real by default, and an abort ends the wait with the caller’s reason', async () => {
    const budget = new LocalCallBudget({ name: 'spotify', limit: 1, windowMs: 100, maxWaitMs: 1000 });
    await budget.take();
    const started = performance.now();
    await budget.take();
    expect(performance.now() - started).toBeGreaterThanOrEqual(90);
    const controller = new AbortController();
    const waiting = budget.take(controller.signal);
    setTimeout(() => controller.abort(new Error('caller gave up')), 20);
    const error = await rejection(waiting);
    expect((error as Error).message).toBe('caller gave up');
    expect(performance.now() - started).toBeLessThan(180);
  });

  it('refuses settings that cannot hold', () => {
    expect(() => new LocalCallBudget({ name: 'spotify', limit: 0, windowMs: 1000 })).toThrow(ConfigError);
    expect(() => new LocalCallBudget({ name: 'spotify', limit: 1, windowMs: 0.5 })).toThrow(ConfigError);
    expect(() => new LocalCallBudget({ name: 'spotify', limit: 1, windowMs: 1000, maxWaitMs: -1 })).toThrow(ConfigError);
    expect(() => new LocalCallBudget({ name: 'Spotify budget', limit: 1, windowMs: 1000 })).toThrow(ConfigError);
  });
});
