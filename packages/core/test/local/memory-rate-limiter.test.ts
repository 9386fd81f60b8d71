import { describe, expect, it } from 'vitest';
import { MemoryRateLimiter } from '../../src/ratelimit/memory-rate-limiter.js';
import { describeRateLimiter } from '../contracts/rate-limiter.contract.js';

/** A clock the test moves by hand, so windows expire without sleeping. */
function fakeClock(start = 1_700_000_000_000) {
  let time = start;
  return {
    now: () => time,
    advance: async (ms: number) => {
      time += ms;
    },
  };
}

describeRateLimiter('memory, fake clock', async () => {
  const clock = fakeClock();
  const subject = new MemoryRateLimiter({ now: clock.now });
  await subject.start();
  return { subject, close: () => subject.close(), ...clock };
});

describeRateLimiter('memory, real clock', async () => {
  const subject = new MemoryRateLimiter();
  await subject.start();
  return { subject, close: () => subject.close() };
});

describe('MemoryRateLimiter', () => {
  const policy = { name: 'global', limit: 3, windowMs: 1000 };

  it('never tracks more than maxKeys windows, forgetting the oldest', async () => {
    const clock = fakeClock();
    const limiter = new MemoryRateLimiter({ now: clock.now, maxKeys: 100 });
    for (let i = 0; i < 5000; i += 1) {
      await limiter.hit(policy, `ip-${i}`);
      await clock.advance(0.01);
      expect(limiter.size).toBeLessThanOrEqual(100);
    }
    expect(limiter.size).toBe(100);
    // The newest keys are still counted; the oldest were forgotten.
    expect((await limiter.peek(policy, 'ip-4999')).remaining).toBe(2);
    expect((await limiter.peek(policy, 'ip-0')).remaining).toBe(3);
  });

  it('drops expired windows lazily as new ones start', async () => {
    const clock = fakeClock();
    const limiter = new MemoryRateLimiter({ now: clock.now });
    for (let i = 0; i < 50; i += 1) await limiter.hit(policy, `old-${i}`);
    expect(limiter.size).toBe(50);
    await clock.advance(1000);
    await limiter.hit(policy, 'new');
    expect(limiter.size).toBe(1);
  });

  it('sweeps expired windows and leaves live ones', async () => {
    const clock = fakeClock();
    const limiter = new MemoryRateLimiter({ now: clock.now });
    const long = { name: 'register', limit: 5, windowMs: 60_000 };
    await limiter.hit(policy, 'a');
    await limiter.hit(policy, 'b');
    await limiter.hit(long, 'a');
    await clock.advance(1000);

    expect(limiter.sweep()).toBe(2);
    expect(limiter.size).toBe(1);
    expect((await limiter.peek(long, 'a')).remaining).toBe(4);
  });

  it('sweeps on its timer between start and close, both safe twice', async () => {
    const clock = fakeClock();
    const limiter = new MemoryRateLimiter({ now: clock.now, sweepIntervalMs: 10 });
    await limiter.start();
    await limiter.start();
    await limiter.hit(policy, 'a');
    await limiter.hit({ ...policy, name: 'other' }, 'a');
    await clock.advance(1000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(limiter.size).toBe(0);

    await limiter.close();
    await limiter.close();
    await limiter.hit(policy, 'b');
    await clock.advance(1000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(limiter.size).toBe(1);
  });

  it('rejects invalid options and policies as configuration errors', async () => {
    expect(() => new MemoryRateLimiter({ maxKeys: 0 })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG' }));
    const limiter = new MemoryRateLimiter();
    await expect(limiter.hit({ name: 'broken', limit: 1.5, windowMs: 1000 }, 'k')).rejects.toMatchObject({ code: 'ERR_CONFIG' });
    await expect(limiter.peek({ name: 'broken', limit: 1, windowMs: 0 }, 'k')).rejects.toMatchObject({ code: 'ERR_CONFIG' });
  });

  it('refuses every hit under a limit of 0', async () => {
    const limiter = new MemoryRateLimiter();
    const closed = { name: 'closed', limit: 0, windowMs: 1000 };
    expect(await limiter.peek(closed, 'k')).toMatchObject({ allowed: false, remaining: 0 });
    const decision = await limiter.hit(closed, 'k');
    expect(decision.allowed).toBe(false);
    expect(decision.retryAfterMs).toBeGreaterThan(0);
  });
});
