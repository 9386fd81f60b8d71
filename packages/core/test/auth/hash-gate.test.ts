import { describe, expect, it } from 'vitest';
import { ConfigError, HashGate, UnavailableError } from '../../src/index.js';

/** Work that finishes only when told to, recording how many ran at once. */
function heldWork() {
  let active = 0;
  let peak = 0;
  let started = 0;
  const releases: Array<() => void> = [];
  const work = () => {
    started += 1;
    active += 1;
    peak = Math.max(peak, active);
    return new Promise<number>((resolve) => {
      releases.push(() => {
        active -= 1;
        resolve(started);
      });
    });
  };
  return {
    work,
    get peak() {
      return peak;
    },
    get started() {
      return started;
    },
    /** Lets work finish as it starts until `count` pieces have started, and those have finished. */
    async finish(count: number) {
      while (started < count || releases.length > 0) {
        for (const release of releases.splice(0)) release();
        await new Promise((resolve) => setImmediate(resolve));
      }
    },
  };
}

describe('HashGate', () => {
  it('never runs more than its concurrency at once, and runs every admitted caller in the end', async () => {
    const gate = new HashGate({ concurrency: 2, maxWaiting: 10 });
    const held = heldWork();
    const runs = Array.from({ length: 12 }, () => gate.run(held.work));
    await new Promise((resolve) => setImmediate(resolve));
    expect(held.started).toBe(2);
    expect(gate.running).toBe(2);
    expect(gate.waiting).toBe(10);
    await held.finish(12);
    expect((await Promise.all(runs)).length).toBe(12);
    expect(held.peak).toBe(2);
    expect(gate.running).toBe(0);
    expect(gate.waiting).toBe(0);
  });

  it('refuses at once with UnavailableError and retryAfterMs beyond the queue, and never runs that work', async () => {
    const gate = new HashGate({ concurrency: 2, maxWaiting: 3, retryAfterMs: 1500 });
    const held = heldWork();
    const admitted = Array.from({ length: 5 }, () => gate.run(held.work));
    const refusals = await Promise.allSettled(Array.from({ length: 20 }, () => gate.run(held.work)));
    for (const refusal of refusals) {
      expect(refusal.status).toBe('rejected');
      const reason = (refusal as PromiseRejectedResult).reason;
      expect(reason).toBeInstanceOf(UnavailableError);
      expect(reason).toMatchObject({ code: 'ERR_UNAVAILABLE', retryAfterMs: 1500 });
    }
    await held.finish(5);
    await Promise.all(admitted);
    // Only the admitted five ever ran, two at a time.
    expect(held.started).toBe(5);
    expect(held.peak).toBe(2);
    // Room again once the queue drained.
    const again = gate.run(held.work);
    await held.finish(6);
    await expect(again).resolves.toBe(6);
  });

  it('frees the turn of work that fails', async () => {
    const gate = new HashGate({ concurrency: 1, maxWaiting: 0 });
    await expect(gate.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(gate.running).toBe(0);
    await expect(gate.run(async () => 'next')).resolves.toBe('next');
  });

  it('refuses a nonsensical configuration with a ConfigError', () => {
    expect(() => new HashGate({ concurrency: 0 })).toThrow(ConfigError);
    expect(() => new HashGate({ concurrency: 1.5 })).toThrow(ConfigError);
    expect(() => new HashGate({ maxWaiting: -1 })).toThrow(ConfigError);
    expect(() => new HashGate({ retryAfterMs: 0 })).toThrow(ConfigError);
  });
});
