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

  describe('fair shares between clients', () => {
    /** Work per client that finishes only when told to, recording the order in which it started. */
    function clients() {
      const started: string[] = [];
      const releases: Array<() => void> = [];
      return {
        started,
        work: (client: string) => () => {
          started.push(client);
          return new Promise<void>((resolve) => releases.push(resolve));
        },
        /** Lets the oldest running piece of work finish, and the gate hand its turn on. */
        async finishOne() {
          releases.shift()?.();
          for (let i = 0; i < 5; i += 1) await new Promise((resolve) => setImmediate(resolve));
        },
      };
    }

    it('refuses one client beyond its share of the gate, while another client still gets in', async () => {
      // The default share: half of what the gate admits (2 running + 8 waiting), so 5.
      const gate = new HashGate({ concurrency: 2, maxWaiting: 8, retryAfterMs: 1500 });
      const held = clients();
      const hog = Array.from({ length: 10 }, () => gate.run(held.work('hog'), 'hog'));
      const outcomes = await Promise.allSettled(hog.slice(5));
      for (const outcome of outcomes) {
        expect(outcome.status).toBe('rejected');
        expect((outcome as PromiseRejectedResult).reason).toBeInstanceOf(UnavailableError);
        expect((outcome as PromiseRejectedResult).reason).toMatchObject({ code: 'ERR_UNAVAILABLE', retryAfterMs: 1500 });
      }
      expect(gate.running + gate.waiting).toBe(5);

      const newcomer = gate.run(held.work('newcomer'), 'newcomer');
      expect(gate.running + gate.waiting).toBe(6);
      while (gate.running + gate.waiting > 0) await held.finishOne();
      await Promise.all([...hog.slice(0, 5), newcomer]);
      expect(held.started.filter((client) => client === 'newcomer')).toEqual(['newcomer']);
    });

    it("hands a freed turn to the client with the fewest hashes running, so a newcomer goes next, not last", async () => {
      const gate = new HashGate({ concurrency: 2, maxWaiting: 8 });
      const held = clients();
      const runs = Array.from({ length: 5 }, () => gate.run(held.work('hog'), 'hog'));
      await new Promise((resolve) => setImmediate(resolve));
      runs.push(gate.run(held.work('newcomer'), 'newcomer'));
      expect(held.started).toEqual(['hog', 'hog']);
      await held.finishOne();
      // First come, first served would start the hog's three waiting hashes first.
      expect(held.started).toEqual(['hog', 'hog', 'newcomer']);
      while (gate.running + gate.waiting > 0) await held.finishOne();
      await Promise.all(runs);
    });

    it('takes turns among clients that wait, rather than serving them in order of arrival', async () => {
      const gate = new HashGate({ concurrency: 1, maxWaiting: 9, maxPerClient: 3 });
      const held = clients();
      const runs = ['a', 'a', 'a', 'b', 'b', 'b', 'c', 'c', 'c'].map((client) => gate.run(held.work(client), client));
      while (held.started.length < 9) await held.finishOne();
      await held.finishOne();
      await Promise.all(runs);
      expect(held.started.join('')).toBe('abcabcabc');
    });

    it('counts every caller that names no client as one client, taking turns but not held to a share', async () => {
      const gate = new HashGate({ concurrency: 1, maxWaiting: 4, maxPerClient: 1 });
      const held = clients();
      const keyless = [1, 2, 3].map(() => gate.run(held.work('-')));
      const named = gate.run(held.work('x'), 'x');
      await expect(gate.run(held.work('x'), 'x')).rejects.toBeInstanceOf(UnavailableError);
      while (gate.running + gate.waiting > 0) await held.finishOne();
      await Promise.all([...keyless, named]);
      expect(held.started).toEqual(['-', 'x', '-', '-']);
    });
  });

  it('refuses a nonsensical configuration with a ConfigError', () => {
    expect(() => new HashGate({ concurrency: 0 })).toThrow(ConfigError);
    expect(() => new HashGate({ concurrency: 1.5 })).toThrow(ConfigError);
    expect(() => new HashGate({ maxWaiting: -1 })).toThrow(ConfigError);
    expect(() => new HashGate({ retryAfterMs: 0 })).toThrow(ConfigError);
    expect(() => new HashGate({ maxPerClient: 0 })).toThrow(ConfigError);
    expect(() => new HashGate({ maxPerClient: 2.5 })).toThrow(ConfigError);
  });
});
