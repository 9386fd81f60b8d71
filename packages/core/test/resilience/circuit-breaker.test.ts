import { describe, expect, it } from 'vitest';
import { ConfigError, UnavailableError } from '../../src/errors.js';
import { CircuitBreaker, type CircuitState } from '../../src/resilience/circuit-breaker.js';
import { rejection } from '../support/rejection.js';

const boom = () => Promise.reject(new Error('boom'));
const ok = () => Promise.resolve('ok');

describe('CircuitBreaker', () => {
  const setup = (options: { failureThreshold?: number; openMs?: number; maxOpenMs?: number } = {}) => {
    const clock = { now: 1_000_000 };
    const breaker = new CircuitBreaker({ name: 'Dep', failureThreshold: 3, openMs: 1000, maxOpenMs: 4000, ...options, now: () => clock.now });
    const changes: CircuitState[] = [];
    breaker.onChange((state) => changes.push(state));
    let calls = 0;
    const counted = (call: () => Promise<string>) => () => {
      calls += 1;
      return call();
    };
    return { clock, breaker, changes, calls: () => calls, counted };
  };

  it('opens after the threshold of consecutive failures, and a success in between resets the count', async () => {
    const { breaker, changes, counted, calls } = setup();
    await rejection(breaker.run(counted(boom)));
    await rejection(breaker.run(counted(boom)));
    expect(await breaker.run(counted(ok))).toBe('ok');
    await rejection(breaker.run(counted(boom)));
    await rejection(breaker.run(counted(boom)));
    expect(breaker.state).toBe('closed');
    await rejection(breaker.run(counted(boom)));
    expect(breaker.state).toBe('open');
    expect(changes).toEqual(['open']);
    expect(calls()).toBe(6);
  });

  it('fails fast while open, without calling, with the time left as retryAfterMs', async () => {
    const { clock, breaker, counted, calls } = setup();
    for (let i = 0; i < 3; i += 1) await rejection(breaker.run(counted(boom)));
    clock.now += 400;
    const error = await rejection(breaker.run(counted(ok)));
    expect(error).toBeInstanceOf(UnavailableError);
    expect((error as UnavailableError).retryAfterMs).toBe(600);
    expect((error as Error).message).toContain('Dep');
    expect(breaker.retryAfterMs).toBe(600);
    expect(calls()).toBe(3);
  });

  it('lets one probe through when half-open while the others still fail fast', async () => {
    const { clock, breaker, counted, calls } = setup();
    for (let i = 0; i < 3; i += 1) await rejection(breaker.run(counted(boom)));
    clock.now += 1000;
    expect(breaker.state).toBe('half-open');
    let finishProbe!: (value: string) => void;
    const probe = breaker.run(counted(() => new Promise<string>((resolve) => (finishProbe = resolve))));
    expect(breaker.state).toBe('open');
    const others = await Promise.allSettled([breaker.run(counted(ok)), breaker.run(counted(ok))]);
    expect(others.map((outcome) => outcome.status)).toEqual(['rejected', 'rejected']);
    expect(calls()).toBe(4);
    finishProbe('probed');
    expect(await probe).toBe('probed');
    expect(breaker.state).toBe('closed');
  });

  it('doubles its open time with each failed probe, up to maxOpenMs, and closes on the first success', async () => {
    const { clock, breaker, changes } = setup();
    for (let i = 0; i < 3; i += 1) await rejection(breaker.run(boom));
    const openTimes: number[] = [breaker.retryAfterMs];
    for (let i = 0; i < 4; i += 1) {
      clock.now += breaker.retryAfterMs;
      await rejection(breaker.run(boom));
      openTimes.push(breaker.retryAfterMs);
    }
    expect(openTimes).toEqual([1000, 2000, 4000, 4000, 4000]);
    clock.now += 3999;
    expect(breaker.state).toBe('open');
    clock.now += 1;
    expect(await breaker.run(ok)).toBe('ok');
    expect(breaker.state).toBe('closed');
    expect(breaker.retryAfterMs).toBe(0);
    // Closed afresh: the next opening starts at openMs again.
    for (let i = 0; i < 3; i += 1) await rejection(breaker.run(boom));
    expect(breaker.retryAfterMs).toBe(1000);
    expect(changes).toEqual(['open', 'closed', 'open']);
  });

  it('counts only the failures isFailure names; a probe that fails otherwise frees the probe slot', async () => {
    const { clock, breaker } = setup({ failureThreshold: 1 });
    const notMine = (error: unknown) => !(error instanceof Error && error.message === 'not found');
    for (let i = 0; i < 5; i += 1) await rejection(breaker.run(() => Promise.reject(new Error('not found')), notMine));
    expect(breaker.state).toBe('closed');
    await rejection(breaker.run(boom, notMine));
    clock.now += 1000;
    await rejection(breaker.run(() => Promise.reject(new Error('not found')), notMine));
    // The probe's outcome said nothing about the dependency: another may probe at once, and
    // only that one's failure doubles the time open (to 2 s, not 4 s).
    expect(breaker.state).toBe('half-open');
    await rejection(breaker.run(boom, notMine));
    expect(breaker.retryAfterMs).toBe(2000);
  });

  it('openFor opens it for the time given, keeps a longer opening, and a success after closes it', async () => {
    const { clock, breaker, changes, counted, calls } = setup();
    breaker.openFor(5000);
    expect(breaker.state).toBe('open');
    breaker.openFor(2000);
    expect(breaker.retryAfterMs).toBe(5000);
    expect(await rejection(breaker.run(counted(ok)))).toBeInstanceOf(UnavailableError);
    expect(calls()).toBe(0);
    clock.now += 5000;
    expect(await breaker.run(counted(ok))).toBe('ok');
    expect(breaker.state).toBe('closed');
    expect(changes).toEqual(['open', 'closed']);
  });

  it('a failure of a call let through before the circuit opened does not extend it', async () => {
    const { breaker } = setup({ failureThreshold: 2 });
    let failLate!: (error: Error) => void;
    const late = breaker.run(() => new Promise<string>((_resolve, reject) => (failLate = reject)));
    await rejection(breaker.run(boom));
    await rejection(breaker.run(boom));
    expect(breaker.retryAfterMs).toBe(1000);
    failLate(new Error('late'));
    await rejection(late);
    expect(breaker.retryAfterMs).toBe(1000);
  });

  it('probeNow lets the next call through at once, keeping the backoff for a probe that fails', async () => {
    const { clock, breaker, changes, counted, calls } = setup({ maxOpenMs: 30_000 });
    for (let i = 0; i < 3; i += 1) await rejection(breaker.run(counted(boom)));
    for (let i = 0; i < 3; i += 1) {
      clock.now += breaker.retryAfterMs;
      await rejection(breaker.run(counted(boom)));
    }
    expect(breaker.retryAfterMs).toBe(8000);
    breaker.probeNow();
    expect(breaker.state).toBe('half-open');
    // One probe at a time still: while it is out, the others fail fast, and probeNow changes nothing.
    let failProbe!: (error: Error) => void;
    const probe = breaker.run(counted(() => new Promise<string>((_resolve, reject) => (failProbe = reject))));
    breaker.probeNow();
    expect(await rejection(breaker.run(counted(ok)))).toBeInstanceOf(UnavailableError);
    failProbe(new Error('still down'));
    await rejection(probe);
    expect(breaker.retryAfterMs).toBe(16_000);
    breaker.probeNow();
    expect(await breaker.run(counted(ok))).toBe('ok');
    expect(breaker.state).toBe('closed');
    expect(calls()).toBe(8);
    // Closed, it does nothing.
    breaker.probeNow();
    expect(breaker.state).toBe('closed');
    expect(changes).toEqual(['open', 'closed']);
  });

  it('stops telling a listener that unsubscribed, and refuses bad settings', async () => {
    const { breaker, changes } = setup({ failureThreshold: 1 });
    const other: CircuitState[] = [];
    const stop = breaker.onChange((state) => other.push(state));
    stop();
    await rejection(breaker.run(boom));
    expect(changes).toEqual(['open']);
    expect(other).toEqual([]);
    expect(() => new CircuitBreaker({ name: 'x', failureThreshold: 0 })).toThrow(ConfigError);
    expect(() => new CircuitBreaker({ name: 'x', openMs: 2000, maxOpenMs: 1000 })).toThrow(ConfigError);
  });
});
